"""DDP inside a sweep: workers that run this job, and a clean slate for the next job."""

from __future__ import annotations

import contextlib
import os
import sys

from gptlab.config import PathsConfig
from gptlab.sweeps.job import SweepJob

# Hydra's flags that say where the config is: a worker must compose the same config.
_CONFIG_FLAGS = ("--config-dir", "--config-name", "--config-path", "-cd", "-cn", "-cp")
_PATH_KEYS = ("paths.train_dir", "paths.model_dir", "paths.reports_dir")


def job_argv(argv: list[str], job: SweepJob, paths: PathsConfig) -> list[str]:
    """The command line that runs *this job* alone, with its own directories.

    Lightning starts DDP ranks > 0 by re-running ``sys.argv``; inside a sweep that holds
    ``-m`` and the sweep lists, so each worker would start a sweep of its own (a known
    failure of Hydra + Lightning).
    """
    keep: list[str] = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in _CONFIG_FLAGS and i + 1 < len(argv):
            keep += [a, argv[i + 1]]
            i += 2
            continue
        if a.startswith(("--config-dir=", "--config-name=", "--config-path=")):
            keep.append(a)
        i += 1
    task = [o for o in job.task_overrides if not o.startswith(_PATH_KEYS)]
    paths_overrides = [f"{key}={getattr(paths, key.split('.')[1])}" for key in _PATH_KEYS]
    return [argv[0], *keep, *task, *paths_overrides]


_DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE", "RANK", "GROUP_RANK")


@contextlib.contextmanager
def ddp_job(job: SweepJob, paths: PathsConfig):
    """Run one DDP job of a sweep in this process, and undo what it leaves behind.

    Lightning sets rank variables in ``os.environ`` and keeps the process group; the
    next job in the same process would then believe it is an already-launched worker
    and wait for peers that never come.
    """
    sys.argv = job_argv(sys.argv, job, paths)
    before = {k: os.environ.get(k) for k in _DDP_ENV}
    try:
        yield
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
