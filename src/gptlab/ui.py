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
from dataclasses import dataclass
from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import to_dataclass
from gptlab.config.sections import plain


@dataclass(frozen=True)
class UiConfig:
    """The top-level keys of ``conf/ui.yaml``, which owns their defaults (none here);
    :class:`~gptlab.tracking.server.UiSettings` checks the values."""

    tracking_uri: str  # the store; a relative sqlite path is anchored at the project root
    host: str
    port: int
    workers: int
    server_args: tuple[str, ...]  # more arguments for `mlflow server`, unchanged


def settings(cfg: Any):
    """The server's settings from the composed ``conf/ui.yaml``."""
    from gptlab.tracking.server import UiSettings

    keys = [f.name for f in dataclasses.fields(UiConfig)]
    ui = to_dataclass(UiConfig, {k: plain(cfg.get(k)) for k in keys}, "ui")
    return UiSettings(
        backend_store_uri=ui.tracking_uri, host=ui.host, port=ui.port, workers=ui.workers, server_args=ui.server_args
    )


def run(cfg: Any) -> int:
    """Serve until Ctrl-C (or SIGTERM); 0 (a server that stops by itself is an error)."""
    from gptlab.tracking.server import serve

    return serve(settings(cfg))


def main() -> None:
    hydra_entry(run, config_name="ui")


if __name__ == "__main__":
    main()
