"""Fast: the team stack's config, the environment it hands a teammate, and where its
secrets may and may not appear (no server is started here)."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from gptlab.errors import ConfigError, TrackingAuthError
from gptlab.team import mlflow_server, s3
from gptlab.team.__main__ import main, settings
from gptlab.team.credentials import Credentials, load, load_or_create, redact
from gptlab.team.layout import Layout, check_reachable_by_others
from gptlab.team.stack import Stack, shell_exports
from gptlab.tracking.store import TrackingStore, login_header
from tests.helpers import compose, conf_values


def team(*overrides: str):
    return settings(compose(*overrides, config_name="team"))


def stack(tmp_path: Path, *overrides: str) -> Stack:
    cfg = team(f"dir={tmp_path}", *overrides)
    layout = Layout(tmp_path)
    layout.make()
    return Stack(cfg, layout, load_or_create(layout.private, cfg.users))


def test_conf_team_builds_and_the_team_logger_points_at_its_server(monkeypatch):
    cfg = team()
    assert cfg.host == "127.0.0.1" and cfg.users == ("alice", "bob")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert conf_values("logger", "logger=team")["tracking_uri"] == cfg.tracking_uri
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example.com")
    assert compose("logger=team").logger.tracking_uri == "https://mlflow.example.com"
    assert compose().logger.tracking_uri == "sqlite:///mlflow.db"  # the default logger ignores the variable


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("mlflow_port=0", "mlflow_port must be between 1 and 65535"),
        ("s3_port=5050", "must differ"),
        ("users=[alice,Bob]", "'Bob' is not a login name"),
        ("users=[admin]", "'admin' is not a login name"),
        ("user=carol", "user='carol' is not one of users: alice, bob"),
        ("default_permission=ALL", "default_permission must be one of"),
        ("dvc_bucket=My_Bucket", "not an S3 bucket name"),
        ("dvc_bucket=mlflow", "artifacts_bucket and dvc_bucket must differ"),
    ],
)
def test_bad_settings_are_one_line(override, words):
    with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace("(", r"\(")):
        team(override)


def test_credentials_are_private_generated_once_and_new_teammates_get_a_password(tmp_path):
    layout = Layout(tmp_path / "stack")
    layout.make()
    first = load_or_create(layout.private, ("alice",))
    assert (layout.private / "credentials.json").stat().st_mode & 0o777 == 0o600
    assert layout.private.stat().st_mode & 0o777 == 0o700
    assert layout.root.stat().st_mode & 0o777 == 0o711
    again = load_or_create(layout.private, ("alice", "bob"))
    assert again.users["alice"] == first.users["alice"] and again.postgres_password == first.postgres_password
    assert set(load(layout.private).users) == {"alice", "bob"}
    assert len(set(again.secrets())) == len(again.secrets())  # all different
    assert all(len(s) >= 12 and s.isalnum() for s in again.secrets())  # MLflow wants 12+; safe in URLs and ini files


def test_env_is_shell_exports_of_the_uri_and_one_login(tmp_path):
    s = stack(tmp_path, "mlflow_port=6001")
    text = shell_exports(s.env("bob"))
    exports = dict(shlex.split(line)[1].split("=", 1) for line in text.splitlines())
    assert exports == {
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:6001",
        "MLFLOW_TRACKING_USERNAME": "bob",
        "MLFLOW_TRACKING_PASSWORD": s.creds.users["bob"],
    }
    with pytest.raises(ConfigError, match="user='carol' has no login on this stack"):
        s.env("carol")


def test_no_secret_is_on_a_command_line_or_in_a_database_uri(tmp_path):
    """``ps`` shows every process's command line to every local user."""
    s = stack(tmp_path)
    inner = {name: 40000 + i for i, name in enumerate(s3.INNER_PORTS)}
    lines = [
        " ".join(mlflow_server.command(s.cfg)),
        " ".join(s3.command(s.layout, s.cfg.host, s.cfg.s3_port, inner, ["mlflow", "dvc"])),
        mlflow_server.auth_config(s.cfg),
    ]
    env = mlflow_server.server_env(s.layout, s.cfg, s.creds)
    lines.append(env["MLFLOW_BACKEND_STORE_URI"])
    for secret in s.creds.secrets():
        assert not any(secret in line for line in lines)
    assert env["PGPASSWORD"] == s.creds.mlflow_db_password  # the database login travels in the environment
    assert all(f"127.0.0.1" in arg for arg in s3.command(s.layout, "127.0.0.1", 1, inner, []) if arg.startswith("-ip"))


def test_the_server_gets_no_client_login_from_the_shell(tmp_path, monkeypatch):
    s = stack(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "the user's own")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://elsewhere")
    env = mlflow_server.server_env(s.layout, s.cfg, s.creds)
    assert "MLFLOW_TRACKING_PASSWORD" not in env and "MLFLOW_TRACKING_URI" not in env


def test_redact_hides_every_secret():
    creds = Credentials.generate()
    creds.with_users(("alice",))
    text = f"db {creds.mlflow_db_password} user alice:{creds.users['alice']} s3 {creds.s3_secret_key}"
    assert redact(text, creds) == "db *** user alice:*** s3 ***"


def test_a_login_in_the_uri_moves_to_the_environment_and_is_never_shown(monkeypatch):
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.setenv(name, "")  # recorded as unset, so the login set below is undone
        monkeypatch.delenv(name)
    assert login_header() == {}
    store = TrackingStore("http://alice:p%40ss@127.0.0.1:9/prefix")
    assert store.uri == "http://127.0.0.1:9/prefix"  # what MLflow's client (and its error messages) see
    assert store.redacted == "http://***@127.0.0.1:9/prefix"
    assert (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]) == ("alice", "p@ss")
    assert login_header()["Authorization"].startswith("Basic ")
    assert "alice" not in repr(store)
    # a database URI keeps its login: it is the driver's
    assert TrackingStore("postgresql://u:pw@db/mlflow").uri == "postgresql://u:pw@db/mlflow"


def test_a_refused_login_is_exit_code_77():
    assert TrackingAuthError("x").exit_code == 77
    assert issubclass(TrackingAuthError, ConfigError)


def test_postgres_user_must_reach_the_stack_directory(tmp_path):
    closed = tmp_path / "closed"
    (closed / "inner").mkdir(parents=True)
    os.chmod(closed, 0o700)
    with pytest.raises(ConfigError, match=r"cannot reach .*closed/inner/stack: .*closed is mode 0700"):
        check_reachable_by_others(closed / "inner" / "stack", "PostgreSQL's user 'postgres'")


def test_an_unknown_action_is_the_usage_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["restart"])
    assert exc.value.code == 2
    assert "usage: python -m gptlab.team {start|stop|env|remote}" in capsys.readouterr().err


def test_env_before_any_start_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["env", f"dir={tmp_path / 'none'}"])
    assert exc.value.code == 2
    assert "no team stack in" in capsys.readouterr().err


def test_the_dvc_remote_url_and_endpoint_are_shared_and_its_keys_local(tmp_path):
    s = stack(tmp_path / "stack")
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / ".dvc").mkdir()
    (repo / ".dvc" / "config").write_text("[core]\n    autostage = true\n")
    from gptlab.team.stack import configure_dvc_remote

    configure_dvc_remote(s, repo)
    shared = (repo / ".dvc" / "config").read_text()
    local = (repo / ".dvc" / "config.local").read_text()
    assert "remote = team" in shared and "url = s3://dvc/gptlab" in shared and "endpointurl = http://127.0.0.1:8333" in shared
    assert s.creds.s3_secret_key not in shared and s.creds.s3_access_key not in shared
    assert s.creds.s3_secret_key in local and s.creds.s3_access_key in local
