"""Serve a trained model over HTTP with MLflow's scoring server: ``python -m gptlab.serve``.

    python -m gptlab.serve                                   # the champion, http://127.0.0.1:5001
    python -m gptlab.serve port=5002 model_uri=models:/gptlab-iambic-char/3
    python -m gptlab.serve model_uri=runs:/<run id>/model

    curl -s http://127.0.0.1:5001/invocations -H 'Content-Type: application/json' \\
      -d '{"inputs": ["ROMEO:"], "params": {"max_new_tokens": 40, "temperature": 0.8}}'

Runs ``mlflow models serve --env-manager local`` on ``model_uri`` (default: the
``champion`` of ``logger.registered_model_name``) with the project's tracking store,
bound to 127.0.0.1 unless ``host`` says otherwise; prints the URL and an example
``curl``; Ctrl-C stops it. Config: ``conf/serve.yaml``. The server itself:
:mod:`gptlab.serving.server`; the request format: README, "Registry and serving".
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import to_dataclass


def settings(cfg: Any):
    from gptlab.serving.server import ServeSettings

    keys = [f.name for f in dataclasses.fields(ServeSettings)]
    return to_dataclass(ServeSettings, {k: cfg.get(k) for k in keys}, "serve")


def run(cfg: Any) -> int:
    from gptlab.serving.server import serve

    return serve(settings(cfg))


def main() -> None:
    hydra_entry(run, config_name="serve")


if __name__ == "__main__":
    main()
