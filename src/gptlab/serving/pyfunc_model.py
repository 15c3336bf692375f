"""The MLflow pyfunc model: prompts in, generated texts out (README, "Registry and serving").

A bad param is ``INVALID_PARAMETER_VALUE``, which MLflow's scoring server answers with HTTP
400 and the one-line reason. Imports MLflow and pandas: only code that logs or loads the
model imports this module.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from gptlab.generation.config import STRATEGIES, GenerationConfig

# The decoding defaults are GenerationConfig's, their one owner (the served model has no Hydra).
_DEFAULTS = {field.name: field.default for field in dataclasses.fields(GenerationConfig)}
# name -> (MLflow param type, default, shape): the model signature's params.
PARAMS: dict[str, tuple[str, Any, tuple[int, ...] | None]] = {
    "max_new_tokens": ("long", _DEFAULTS["max_new_tokens"], None),
    "decoding": ("string", _DEFAULTS["strategy"], None),  # greedy | sample | beam
    "temperature": ("double", _DEFAULTS["temperature"], None),
    "top_k": ("long", _DEFAULTS["top_k"], None),  # None: off
    "top_p": ("double", _DEFAULTS["top_p"], None),  # None: off
    "num_beams": ("long", _DEFAULTS["num_beams"], None),
    "seed": ("long", None, None),  # None: new text every request; an integer: reproducible
    "stop": ("string", list(_DEFAULTS["stop_strings"]), (-1,)),  # a completion is cut before the first of these
}
# One request may not ask for more: a server shared by many clients must bound its work.
MAX_NEW_TOKENS_LIMIT = 2048
MAX_BEAMS_LIMIT = 32
# Where the model runs: the environment variable wins, then the logged model_config.
DEVICE_ENV = "GPTLAB_SERVE_DEVICE"
MODEL_DIR_ARTIFACT = "model_dir"
# GenerationConfig's messages, in the names a request uses.
_RENAMES = {
    "generation.strategy": "decoding",
    "generation.stop_strings": "stop",
    "generation.": "",
    "strategy=": "decoding=",
}


def invalid(message: str) -> Exception:
    """The error MLflow's scoring server turns into HTTP 400 with ``message``."""
    from mlflow.exceptions import MlflowException

    return MlflowException.invalid_parameter_value(message)


def generation_config(params: dict[str, Any] | None) -> Any:
    """The :class:`~gptlab.generation.GenerationConfig` of one request's params (missing ones:
    their defaults, for a direct ``predict`` call); a bad value raises :func:`invalid`."""
    from gptlab.config import to_dataclass
    from gptlab.errors import ConfigError

    values = param_defaults()
    values.update({k: v for k, v in (params or {}).items() if k in PARAMS})
    decoding = values.pop("decoding")
    if decoding not in STRATEGIES:
        raise invalid(f"decoding must be one of {', '.join(STRATEGIES)}, got {decoding!r}")
    for name, limit in (("max_new_tokens", MAX_NEW_TOKENS_LIMIT), ("num_beams", MAX_BEAMS_LIMIT)):
        value = values[name]
        if isinstance(value, int) and not isinstance(value, bool) and value > limit:
            raise invalid(f"{name} must be <= {limit} on this server, got {value}")
    stop = values.pop("stop")
    values.update(strategy=decoding, stop_strings=[stop] if isinstance(stop, str) else stop, num_samples=1)
    try:
        return to_dataclass(GenerationConfig, values, "generation")
    except ConfigError as exc:
        message = str(exc)
        for old, new in _RENAMES.items():
            message = message.replace(old, new)
        raise invalid(message) from None


def prompts_of(model_input: Any) -> list[str]:
    """The prompt strings of a list, a 1-D array or Series, or a one-column DataFrame."""
    if isinstance(model_input, str):
        values: list[Any] = [model_input]
    elif isinstance(model_input, pd.DataFrame):
        if model_input.shape[1] != 1:
            raise invalid(f"the input must have one column of prompts, got {model_input.shape[1]} columns")
        values = model_input.iloc[:, 0].tolist()
    elif hasattr(model_input, "tolist"):  # a Series, a numpy array
        values = model_input.tolist()
    elif isinstance(model_input, (list, tuple)):
        values = list(model_input)
    else:
        raise invalid(f"the input must be a list of prompt strings, got {type(model_input).__name__}")
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise invalid(f"prompt {i} must be a string, got {type(value).__name__} {value!r:.40}")
    return [str(v) for v in values]


class GptlabTextGenerator(PythonModel):
    """A trained gptlab GPT behind MLflow's pyfunc interface."""

    def __init__(self) -> None:
        self.loaded: Any = None  # gptlab.checkpoint.LoadedModel, set by load_context

    def load_context(self, context: Any) -> None:
        from gptlab.checkpoint import load_model_dir
        from gptlab.runtime import resolve_device

        config = context.model_config or {}
        device = resolve_device(os.environ.get(DEVICE_ENV) or str(config.get("device", "auto")))
        self.loaded = load_model_dir(context.artifacts[MODEL_DIR_ARTIFACT], device=device)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> list[str]:
        from gptlab.errors import GptlabError
        from gptlab.generation import generate

        prompts = prompts_of(model_input)
        cfg = generation_config(params)
        try:
            completions = generate(self.loaded.model, self.loaded.tokenizer, prompts, cfg)
        except GptlabError as exc:  # e.g. a character the tokenizer refuses: the request's fault
            raise invalid(str(exc)) from None
        return [texts[0] if texts else "" for texts in completions]


def param_defaults() -> dict[str, Any]:
    """The params a request may send, with their defaults (what the README lists)."""
    return {name: default for name, (_, default, _) in PARAMS.items()}
