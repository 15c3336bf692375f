"""Open the MLflow UI on the project's tracking store: ``python -m gptlab.ui``.

    python -m gptlab.ui                                   # http://127.0.0.1:5000
    python -m gptlab.ui --port 5001
    python -m gptlab.ui --backend-store-uri sqlite:///elsewhere/mlflow.db
    python -m gptlab.ui --host 0.0.0.0 -- --allowed-hosts myhost:5000

``mlflow ui`` on the store the train stage writes to (``logger.tracking_uri`` of
``conf/``), from any directory of the project; 127.0.0.1 only unless ``--host`` says
otherwise; arguments after ``--`` go to ``mlflow server``. Ctrl-C stops it. Details:
``docs/ui.md``; the server itself: :mod:`gptlab.tracking.server`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gptlab.tracking.server import DEFAULT_HOST, DEFAULT_PORT, UiSettings, project_tracking_uri, serve


def parse_args(argv: Sequence[str]) -> UiSettings:
    argv = list(argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    parser = argparse.ArgumentParser(
        prog="python -m gptlab.ui",
        description="Start the MLflow UI on the project's tracking store (127.0.0.1 only by default).",
        epilog="Arguments after -- go to `mlflow server` unchanged.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="interface to listen on (default: %(default)s, this machine only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="default: %(default)s")
    parser.add_argument(
        "--backend-store-uri",
        default=None,
        help="MLflow store (default: logger.tracking_uri of conf/, i.e. the train stage's store)",
    )
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (default: %(default)s)")
    args = parser.parse_args(argv)
    return UiSettings(
        backend_store_uri=args.backend_store_uri or project_tracking_uri(),
        host=args.host,
        port=args.port,
        workers=args.workers,
        extra_args=tuple(extra),
    )


def main(argv: Sequence[str] | None = None) -> None:
    from gptlab.cli.app import user_errors

    with user_errors():
        code = serve(parse_args(sys.argv[1:] if argv is None else argv))
    raise SystemExit(code)


if __name__ == "__main__":
    main()
