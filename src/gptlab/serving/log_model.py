"""The trained model as an MLflow pyfunc model, logged to its run (the publish stage's step):
the model directory as its artifact, :mod:`gptlab.serving.model_code` as its code. It loads
where gptlab is installed (``--env-manager local``: gptlab is not on PyPI).
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

MODEL_NAME = "model"  # runs:/<run_id>/model
# Logged with the model and run once when it is logged (MLflow checks that the example
# serves): short, so that the check costs a few tokens.
INPUT_EXAMPLE = (["ROMEO:"], {"max_new_tokens": 8, "decoding": "greedy"})


def pip_requirements() -> list[str]:
    """``gptlab==<installed version>`` and the torch requirement of gptlab's own metadata."""
    from packaging.requirements import Requirement

    torch = [
        str(req)
        for req in map(Requirement, metadata.requires("gptlab") or [])
        if req.name == "torch" and req.marker is None
    ]
    return [f"gptlab=={metadata.version('gptlab')}", *torch]


def signature() -> Any:
    """The model signature: a column of prompts in, a column of texts out, the params."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    from gptlab.serving.pyfunc_model import PARAMS

    return ModelSignature(
        inputs=Schema([ColSpec("string")]),
        outputs=Schema([ColSpec("string")]),
        params=ParamSchema([ParamSpec(name, kind, default, shape) for name, (kind, default, shape) in PARAMS.items()]),
    )


def log_pyfunc_model(model_dir: str | Path, tags: dict[str, str], device: str = "auto") -> Any:
    """Log ``model_dir`` to the active run (inside ``TrackingStore.active_run(run_id)``) as
    the pyfunc model ``model``; MLflow's ``ModelInfo``. ``device`` is the logged
    ``model_config``, which a loader may override (or ``GPTLAB_SERVE_DEVICE``)."""
    import mlflow

    # The models-from-code file MLflow copies into the model (and runs to check the input
    # example). Importing it only hands MLflow an unloaded model object (set_model),
    # which MLflow's logging does anyway.
    from gptlab.serving import model_code
    from gptlab.serving.pyfunc_model import MODEL_DIR_ARTIFACT

    return mlflow.pyfunc.log_model(
        name=MODEL_NAME,
        python_model=model_code.__file__,
        artifacts={MODEL_DIR_ARTIFACT: str(model_dir)},
        signature=signature(),
        input_example=INPUT_EXAMPLE,
        pip_requirements=pip_requirements(),
        model_config={"device": device},
        tags=tags,
    )
