"""The model family: the one interface between the kinds of model and everything else, so
no caller branches on the kind; what only some kinds can do is asked with :func:`supports`
or demanded with :func:`require`. A config dict without ``kind`` is a GPT's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from gptlab.errors import ConfigError, ModelConfigError
from gptlab.model.baseline_config import BigramConfig, RecurrentConfig
from gptlab.model.config import GPTConfig

ModelConfig = Union[GPTConfig, BigramConfig, RecurrentConfig]

DEFAULT_KIND = "gpt"  # what a config dict without `kind` is

# What only some kinds can do, and how a refusal names it.
FEATURES = {
    "attention_maps": "attention maps (it has no attention)",
    "hf_export": "Hugging Face equivalent (export writes GPT-2 or GPT-NeoX)",
    "init_from": "pretrained starting point (train.init_from loads GPT weights)",
}


@dataclass(frozen=True)
class Kind:
    config_cls: type
    features: frozenset[str]


KINDS: dict[str, Kind] = {
    "gpt": Kind(GPTConfig, frozenset(FEATURES)),
    "bigram": Kind(BigramConfig, frozenset()),
    "rnn": Kind(RecurrentConfig, frozenset()),
    "lstm": Kind(RecurrentConfig, frozenset()),
    "gru": Kind(RecurrentConfig, frozenset()),
}


def kind_of(values: Mapping[str, Any]) -> str:
    """The kind a config dict names (``gpt`` when it names none); unknown kinds are one line."""
    kind = values.get("kind", DEFAULT_KIND)
    if not isinstance(kind, str) or kind not in KINDS:
        raise ModelConfigError(f"model.kind must be one of: {', '.join(KINDS)}; got {kind!r}")
    return str(kind)


def config_class(kind: str) -> type:
    return KINDS[kind].config_cls


def parse_model_config(section: Any, where: str = "model", **extra: Any) -> ModelConfig:
    """The typed config of a ``model`` section by its kind; ``extra`` adds what it lacks
    (``vocab_size``, from the dataset)."""
    from gptlab.config import to_dataclass
    from gptlab.config.sections import plain

    values = plain(section)
    if not isinstance(values, Mapping):
        raise ConfigError(f"config section '{where}' must be a mapping, got {type(values).__name__}")
    cls = config_class(kind_of(values))
    return to_dataclass(cls, values, where, **extra)


def config_from_dict(d: Mapping[str, Any]) -> ModelConfig:
    """A saved config dict (model directory, checkpoint) back as its typed config."""
    return config_class(kind_of(d)).from_dict(d)  # GPTConfig.from_dict reads a dict without kind


def build_model(config: ModelConfig) -> Any:
    """A freshly initialised ``nn.Module`` of ``config``'s kind."""
    if isinstance(config, GPTConfig):
        from gptlab.model.gpt import GPT

        return GPT(config)
    if isinstance(config, BigramConfig):
        from gptlab.model.bigram import BigramLM

        return BigramLM(config)
    from gptlab.model.recurrent import RecurrentLM

    return RecurrentLM(config)


def clean_state_dict(state: Mapping[str, Any]) -> Any:
    """A state dict without torch.compile's ``_orig_mod.`` key component (any kind)."""
    from gptlab.model.gpt import GPT

    return GPT.clean_state_dict(state)


def supports(config: Any, feature: str) -> bool:
    """Whether models of ``config``'s kind have ``feature`` (a key of :data:`FEATURES`)."""
    if feature not in FEATURES:
        raise ValueError(f"unknown model feature {feature!r}; known: {', '.join(FEATURES)}")
    return feature in KINDS[config.kind].features


def require(config: Any, feature: str, action: str) -> None:
    """Refuse ``action`` in one line unless ``config``'s kind has ``feature``."""
    if not supports(config, feature):
        able = ", ".join(k for k, v in KINDS.items() if feature in v.features)
        raise ConfigError(f"{action}: a model.kind={config.kind} model has no {FEATURES[feature]}; only {able} has")


def incremental_lm(model: Any, use_cache: bool = True, window: str = "exact", keep: float = 0.5) -> Any:
    """The model behind prefill/step/reorder, its cache the model's own (KV cache, hidden state)."""
    from gptlab.model.incremental import IncrementalLM

    return IncrementalLM(model, use_cache=use_cache, window=window, keep=keep)
