"""Open the MLflow UI on the project's tracking store: ``python -m gptlab.ui``.

    python -m gptlab.ui                                   # http://127.0.0.1:5000
    python -m gptlab.ui port=5002
    python -m gptlab.ui tracking_uri=sqlite:///elsewhere/mlflow.db
    python -m gptlab.ui host=0.0.0.0 'server_args=[--allowed-hosts,myhost:5000]'

``mlflow server`` on the store the train stage writes to (``logger.tracking_uri`` of
``conf/``), from any directory of the project; 127.0.0.1 only unless ``host`` says
otherwise; ``server_args`` go to ``mlflow server`` unchanged. Ctrl-C stops it. Config:
``conf/ui.yaml``. Details: ``docs/ui.md``; the server itself: :mod:`gptlab.tracking.server`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import to_dataclass
from gptlab.config.sections import plain


def settings(cfg: Any):
    """The server's settings from the composed ``conf/ui.yaml``."""
    from gptlab.tracking.server import UiSettings

    keys = [f.name for f in dataclasses.fields(UiSettings)]
    return to_dataclass(UiSettings, {k: plain(cfg.get(k)) for k in keys}, "ui")


def run(cfg: Any) -> int:
    """Serve until Ctrl-C (or SIGTERM); 0 (a server that stops by itself is an error)."""
    from gptlab.tracking.server import serve

    return serve(settings(cfg))


def main() -> None:
    hydra_entry(run, config_name="ui")


if __name__ == "__main__":
    main()
