"""gptlab.tracking.server without a real MLflow server: settings, the command, refusals, the URL line."""

from __future__ import annotations

import socket

import pytest

from gptlab.errors import ConfigError
from gptlab.tracking import server
from gptlab.tracking.server import UiSettings

SECRET_URI = "https://alice:s3cret@mlflow.example:5000"


def ui(**values) -> UiSettings:
    """UiSettings with conf/ui.yaml's values, ``values`` on top (the dataclass has no defaults)."""
    defaults = {"tracking_uri": SECRET_URI, "host": "127.0.0.1", "port": 5000, "workers": 1, "server_args": ()}
    return UiSettings(**{**defaults, **values})


def test_the_store_uri_is_passed_by_environment_not_on_the_command_line():
    s = ui()
    assert not any("s3cret" in part for part in server.server_command(s))
    assert server.server_env(s)["MLFLOW_BACKEND_STORE_URI"] == SECRET_URI


def test_printed_url_line_redacts_credentials():
    line = server.banner(ui(port=5999))
    assert "http://127.0.0.1:5999" in line and "***@mlflow.example:5000" in line
    assert "s3cret" not in line and "alice" not in line


def test_a_missing_sqlite_store_is_an_error_not_a_new_database(tmp_path):
    db = tmp_path / "missing.db"
    with pytest.raises(ConfigError, match="no MLflow store"):
        server.start(ui(tracking_uri=f"sqlite:///{db}"))
    assert not db.exists()


def test_a_port_in_use_is_an_error(tmp_path):
    db = tmp_path / "mlflow.db"
    db.touch()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}.*port="):
            server.start(ui(tracking_uri=f"sqlite:///{db}", port=port))


def test_bad_port_is_a_config_error():
    with pytest.raises(ConfigError, match="port"):
        ui(tracking_uri="sqlite:///x.db", port=70000)


def test_a_relative_sqlite_store_is_anchored_at_the_project_root(tmp_path, monkeypatch):
    monkeypatch.delenv("DVC_ROOT", raising=False)
    (tmp_path / ".dvc").mkdir()
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert ui(tracking_uri="sqlite:///mlflow.db").tracking_uri == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert ui(tracking_uri=SECRET_URI).tracking_uri == SECRET_URI  # other stores as given


@pytest.mark.parametrize(
    ("host", "url"),
    [("127.0.0.1", "http://127.0.0.1:5000"), ("0.0.0.0", "http://127.0.0.1:5000"), ("::", "http://[::1]:5000")],
)
def test_the_url_is_where_a_browser_here_reaches_the_server(host, url):
    assert ui(host=host).url == url
