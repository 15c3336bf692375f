"""Serve a trained model over HTTP with MLflow's scoring server: ``python -m gptlab.serve``.

    python -m gptlab.serve                                   # the champion, http://127.0.0.1:5001
    python -m gptlab.serve port=5002 model_uri=models:/gptlab-iambic-char/3
    python -m gptlab.serve model_uri=runs:/<run id>/model

``mlflow models serve`` on ``model_uri`` with the project's store, on 127.0.0.1 unless
``host`` says otherwise. Config: ``conf/serve.yaml``; requests: README, "Registry and serving".
"""

from __future__ import annotations

from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config.sections import tool_settings


def settings(cfg: Any):
    from gptlab.serving.server import ServeSettings

    return tool_settings(ServeSettings, cfg, "serve")


def run(cfg: Any) -> int:
    from gptlab.serving.server import serve

    return serve(settings(cfg))


def main() -> None:
    hydra_entry(run, config_name="serve")


if __name__ == "__main__":
    main()
