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


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn a :class:`GptlabError` into ``error: message`` on stderr and exit code 2."""
    try:
        yield
    except GptlabError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        raise SystemExit(130) from None


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
