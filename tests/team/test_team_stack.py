"""Slow: the team stack's real servers (PostgreSQL, SeaweedFS's S3, MLflow with logins),
started once for the session (tests/team/conftest.py).

A training run logs as a teammate; its runs and params land in PostgreSQL and its
artifacts in the S3 bucket through the server's proxy; no secret reaches the run, the
logs or the files; a wrong or missing password is one line and exit code 77.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import copy_built
from tests.faults.conftest import QUIET, SMOKE, assert_one_line_failure

pytestmark = pytest.mark.slow

TEAM = ("logger=team", "trainer.max_steps=10", "trainer.val_check_interval=5")


def train(cwd: Path, env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gptlab.train", *SMOKE, *QUIET, *TEAM, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def s3_keys(team_stack, bucket: str, prefix: str = "") -> list[str]:
    from gptlab.team.s3 import client

    s3 = client(team_stack.config().s3_endpoint, team_stack.creds())
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def postgres_rows(team_stack, query: str, *args) -> list[tuple]:
    import psycopg

    from gptlab.team import postgres

    cfg, creds = team_stack.config(), team_stack.creds()
    with psycopg.connect(host=cfg.host, port=cfg.postgres_port, user=postgres.ROLE, dbname=postgres.TRACKING_DB,
                         password=creds.mlflow_db_password, connect_timeout=10) as conn:  # fmt: skip
        return conn.execute(query, args).fetchall()


def test_a_run_logged_with_a_login_lands_in_postgres_and_s3_and_no_secret_anywhere(
    team_stack, built_data, tmp_path, mlflow_as
):
    project = copy_built(built_data, tmp_path)
    res = train(project, team_stack.env("alice"), "logger.experiment_name=team-login")
    assert res.returncode == 0, res.stderr[-3000:]
    run_id = json.loads((project / "artifacts/model/config.json").read_text())["mlflow"]["run_id"]

    # bob, another login, sees alice's run, its params and its artifacts (through the server)
    client = mlflow_as("bob")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.params["logger.tracking_uri"] == team_stack.uri
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied: clients hold no S3 keys
    assert {"model", "tokenizer"} <= {a.path for a in client.list_artifacts(run_id)}
    local = client.download_artifacts(run_id, "model/model.safetensors", str(tmp_path / "dl"))
    assert Path(local).read_bytes() == (project / "artifacts/model/model.safetensors").read_bytes()

    # where they live: the run's rows in PostgreSQL, the model's bytes in the artifacts bucket
    assert postgres_rows(team_stack, "SELECT status FROM runs WHERE run_uuid = %s", run_id) == [("FINISHED",)]
    n_params = postgres_rows(team_stack, "SELECT count(*) FROM params WHERE run_uuid = %s", run_id)[0][0]
    assert n_params == len(run.data.params) > 50
    keys = s3_keys(team_stack, team_stack.config().artifacts_bucket, "artifacts/")
    assert any(k.endswith(f"{run_id}/artifacts/model/model.safetensors") for k in keys), keys[:20]

    # no secret in the run's params, its config artifact, the output or the project's files
    creds = team_stack.creds()
    config_yaml = Path(client.download_artifacts(run_id, "config.yaml", str(tmp_path / "cfg"))).read_text()
    texts = [json.dumps(run.data.params), json.dumps(run.data.tags), config_yaml, res.stdout, res.stderr]
    texts += [p.read_text(errors="replace") for p in project.rglob("*") if p.is_file() and p.stat().st_size < 10**6]
    for secret in creds.secrets():
        assert not any(secret in text for text in texts)


def test_a_wrong_or_missing_password_is_one_line_and_exit_77(team_stack, built_data, tmp_path):
    project = copy_built(built_data, tmp_path)
    wrong = train(project, team_stack.env("alice", password="not-the-password"), timeout=300)
    line = assert_one_line_failure(wrong, 77, "refused the login of user 'alice'", "MLFLOW_TRACKING_PASSWORD")
    assert "not-the-password" not in wrong.stdout + wrong.stderr
    missing = train(project, team_stack.env(None), timeout=300)
    assert_one_line_failure(missing, 77, "asks for a login", "python -m gptlab.team env")
    assert not (project / "artifacts/model").exists() and not (project / "artifacts/train").exists()  # before any work
    assert team_stack.uri in line


def test_start_again_keeps_the_running_stack_and_env_prints_a_working_login(team_stack):
    res = team_stack.team("start", timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "team stack up" in res.stdout
    creds = team_stack.creds()
    assert not any(secret in res.stdout + res.stderr for secret in creds.secrets())  # start prints no password
    env = team_stack.team("env", "user=bob")
    assert env.returncode == 0, env.stderr
    assert f"export MLFLOW_TRACKING_PASSWORD={creds.users['bob']}" in env.stdout.splitlines()
