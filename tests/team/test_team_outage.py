"""Slow: the tracking outage of tests/faults/test_tracking_outage.py, against the team
stack's MLflow server (logins, PostgreSQL, proxied artifacts): its MLflow server is stopped
under a training run and started again; training goes on and nothing is lost."""

from __future__ import annotations

import os

import pytest

from gptlab.team import mlflow_server
from gptlab.team.layout import Layout
from tests.helpers import copy_built
from tests.faults.conftest import HERE as FAULTS
from tests.faults.test_tracking_outage import local_steps, logged_steps, pace, run_of, train_popen, wait_for

pytestmark = pytest.mark.slow


def test_the_team_server_stopped_and_restarted_mid_run_loses_nothing(team_stack, built_data, tmp_path, mlflow_as):
    project = copy_built(built_data, tmp_path)
    marks = project / "marks"
    marks.mkdir()
    env = team_stack.env("alice")
    env["PYTHONPATH"] = f"{FAULTS}{os.pathsep}{env['PYTHONPATH']}"
    # 10 steps with the server up, 40 without it, then it is back for the last 10.
    proc = train_popen(project, env, "logger=team", "logger.experiment_name=team-outage", "trainer.max_steps=60",
                       "trainer.val_check_interval=25", "trainer.log_every_n_steps=10",
                       pace(marks, step_s=0.05, at=(10,), hold_at=50))  # fmt: skip
    try:
        wait_for(lambda: (marks / "step_10").exists(), 300, "step 10", proc)
        assert mlflow_server.stop(Layout(team_stack.root).read_state().get("mlflow_pid"))  # PostgreSQL and S3 stay
        wait_for(lambda: (marks / "step_50").exists(), 120, "step 50 with the server down", proc)
        res = team_stack.team("start", timeout=300)  # starts the missing MLflow server again, same port
        assert res.returncode == 0, res.stderr[-3000:]
        client = mlflow_as("alice")
        run_id = run_of_running(client)
        wait_for(lambda: any(10 < s < 50 for s in logged_steps(client, run_id)), 120,
                 "the buffered metrics on the restarted server")  # fmt: skip
        (marks / "go").touch()
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        team_stack.team("start", timeout=300)  # the later tests need the server, whatever happened here
    assert proc.returncode == 0, err[-3000:]
    log = out + err
    assert log.count("is not answering") == 1 and "answers again" in log and "were not recorded" not in log
    assert run_of(project) == run_id
    assert logged_steps(client, run_id) == local_steps(project) and len(local_steps(project)) == 60 // 10
    assert client.get_run(run_id).info.status == "FINISHED"
    assert {"model", "tokenizer"} <= {a.path for a in client.list_artifacts(run_id)}  # sent after the outage, to S3
    assert not list((project / ".cache/gptlab/mlflow-outbox").glob("*.jsonl"))


def run_of_running(client) -> str:
    (run,) = client.search_runs([client.get_experiment_by_name("team-outage").experiment_id])
    return run.info.run_id
