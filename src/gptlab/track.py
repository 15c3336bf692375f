"""Send the MLflow records a training run could not send: ``python -m gptlab.track``.

    python -m gptlab.track                                        # every file in .cache/gptlab/mlflow-outbox/
    python -m gptlab.track pending=.cache/gptlab/mlflow-outbox/RUN.jsonl
    python -m gptlab.track tracking_uri=http://user:pw@host:5000

Sends each kept file, in order, to the URI it records (or ``tracking_uri``: credentials are
never written to it) and removes it once sent. Config: ``conf/track.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config.sections import tool_settings


@dataclass(frozen=True)
class TrackConfig:
    """The top-level keys of ``conf/track.yaml``, which owns their defaults (none here)."""

    pending: str | None  # a kept file or a directory of them; None: the project's outbox directory
    tracking_uri: str | None  # None: the URI each file records


def settings(cfg: Any) -> TrackConfig:
    return tool_settings(TrackConfig, cfg, "track")


def run(cfg: Any) -> int:
    """Send what is kept; the number of operations sent."""
    from gptlab.tracking.outbox import OUTBOX_DIR, sync_files
    from gptlab.tracking.uri import project_root

    s = settings(cfg)
    pending = s.pending or project_root() / OUTBOX_DIR
    if s.pending is None and not pending.is_dir():
        print(f"nothing to send: {pending} does not exist", flush=True)
        return 0
    result = sync_files([pending], s.tracking_uri)
    print(f"sent {result.sent} pending MLflow operations from {len(result.files_done)} file(s)", flush=True)
    return result.sent


def main() -> None:
    hydra_entry(run, config_name="track")


if __name__ == "__main__":
    main()
