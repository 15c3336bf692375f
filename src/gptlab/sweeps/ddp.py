"""DDP inside a sweep: workers that run this job, and a clean slate for the next job."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from gptlab.config import PathsConfig
from gptlab.errors import ConfigError
from gptlab.sweeps.job import SweepJob

_PATH_KEYS = ("train_dir", "model_dir", "reports_dir")


def worker_argv(program: str, job: SweepJob, paths: PathsConfig) -> list[str]:
    """The job's DDP workers' command line: its saved ``.hydra/config.yaml`` plus its
    directories. Lightning re-runs ``sys.argv`` for ranks > 0, and a sweep's would start a
    sweep in every worker."""
    if job.saved_config is None or not job.saved_config.is_file():
        raise ConfigError(
            "DDP inside a sweep starts its workers from the job's saved config, and this sweep "
            "saves none: leave hydra.output_subdir set (default .hydra)"
        )
    config_dir: Path = job.saved_config.resolve().parent
    return [
        program,
        f"--config-path={config_dir}",
        f"--config-name={job.saved_config.stem}",
        *(f"paths.{key}={getattr(paths, key)}" for key in _PATH_KEYS),
    ]


_DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE", "RANK", "GROUP_RANK")


@contextlib.contextmanager
def ddp_job(job: SweepJob, paths: PathsConfig):
    """One DDP job with :func:`worker_argv` as ``sys.argv``, then undo the rank variables and
    process group it leaves (the next job would wait for peers that never come)."""
    argv = sys.argv
    sys.argv = worker_argv(argv[0], job, paths)
    before = {k: os.environ.get(k) for k in _DDP_ENV}
    try:
        yield
    finally:
        import torch.distributed as dist

        sys.argv = argv
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
