"""python -m gptlab.ui without starting a server: defaults, overrides, the store from any directory, user errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gptlab import ui
from gptlab.errors import ConfigError
from gptlab.tracking import normalize_tracking_uri
from gptlab.tracking.server import server_command
from tests.helpers import compose


def ui_settings(*overrides: str):
    """The server's settings from conf/ui.yaml, as ``python -m gptlab.ui`` composes it."""
    return ui.settings(compose(*overrides, config_name="ui"))


def test_defaults_are_the_project_store_on_localhost_only(workdir):
    s = ui_settings()
    assert (s.host, s.port, s.workers, s.server_args) == ("127.0.0.1", 5000, 1, ())
    assert s.tracking_uri == normalize_tracking_uri("sqlite:///mlflow.db") == f"sqlite:///{workdir.resolve()}/mlflow.db"
    assert s.url == "http://127.0.0.1:5000"


def test_overrides_and_server_args():
    s = ui_settings("host=0.0.0.0", "port=5123", "tracking_uri=sqlite:///x.db", "server_args=[--allowed-hosts,box:5123]")
    assert (s.host, s.port, s.tracking_uri) == ("0.0.0.0", 5123, normalize_tracking_uri("sqlite:///x.db"))
    assert s.url == "http://127.0.0.1:5123"  # listening everywhere, reachable here
    cmd = server_command(s)
    assert cmd[:4] == [sys.executable, "-m", "mlflow", "server"]
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0" and cmd[-2:] == ["--allowed-hosts", "box:5123"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("port=0", "port must be between 1 and 65535, got 0"),
        ("port=true", "ui.port: True is not an int"),
        ("workers=0", "workers must be at least 1, got 0"),
    ],
)
def test_bad_values_are_config_errors(override, message):
    with pytest.raises(ConfigError) as excinfo:
        ui_settings(override)
    assert str(excinfo.value).startswith(message)


def test_one_server_arg_without_brackets_is_that_one_argument():
    assert ui_settings("server_args=--dev").server_args == ("--dev",)


def test_from_a_subdirectory_it_opens_the_project_store(workdir, monkeypatch):
    monkeypatch.delenv("DVC_ROOT", raising=False)
    (workdir / ".dvc").mkdir()
    deeper = workdir / "notebooks" / "deeper"
    deeper.mkdir(parents=True)
    monkeypatch.chdir(deeper)
    root_store = f"sqlite:///{workdir.resolve()}/mlflow.db"
    assert ui_settings().tracking_uri == root_store  # conf's logger.tracking_uri
    assert ui_settings("tracking_uri=sqlite:///mlflow.db").tracking_uri == root_store


def test_cli_error_is_one_line_and_exit_code_2(tmp_path, subprocess_env):
    """The CLI boundary: Hydra's command line, a user error in one line, no output folder."""
    subprocess_env.pop("DVC_ROOT", None)
    res = subprocess.run(
        [sys.executable, "-m", "gptlab.ui", "tracking_uri=sqlite:///missing.db"],
        cwd=tmp_path, env=subprocess_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 2
    assert res.stderr.startswith(f"error: no MLflow store at sqlite:///{tmp_path.resolve()}/missing.db")
    assert res.stderr.count("\n") == 1
    assert "tracking_uri=" in res.stderr  # what to pass, in the CLI's own style
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no .hydra/, outputs/ or log file
