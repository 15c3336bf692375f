"""Hydra entry points for the stages, with one-line errors for user mistakes.

Each stage module has a plain function ``run(cfg) -> result`` that tests call directly,
and a ``main()`` that only hands it to :func:`hydra_entry`.

Config lookup: ``$GPTLAB_CONF_DIR`` if set, else ``./conf`` when run from a project
checkout, else the ``conf/`` of the source tree the package was installed from.

Every stage and tool takes Hydra's own command line: ``key=value`` overrides, ``-m`` for
a sweep, and Hydra's flags. dvc.yaml runs each stage on the ``params.yaml`` that DVC
composes from ``conf/`` and tracks (that is how ``dvc exp run -S key=value`` reaches the
stages) with Hydra's flags alone: ``--config-dir . --config-name params`` makes it the
primary config, ``hydra.run.dir=. hydra.output_subdir=null hydra/job_logging=stdout``
keeps a stage to the outputs it declares.
"""

from __future__ import annotations

import contextlib
import functools
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


def hydra_entry(task: Callable[[Any], Any], config_name: str = "config") -> None:
    """Run ``task(cfg)`` under ``@hydra.main`` with gptlab's config directory.

    Hydra names the job after the function it runs, unwrapping decorators: the wrapper
    below keeps ``task`` as its ``__wrapped__``, so the job is named after the stage's
    own module (``train`` for ``python -m gptlab.train``) and run and sweep directories
    read ``outputs/train/...``, ``multirun/train/...``.
    """
    import hydra

    @functools.wraps(task)
    def _task(cfg: Any) -> Any:
        with user_errors():
            return task(cfg)

    hydra.main(config_path=str(conf_dir()), config_name=config_name, version_base="1.3")(_task)()
