"""Hydra sweeps of the train stage: one MLflow run and one directory per job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import copy_built

FAST = ("experiment=smoke", "data=file", "data.path=corpus.txt", "train.sample_every_n_val=0",
        "trainer.enable_progress_bar=false", "trainer.max_steps=4", "trainer.val_check_interval=2")


@pytest.fixture
def built(built_data, tmp_path) -> Path:
    return copy_built(built_data, tmp_path)


def _train(args, cwd, env, timeout=900):
    res = subprocess.run([sys.executable, "-m", "gptlab.train", *args], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stderr[-4000:]
    return res


def _runs(root: Path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{root}/mlflow.db")
    exp = client.get_experiment_by_name("gptlab")
    return client.search_runs([exp.experiment_id]) if exp else []


def _job_dirs(root: Path) -> list[Path]:
    return sorted(p.parent.parent for p in root.glob("multirun/train/*/*/reports/train.json"))


@pytest.mark.slow
def test_multirun_gives_one_run_and_one_directory_per_job(built, subprocess_env):
    _train(["-m", *FAST, "model.n_layer=1,2"], built, subprocess_env)
    runs = _runs(built)
    assert len(runs) == 2
    assert {r.data.params["model.n_layer"] for r in runs} == {"1", "2"}
    # each job scored the whole validation split itself
    assert all(r.data.metrics["eval/val_bits_per_char"] > 0 for r in runs)
    assert len({r.data.tags["sweep_id"] for r in runs}) == 1
    jobs = _job_dirs(built)
    assert len(jobs) == 2
    for job in jobs:
        assert (job / "model/model.safetensors").is_file()
        assert "val" in json.loads((job / "reports/metrics.json").read_text())
        assert (job / "train/checkpoints/last.ckpt").is_file()
    assert not (built / "artifacts/model").exists()  # the sweep did not touch the pipeline's model


@pytest.mark.slow
def test_optuna_search_records_the_best_trial(built, subprocess_env):
    _train(["hparams_search=optuna", *FAST, "hydra.sweeper.n_trials=3"], built, subprocess_env)
    (results,) = built.glob("multirun/train/*/optimization_results.yaml")
    best = yaml.safe_load(results.read_text())
    runs = _runs(built)
    assert len(runs) == 3
    assert best["best_value"] == pytest.approx(min(r.data.metrics["val/loss"] for r in runs), rel=1e-6)


@pytest.mark.slow
def test_parallel_joblib_jobs_lose_no_mlflow_run(built, subprocess_env):
    """8 jobs, 2 at a time, against one fresh SQLite store."""
    _train(["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *FAST,
            "model.n_layer=1,2", "optim.lr=1e-3,2e-3,3e-3,4e-3"], built, subprocess_env)
    runs = _runs(built)
    assert len(runs) == 8
    assert all(r.info.status == "FINISHED" and "val/loss" in r.data.metrics for r in runs)
    assert len(_job_dirs(built)) == 8


@pytest.mark.slow
def test_ddp_inside_a_sweep_does_not_duplicate_jobs(built, subprocess_env):
    _train(["-m", *FAST, "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp",
            "model.n_layer=1,2"], built, subprocess_env)
    runs = _runs(built)
    assert len(runs) == 2
    assert len(_job_dirs(built)) == 2
    assert not list(built.glob("multirun/train/*/*/*/reports"))  # no nested sweeps
