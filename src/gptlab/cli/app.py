"""Hydra entry points for the stages (``main()`` hands ``run(cfg)`` to :func:`hydra_entry`),
with one-line errors for user mistakes."""

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
    """``$GPTLAB_CONF_DIR``, else ``./conf`` in a checkout, else the source tree's ``conf/``."""
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
    """The one-line error for ``exc`` if the user or the machine caused it (gptlab's own, the
    OS refusing a file, a tracking store that is no database), else None (a bug)."""
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
    """An expected failure becomes ``error: message`` on stderr and its exit code; Ctrl-C
    exits 130; ``GPTLAB_DEBUG=1`` prints the traceback first; bugs propagate."""
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
    """Run ``task(cfg)`` under ``@hydra.main`` with gptlab's config directory; ``wraps`` keeps
    the job named after the stage's module (``multirun/train/...``)."""
    import hydra

    @functools.wraps(task)
    def _task(cfg: Any) -> Any:
        with user_errors():
            return task(cfg)

    hydra.main(config_path=str(conf_dir()), config_name=config_name, version_base="1.3")(_task)()
