"""Open the MLflow UI on the project's tracking store: ``python -m gptlab.ui``.

    python -m gptlab.ui                                   # http://127.0.0.1:5000
    python -m gptlab.ui port=5002
    python -m gptlab.ui tracking_uri=sqlite:///elsewhere/mlflow.db
    python -m gptlab.ui host=0.0.0.0 'server_args=[--allowed-hosts,myhost:5000]'

``mlflow server`` on the store the train stage writes to, on 127.0.0.1 unless ``host`` says
otherwise, until Ctrl-C. Config: ``conf/ui.yaml``; details: ``docs/ui.md``.
"""

from __future__ import annotations

from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config.sections import tool_settings


def settings(cfg: Any):
    """The server's settings from the composed ``conf/ui.yaml``."""
    from gptlab.tracking.server import UiSettings

    return tool_settings(UiSettings, cfg, "ui")


def run(cfg: Any) -> int:
    """Serve until Ctrl-C (or SIGTERM); 0 (a server that stops by itself is an error)."""
    from gptlab.tracking.server import serve

    return serve(settings(cfg))


def main() -> None:
    hydra_entry(run, config_name="ui")


if __name__ == "__main__":
    main()
