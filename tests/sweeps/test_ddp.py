"""DDP inside a sweep: the workers run the job's saved config, and the next job starts clean."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from gptlab.config import PathsConfig, to_dataclass
from gptlab.errors import ConfigError
from gptlab.sweeps import SweepJob, job_paths
from gptlab.sweeps.ddp import ddp_job, worker_argv
from tests.helpers import compose

SWEEP_ARGV = ["/x/train.py", "-m", "model.n_layer=1,2", "trainer.strategy=ddp"]


def _job(tmp_path: Path, *overrides: str) -> tuple[SweepJob, PathsConfig, object]:
    """A sweep job whose config Hydra saved, as it does before the job starts."""
    from omegaconf import OmegaConf

    cfg = compose(*overrides)
    out = tmp_path / "multirun/train/t/1"
    (out / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, out / ".hydra/config.yaml")
    job = SweepJob(out_dir=out, sweep_id=str(out.parent), num=1, task_overrides=tuple(overrides),
                   saved_config=out / ".hydra/config.yaml")  # fmt: skip
    return job, job_paths(to_dataclass(PathsConfig, cfg.paths, "paths"), out), cfg


def test_workers_compose_the_job_s_saved_config_not_the_sweep_s_command_line(tmp_path):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    job, paths, cfg = _job(tmp_path, "model.n_layer=2", "trainer.strategy=ddp")
    argv = worker_argv(SWEEP_ARGV[0], job, paths)
    assert argv[0] == SWEEP_ARGV[0] and "-m" not in argv and not any("," in a for a in argv)
    flags = dict(a.split("=", 1) for a in argv[1:3])
    # what Hydra does with the worker's flags: the saved config as the primary config, the job's directories on top
    with initialize_config_dir(flags["--config-path"], version_base="1.3"):
        worker = hydra_compose(flags["--config-name"], overrides=argv[3:])
    assert worker.model.n_layer == 2 and worker.trainer.strategy == "ddp"
    assert worker.paths.model_dir == str(tmp_path / "multirun/train/t/1/model")
    worker_rest, job_rest = ({k: v for k, v in OmegaConf.to_container(c).items() if k != "paths"} for c in (worker, cfg))
    assert worker_rest == job_rest  # the rest is the job's config as composed, interpolations included


def test_a_sweep_that_saves_no_config_is_one_line(tmp_path):
    job, paths, _ = _job(tmp_path)
    with pytest.raises(ConfigError, match="hydra.output_subdir"):
        worker_argv("train.py", SweepJob(job.out_dir, job.sweep_id, 1, (), saved_config=None), paths)


def test_ddp_job_restores_the_command_line_and_the_rank_variables(tmp_path, monkeypatch):
    job, paths, _ = _job(tmp_path)
    monkeypatch.setattr(sys, "argv", list(SWEEP_ARGV))
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    with ddp_job(job, paths):
        assert sys.argv == worker_argv(SWEEP_ARGV[0], job, paths)  # what Lightning re-runs for rank 1
        os.environ["LOCAL_RANK"] = "0"  # as Lightning's launcher leaves it
    assert sys.argv == SWEEP_ARGV
    assert "LOCAL_RANK" not in os.environ
