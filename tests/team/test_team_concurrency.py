"""Slow: a 4-job joblib sweep, all four jobs at once, logging to the team stack's MLflow
server (PostgreSQL behind it, where SQLite's single writer is the weak point): every run,
param, metric value and registered version arrives."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gptlab.sweeps.parent_run import PARENT_ROLE, PARENT_RUN_ID_TAG, ROLE_TAG
from tests.helpers import copy_built

pytestmark = pytest.mark.slow

LRS = ("1e-3", "2e-3", "3e-3", "4e-3")
SWEEP = ("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=4", "experiment=smoke", "data=file",
         "data.path=corpus.txt", "train.sample_every_n_val=0", "trainer.enable_progress_bar=false",
         "trainer.max_steps=10", "trainer.val_check_interval=5", "trainer.log_every_n_steps=2",
         "logger=team", "logger.experiment_name=team-sweep", "logger.registered_model_name=team-sweep-model",
         f"optim.lr={','.join(LRS)}")  # fmt: skip


def job_dirs(root: Path) -> list[Path]:
    return sorted(p.parent.parent for p in root.glob("multirun/train/*/*/reports/train.json"))


def loss_steps(job: Path) -> list[int]:
    with open(job / "reports/plots/train_loss.csv", newline="") as f:
        return [int(row[0]) for row in list(csv.reader(f))[1:]]


def test_four_parallel_jobs_lose_nothing_on_the_postgresql_backed_server(team_stack, built_data, tmp_path, mlflow_as):
    project = copy_built(built_data, tmp_path)
    # Four trainings and the server share the 2-core runner: requests may take longer than
    # gptlab's 5 s default (what is checked here is that nothing is lost, not latency).
    env = dict(team_stack.env("alice"), MLFLOW_HTTP_REQUEST_TIMEOUT="60")
    res = subprocess.run([sys.executable, "-m", "gptlab.train", *SWEEP], cwd=project, env=env,
                         capture_output=True, text=True, timeout=900)  # fmt: skip
    assert res.returncode == 0, res.stderr[-4000:]

    jobs = job_dirs(project)
    assert len(jobs) == 4
    client = mlflow_as("alice")
    exp = client.get_experiment_by_name("team-sweep")
    runs = client.search_runs([exp.experiment_id])
    children = {r.info.run_id: r for r in runs if r.data.tags.get(ROLE_TAG) != PARENT_ROLE}
    (parent,) = [r for r in runs if r.data.tags.get(ROLE_TAG) == PARENT_ROLE]
    assert len(children) == 4 and parent.info.status == "FINISHED"

    params_per_run = set()
    for job in jobs:
        run_id = json.loads((job / "model/config.json").read_text())["mlflow"]["run_id"]
        run = children[run_id]  # each job's own run, none lost or shared
        assert run.info.status == "FINISHED"
        assert run.data.tags[PARENT_RUN_ID_TAG] == parent.info.run_id
        params_per_run.add(len(run.data.params))
        # every metric value the job logged arrived: its whole loss curve, step by step
        assert sorted(m.step for m in client.get_metric_history(run_id, "train/loss")) == loss_steps(job)
        assert len(loss_steps(job)) == 10 // 2
        assert "eval/val_bits_per_char" in run.data.metrics
    assert len(params_per_run) == 1 and params_per_run.pop() > 50  # the same full config for every job
    assert sorted(float(r.data.params["optim.lr"]) for r in children.values()) == sorted(map(float, LRS))

    # the four registrations, made at once, are four versions; the champion is one of them
    versions = client.search_model_versions("name='team-sweep-model'")
    assert sorted(v.run_id for v in versions) == sorted(children)
    champion = client.get_model_version_by_alias("team-sweep-model", "champion")
    assert champion.run_id in children
