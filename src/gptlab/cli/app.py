"""Hydra entry points for the stages, with one-line errors for user mistakes.

Each stage module has a plain function ``run(cfg) -> result`` that tests call directly,
and a ``main()`` that only hands it to :func:`hydra_entry`.

Config lookup: ``$GPTLAB_CONF_DIR`` if set, else ``./conf`` when run from a project
checkout, else the ``conf/`` of the source tree the package was installed from.

``--params FILE`` (used by dvc.yaml) runs the stage on an already composed file, such
as the ``params.yaml`` that DVC composes from ``conf/`` and tracks: that is how
``dvc exp run -S key=value`` reaches the stages.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gptlab.errors import GptlabError

log = logging.getLogger("gptlab")


def conf_dir() -> Path:
    env = os.environ.get("GPTLAB_CONF_DIR")
    if env:
        return Path(env).resolve()
    local = Path.cwd() / "conf"
    if (local / "config.yaml").is_file():
        return local.resolve()
    return (Path(__file__).resolve().parents[3] / "conf").resolve()


# Either one shows the traceback behind a one-line error (the exit code stays the same).
DEBUG_ENV = ("GPTLAB_DEBUG", "HYDRA_FULL_ERROR")


def debug_enabled() -> bool:
    return any(os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no") for name in DEBUG_ENV)


def expected_failure(exc: BaseException) -> GptlabError | None:
    """The one-line error for ``exc`` if the user or the machine caused it, else None (a bug).

    Besides gptlab's own errors: the operating system refusing to store or read a file
    (disk full, quota, file too large, read-only filesystem, permission denied, I/O
    error) and a tracking store that is not a database. Anything else keeps its traceback.
    """
    from gptlab.errors import StoreError
    from gptlab.io.atomic import storage_error

    if isinstance(exc, GptlabError):
        return exc
    if isinstance(exc, OSError):
        return storage_error(exc, None)
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None and isinstance(exc, sa_exc.DatabaseError):
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return StoreError(f"the MLflow store cannot be used: {reason} (check logger.tracking_uri and the file it names)")
    return None


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn an expected failure into ``error: message`` on stderr and its exit code.

    Expected: a :class:`GptlabError` (exit 2, or the class's own code) and the failures of
    :func:`expected_failure`; Ctrl-C exits 130. ``GPTLAB_DEBUG=1`` (or
    ``HYDRA_FULL_ERROR=1``) prints the traceback first. Other exceptions are bugs and
    propagate with their traceback.
    """
    try:
        yield
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        raise SystemExit(130) from None
    except Exception as exc:
        err = expected_failure(exc)
        if err is None:
            raise
        if debug_enabled():
            traceback.print_exc()
        print(f"error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(err.exit_code) from None


def _rewrite_params_flag(argv: list[str]) -> list[str]:
    """``--params FILE`` -> Hydra flags that load FILE as the primary config.

    No ``.hydra/`` output folder and logs to stdout only: a DVC stage writes exactly
    the outputs it declares.
    """
    if "--params" not in argv:
        return argv
    i = argv.index("--params")
    if i + 1 >= len(argv):
        raise SystemExit("error: --params needs a file, e.g. --params params.yaml")
    params = Path(argv[i + 1]).resolve()
    if not params.is_file():
        raise SystemExit(f"error: params file not found: {argv[i + 1]}")
    rest = argv[:i] + argv[i + 2 :]
    return [
        rest[0],
        "--config-dir",
        str(params.parent),
        "--config-name",
        params.stem,
        *rest[1:],
        "hydra.output_subdir=null",
        "hydra.run.dir=.",
        "hydra/job_logging=stdout",
    ]


def hydra_entry(task: Callable[[Any], Any], config_name: str = "config") -> None:
    """Run ``task(cfg)`` under ``@hydra.main`` with gptlab's config directory."""
    import hydra

    sys.argv = _rewrite_params_flag(sys.argv)
    # Name the job after the stage (not after this module), so run and sweep
    # directories read outputs/train/..., multirun/train/...
    module = sys.modules.get(task.__module__)
    spec = getattr(module, "__spec__", None)  # `python -m gptlab.train` runs as __main__
    stage = (spec.name if spec is not None else task.__module__).rsplit(".", 1)[-1]
    if not any(a.startswith("hydra.job.name=") for a in sys.argv[1:]):
        sys.argv = [*sys.argv, f"hydra.job.name={stage}"]

    def _task(cfg: Any) -> Any:
        with user_errors():
            return task(cfg)

    hydra.main(config_path=str(conf_dir()), config_name=config_name, version_base="1.3")(_task)()
