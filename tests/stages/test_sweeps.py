"""Hydra sweeps of the train stage: one MLflow run and one directory per job, nested under
one MLflow parent run per sweep that records the best job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gptlab.sweeps.parent_run import BEST_RUN_TAG, PARENT_ROLE, PARENT_RUN_ID_TAG, ROLE_TAG
from tests.helpers import REPO, copy_built, new_mlflow_store

FAST = ("experiment=smoke", "data=file", "data.path=corpus.txt", "train.sample_every_n_val=0",
        "trainer.enable_progress_bar=false", "trainer.max_steps=4", "trainer.val_check_interval=2")


@pytest.fixture
def built(built_data, tmp_path, tmp_path_factory) -> Path:
    """Built data and an empty MLflow store where the train stage's default URI points
    (sqlite:///mlflow.db): the sweep's process and its jobs need not make its tables."""
    copy_built(built_data, tmp_path)
    new_mlflow_store(tmp_path, tmp_path_factory)
    return tmp_path


def _train(args, cwd, env, timeout=900, ok=True):
    res = subprocess.run([sys.executable, "-m", "gptlab.train", *args], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=timeout)
    assert (res.returncode == 0) == ok, res.stderr[-4000:]
    return res


def _all_runs(root: Path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{root}/mlflow.db")
    exp = client.get_experiment_by_name("gptlab")
    return client.search_runs([exp.experiment_id]) if exp else []


def _runs(root: Path):
    """The jobs' runs (the sweeps' parent runs left out)."""
    return [r for r in _all_runs(root) if r.data.tags.get(ROLE_TAG) != PARENT_ROLE]


def _parent(root: Path):
    """The one sweep's parent run, after checking that every job's run is nested under it
    with a name of its own."""
    (parent,) = [r for r in _all_runs(root) if r.data.tags.get(ROLE_TAG) == PARENT_ROLE]
    runs = _runs(root)
    assert {r.data.tags[PARENT_RUN_ID_TAG] for r in runs} == {parent.info.run_id}
    assert len({r.info.run_name for r in runs}) == len(runs)
    assert {r.data.tags["sweep_id"] for r in runs} == {parent.data.tags["sweep_id"]}
    return parent


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
    # one parent run: the children named by the swept value, the best one (whole-split
    # validation loss, the default objective) recorded when the sweep ended
    parent = _parent(built)
    assert parent.info.status == "FINISHED"
    assert sorted(r.info.run_name for r in runs) == ["n_layer=1", "n_layer=2"]
    assert parent.data.params["sweep.overrides"].endswith("model.n_layer=1,2")
    best = min(runs, key=lambda r: r.data.metrics["eval/val_loss"])
    assert parent.data.tags[BEST_RUN_TAG] == best.info.run_id
    assert parent.data.metrics["sweep/best_eval_val_loss"] == pytest.approx(best.data.metrics["eval/val_loss"])
    jobs = _job_dirs(built)
    assert len(jobs) == 2
    for job in jobs:
        assert (job / "model/model.safetensors").is_file()
        assert "val" in json.loads((job / "reports/metrics.json").read_text())
        assert json.loads((job / "reports/publish.json").read_text())["version"]  # published, as the stage does
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
    parent = _parent(built)
    assert parent.data.params["sweep.objective"] == "val_loss" and parent.data.params["sweep.sweeper"] == "OptunaSweeper"
    assert parent.data.metrics["sweep/best_val_loss"] == pytest.approx(best["best_value"], rel=1e-6)
    # each child is named by the values Optuna gave the searched keys
    assert all(r.info.run_name.startswith("lr=") and ",n_layer=" in r.info.run_name for r in runs)


@pytest.mark.slow
def test_parallel_joblib_jobs_lose_no_mlflow_run(built_data, tmp_path, subprocess_env):
    """8 jobs, 2 at a time, against one fresh SQLite store: no store file at the start
    (the sweep makes its tables), unlike the other tests here."""
    built = copy_built(built_data, tmp_path)
    assert not (built / "mlflow.db").exists()
    _train(["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *FAST,
            "model.n_layer=1,2", "optim.lr=1e-3,2e-3,3e-3,4e-3"], built, subprocess_env)
    runs = _runs(built)
    assert len(runs) == 8
    assert all(r.info.status == "FINISHED" and "val/loss" in r.data.metrics for r in runs)
    assert len(_job_dirs(built)) == 8
    # the workers are other processes: they found the parent through the sweep directory
    parent = _parent(built)
    assert parent.info.status == "FINISHED" and parent.data.params["sweep.launcher"] == "JoblibLauncher"


@pytest.mark.slow
def test_a_failing_job_fails_its_own_run_only(built, subprocess_env):
    """Two jobs, two at a time: one raises mid-training. Its run is FAILED, the other one
    finishes and is the sweep's best; the parent ends FAILED with the sweep (exit code 1)."""
    env = {**subprocess_env, "PYTHONPATH": f"{REPO / 'tests/sweeps'}:{subprocess_env['PYTHONPATH']}"}
    _train(["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *FAST,
            "train.extra_callbacks=[],[{_target_:failing_callback.RaiseAtStep,step:2}]"], built, env, ok=False)
    runs = {r.data.tags["sweep_job"]: r for r in _runs(built)}
    assert {num: r.info.status for num, r in runs.items()} == {"0": "FINISHED", "1": "FAILED"}
    parent = _parent(built)
    assert parent.info.status == "FAILED" and parent.data.tags["sweep.failed_jobs"] == "1"
    assert parent.data.tags[BEST_RUN_TAG] == runs["0"].info.run_id


@pytest.mark.slow
def test_ddp_inside_a_sweep_does_not_duplicate_jobs(built, subprocess_env):
    _train(["-m", *FAST, "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp",
            "model.n_layer=1,2"], built, subprocess_env)
    runs = _runs(built)
    assert len(runs) == 2
    jobs = _job_dirs(built)
    assert len(jobs) == 2
    assert not list(built.glob("multirun/train/*/*/*/reports"))  # no nested sweeps
    # each job's second rank ran (started from the job's saved config) and trained with it
    assert [json.loads((job / "reports/train.json").read_text())["world_size"] for job in jobs] == [2, 2]
