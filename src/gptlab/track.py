"""Send the MLflow records a training run could not send: ``python -m gptlab.track sync``.

    python -m gptlab.track sync                               # every file in .cache/gptlab/mlflow-outbox/
    python -m gptlab.track sync .cache/gptlab/mlflow-outbox/RUN.jsonl
    python -m gptlab.track sync --tracking-uri http://user:pw@host:5000

When the tracking server is away during training, training goes on and what it could
not send (metrics, params, artifacts, the run's end, the MLflow model) is kept in
``<project>/.cache/gptlab/mlflow-outbox/``; the train stage's last line names the file. This
sends it, in order, to the URI the file records (or ``--tracking-uri``; credentials are
never written to the file) and removes each file once sent. The library side:
:mod:`gptlab.tracking.outbox`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    from gptlab.cli.app import user_errors
    from gptlab.tracking.outbox import OUTBOX_DIR, sync_files
    from gptlab.tracking.uri import project_root

    parser = argparse.ArgumentParser(prog="python -m gptlab.track", description="MLflow tracking chores.")
    commands = parser.add_subparsers(dest="command", required=True)
    sync = commands.add_parser("sync", help="send the records kept while the tracking server was away")
    sync.add_argument("paths", nargs="*", help="pending files or directories (default: <project>/.cache/gptlab/mlflow-outbox)")
    sync.add_argument("--tracking-uri", default=None, help="where to send them (default: the URI each file records)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with user_errors():
        default = project_root() / OUTBOX_DIR
        if not args.paths and not default.is_dir():
            print(f"nothing to send: {default} does not exist", flush=True)
            return
        result = sync_files(args.paths or [default], args.tracking_uri)
        print(f"sent {result.sent} pending MLflow operations from {len(result.files_done)} file(s)", flush=True)


if __name__ == "__main__":
    main()
