"""python -m gptlab.ui without starting a server: defaults, flags, the store from any directory, user errors."""

from __future__ import annotations

import subprocess
import sys

from gptlab import ui
from gptlab.tracking import normalize_tracking_uri
from gptlab.tracking.server import server_command


def test_defaults_are_the_project_store_on_localhost_only(workdir):
    s = ui.parse_args([])
    assert (s.host, s.port) == ("127.0.0.1", 5000)
    assert s.backend_store_uri == normalize_tracking_uri("sqlite:///mlflow.db") == f"sqlite:///{workdir.resolve()}/mlflow.db"
    assert s.url == "http://127.0.0.1:5000"


def test_flags_and_pass_through_arguments():
    s = ui.parse_args(["--host", "0.0.0.0", "--port", "5123", "--backend-store-uri", "sqlite:///x.db",
                       "--", "--allowed-hosts", "box:5123"])  # fmt: skip
    assert (s.host, s.port, s.backend_store_uri) == ("0.0.0.0", 5123, normalize_tracking_uri("sqlite:///x.db"))
    assert s.url == "http://127.0.0.1:5123"  # listening everywhere, reachable here
    cmd = server_command(s)
    assert cmd[:4] == [sys.executable, "-m", "mlflow", "server"]
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0" and cmd[-2:] == ["--allowed-hosts", "box:5123"]


def test_from_a_subdirectory_it_opens_the_project_store(workdir, monkeypatch):
    monkeypatch.delenv("DVC_ROOT", raising=False)
    (workdir / ".dvc").mkdir()
    deeper = workdir / "notebooks" / "deeper"
    deeper.mkdir(parents=True)
    monkeypatch.chdir(deeper)
    root_store = f"sqlite:///{workdir.resolve()}/mlflow.db"
    assert ui.parse_args([]).backend_store_uri == root_store  # conf's logger.tracking_uri
    assert ui.parse_args(["--backend-store-uri", "sqlite:///mlflow.db"]).backend_store_uri == root_store


def test_cli_error_is_one_line_and_exit_code_2(tmp_path, subprocess_env):
    subprocess_env.pop("DVC_ROOT", None)
    res = subprocess.run(
        [sys.executable, "-m", "gptlab.ui", "--backend-store-uri", "sqlite:///missing.db"],
        cwd=tmp_path, env=subprocess_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 2
    assert res.stderr.startswith(f"error: no MLflow store at sqlite:///{tmp_path.resolve()}/missing.db")
    assert res.stderr.count("\n") == 1
