"""Log the trained model to its MLflow run as a pyfunc model, and register a version of it.

    publish_model(logger_cfg, run_id, "artifacts/model")   # what the train stage calls

The logged model (``runs:/<run_id>/model``) is MLflow's own format: ``MLmodel`` with the
signature (a column of prompt strings in, a column of texts out, the params of
:data:`gptlab.serving.pyfunc_model.PARAMS`), an input example, the pip requirements
(``gptlab==<version>`` and the torch range gptlab itself declares), the model
directory as its artifact and :mod:`gptlab.serving.model_code` as its code.
``mlflow.pyfunc.load_model`` and ``mlflow models serve --env-manager local`` load it
in any process where gptlab is installed. (gptlab is not on PyPI, so MLflow's other
environment managers, which install the requirements into a fresh environment,
cannot rebuild it.)
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from gptlab.tracking.config import LoggerConfig

log = logging.getLogger(__name__)

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


@contextlib.contextmanager
def tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's process-wide tracking URI set to ``uri`` for the ``with`` body, then restored.

    MLflow's fluent API (``start_run``, ``pyfunc.log_model``) reads the global URI;
    everywhere else gptlab passes the store explicitly, and that should stay so.
    """
    import mlflow
    from mlflow.tracking import is_tracking_uri_set

    previous = mlflow.get_tracking_uri() if is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)


def log_pyfunc_model(store_uri: str, run_id: str, model_dir: str | Path, device: str = "auto") -> Any:
    """Log ``model_dir`` to run ``run_id`` as the pyfunc model ``model``; MLflow's ``ModelInfo``.

    ``device`` is the logged ``model_config`` (``auto``: CUDA when visible); a loader
    may override it (``model_config={"device": "cpu"}``, or ``GPTLAB_SERVE_DEVICE``).
    """
    import mlflow

    # The models-from-code file MLflow copies into the model. Importing it only hands
    # MLflow an unloaded model object (set_model), which MLflow's logging does anyway.
    from gptlab.serving import model_code
    from gptlab.serving.pyfunc_model import MODEL_DIR_ARTIFACT

    # pyfunc.log_model logs to the active run: the training run, resumed for the call
    # (it ends FINISHED, as the train stage then marks it anyway).
    with tracking_uri(store_uri), mlflow.start_run(run_id=run_id):
        return mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=model_code.__file__,
            artifacts={MODEL_DIR_ARTIFACT: str(model_dir)},
            signature=signature(),
            input_example=INPUT_EXAMPLE,
            pip_requirements=pip_requirements(),
            model_config={"device": device},
        )


def publish_model(logger_cfg: LoggerConfig, run_id: str, model_dir: str | Path) -> Any:
    """The train stage's last MLflow step: log the pyfunc model, register a new version of
    ``logger_cfg.registered_model_name`` from it (unless that is null); the version or None.

    Whether the version becomes the ``champion`` is the evaluate stage's decision
    (:func:`gptlab.tracking.registry.promote_run_versions`).
    """
    from gptlab.tracking.registry import register_version

    info = log_pyfunc_model(logger_cfg.tracking_uri, run_id, model_dir)
    log.info("logged the MLflow model runs:/%s/%s (%s)", run_id, MODEL_NAME, info.model_uri)
    name = logger_cfg.registered_model_name
    if not name:
        log.info("model registration is off (logger.registered_model_name is null)")
        return None
    version = register_version(logger_cfg.tracking_uri, name, info.model_uri, run_id, model_id=info.model_id)
    log.info("registered %s version %s (the evaluate stage decides whether it becomes the champion)",
             name, version.version)  # fmt: skip
    return version
