"""python -m gptlab.serve with a real MLflow scoring server on 127.0.0.1 (a free port):
requests over HTTP, seeded answers, bad requests, and Ctrl-C.

The served model is the champion of a trained, evaluated and published test pipeline. Every wait
is bounded; the server is stopped (its process group killed if need be) in any case.

MLflow's behaviour, asserted as it is (README, "Registry and serving"): a bad request
is HTTP 400 (415 for a content type it does not read) with a JSON body whose
``message`` ends in the reason; an **unknown param is not an error**: MLflow's scoring
server logs a warning and ignores it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from gptlab.runtime import servers
from tests.evaluation.pipeline_fixtures import (  # noqa: F401 - fixtures
    base_overrides,
    mlflow_overrides,
    run_stages,
    trained_pipeline,
)
from tests.runtime.environment import not_activated

START_TIMEOUT_S = 180
REQUEST_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Served:
    proc: subprocess.Popen
    url: str
    root: Path
    stdout: Path
    stderr: Path

    def server_pid(self) -> int | None:
        """The scoring server's pid, from the CLI's "(pid N)" line."""
        found = re.search(r"\(pid (\d+)\)", self.stderr.read_text(errors="replace"))
        return int(found.group(1)) if found else None

    def logs(self) -> str:
        return self.stdout.read_text(errors="replace")[-2000:] + self.stderr.read_text(errors="replace")[-4000:]


def post(url: str, body: bytes | dict, content_type: str = "application/json") -> tuple[int, dict | str]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}/invocations", data=data, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:  # noqa: S310 - 127.0.0.1
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def stop_cli(served: Served) -> int | None:
    """Ctrl-C to the CLI (it stops the server); if it hangs, kill it. Its exit code."""
    proc = served.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)
    return proc.returncode


def kill_server(served: Served) -> None:
    """Whatever is left of the scoring server's process group (nothing, normally)."""
    pid = served.server_pid()
    if pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def served(trained_pipeline, tmp_path_factory, subprocess_env):
    root = tmp_path_factory.mktemp("serve") / "pipeline"
    shutil.copytree(trained_pipeline, root)
    run_stages(root, ["evaluate", "publish"], base_overrides(*mlflow_overrides(root)))  # v1 becomes the champion
    port = free_port()
    stdout, stderr = root / "serve.out", root / "serve.err"
    # Not activated, as `.venv/bin/python -m gptlab.serve` from cron or an IDE: MLflow's
    # `bash -c 'exec uvicorn ...'` must still find this environment's uvicorn.
    env = not_activated({**subprocess_env, "GPTLAB_SERVE_DEVICE": "cpu"})
    env.pop("MLFLOW_TRACKING_URI", None)
    with open(stdout, "w") as out, open(stderr, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gptlab.serve", "data=file", f"tracking_uri=sqlite:///{root / 'mlflow.db'}",
             f"port={port}"],
            cwd=root, env=env, stdout=out, stderr=err,
        )  # fmt: skip
    s = Served(proc, f"http://127.0.0.1:{port}", root, stdout, stderr)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "curl " not in stdout.read_text(errors="replace"):
            assert proc.poll() is None, f"python -m gptlab.serve exited with {proc.returncode}:\n{s.logs()}"
            assert time.monotonic() < deadline, f"no server after {START_TIMEOUT_S} s:\n{s.logs()}"
            time.sleep(0.2)
        yield s
    finally:
        stop_cli(s)
        kill_server(s)


@pytest.mark.slow
def test_the_cli_prints_the_url_and_a_curl_for_the_champion(served):
    out = served.stdout.read_text()
    assert f"serving models:/gptlab-file-char@champion at {served.url}/invocations" in out
    assert "registered model gptlab-file-char version 1" in served.stderr.read_text()
    curl = next(line.strip() for line in out.splitlines() if line.strip().startswith("curl "))
    body = json.loads(curl.split(" -d '", 1)[1].rstrip("'"))
    status, answer = post(served.url, body)  # the printed request, as a user would paste it
    assert status == 200, answer
    assert isinstance(answer["predictions"], list) and len(answer["predictions"]) == 1
    assert isinstance(answer["predictions"][0], str)


@pytest.mark.slow
def test_a_request_returns_one_text_per_prompt_and_seeds_reproduce(served):
    body = {"inputs": ["ROMEO:", "JULIET:"], "params": {"max_new_tokens": 24, "temperature": 0.8, "seed": 11}}
    status, first = post(served.url, body)
    assert status == 200, first
    assert len(first["predictions"]) == 2 and all(isinstance(t, str) for t in first["predictions"])
    assert post(served.url, body) == (200, first)
    others = {tuple(post(served.url, {**body, "params": {**body["params"], "seed": seed}})[1]["predictions"])
              for seed in (1, 2, 3)}  # fmt: skip
    assert len(others | {tuple(first["predictions"])}) > 1
    greedy = {"inputs": ["ROMEO:"], "params": {"max_new_tokens": 16, "decoding": "greedy", "stop": ["\n\n"]}}
    assert post(served.url, greedy) == post(served.url, greedy)
    frame = {"dataframe_split": {"columns": ["prompt"], "data": [["ROMEO:"]]}, "params": greedy["params"]}
    assert post(served.url, frame) == post(served.url, greedy)


def _reason(answer: dict) -> str:
    """The reason is the last line of MLflow's error message."""
    return answer["message"].strip().splitlines()[-1]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"top_p": 2}, "Error: top_p must be in (0, 1], got 2.0"),
        ({"decoding": "nucleus"}, "Error: decoding must be one of greedy, sample, beam, got 'nucleus'"),
        ({"max_new_tokens": 100000}, "Error: max_new_tokens must be <= 2048 on this server, got 100000"),
        ({"temperature": 0}, "Error: temperature must be > 0 for decoding=sample"),
    ],
)
def test_out_of_range_values_are_400_with_a_one_line_reason(served, params, reason):
    status, answer = post(served.url, {"inputs": ["ROMEO:"], "params": params})
    assert status == 400
    assert answer["error_code"] == "INVALID_PARAMETER_VALUE"
    assert _reason(answer).startswith(reason)


@pytest.mark.slow
def test_values_of_the_wrong_type_are_400_from_mlflow_s_schema_check(served):
    status, answer = post(served.url, {"inputs": ["ROMEO:"], "params": {"max_new_tokens": "ten"}})
    assert status == 400 and answer["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "max_new_tokens" in _reason(answer)
    status, answer = post(served.url, {"inputs": ["ROMEO:"], "params": {"stop": "\n"}})  # a list is expected
    assert status == 400 and "stop" in _reason(answer)


@pytest.mark.slow
def test_malformed_bodies_are_4xx(served):
    status, answer = post(served.url, b'{"inputs": ["ROMEO:"')
    assert status == 400 and answer["error_code"] == "BAD_REQUEST" and "valid JSON" in answer["message"]
    status, answer = post(served.url, {"prompts": ["ROMEO:"]})
    assert status == 400 and "'inputs'" in answer["message"]
    status, answer = post(served.url, {"inputs": []})
    assert status == 400
    status, answer = post(served.url, b"ROMEO:", content_type="text/plain")
    assert status == 415


@pytest.mark.slow
def test_an_unknown_param_is_ignored_by_mlflow_not_refused(served):
    """MLflow's scoring server drops params its signature does not declare (a warning in
    the server log), so the answer equals the answer without it. gptlab keeps that
    behaviour rather than replace MLflow's server; the README says so."""
    body = {"inputs": ["ROMEO:"], "params": {"max_new_tokens": 12, "seed": 5}}
    status, with_unknown = post(served.url, {**body, "params": {**body["params"], "top_q": 0.5}})
    assert status == 200
    assert post(served.url, body) == (200, with_unknown)
    deadline = time.monotonic() + 10
    while "Unrecognized params ['top_q'] are ignored" not in served.stderr.read_text(errors="replace"):
        assert time.monotonic() < deadline, "MLflow's warning about the ignored param is not in the server log"
        time.sleep(0.2)


@pytest.mark.slow
def test_the_server_keeps_serving_after_bad_requests(served):
    for _ in range(3):
        assert post(served.url, b"{not json")[0] == 400
        assert post(served.url, {"inputs": ["ROMEO:"], "params": {"top_p": 2}})[0] == 400
    with urllib.request.urlopen(f"{served.url}/health", timeout=REQUEST_TIMEOUT_S) as response:  # noqa: S310
        assert response.status == 200
    status, answer = post(served.url, {"inputs": ["JULIET:"], "params": {"max_new_tokens": 8}})
    assert status == 200 and len(answer["predictions"]) == 1
    assert served.proc.poll() is None


@pytest.mark.slow
def test_ctrl_c_stops_the_cli_and_the_server(served):
    """Last in this module: it stops the module's server."""
    assert stop_cli(served) == 0, served.logs()
    pid = served.server_pid()
    assert pid is not None
    # Nothing of the server's process group runs (the CLI waited for it); a worker orphaned
    # as its leader ended is a zombie until the container's init reaps it, if it ever does.
    assert not servers.group_running(pid)
    port = int(served.url.rsplit(":", 1)[1])
    with socket.socket() as sock:
        sock.settimeout(5)
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_a_missing_champion_is_one_line_and_exit_code_2(tmp_path, mlflow_store, subprocess_env):
    from mlflow.tracking import MlflowClient

    store = mlflow_store
    MlflowClient(store).create_registered_model("gptlab-file-char")  # registered, never evaluated
    res = subprocess.run(
        [sys.executable, "-m", "gptlab.serve", "data=file", f"tracking_uri={store}", f"port={free_port()}"],
        cwd=tmp_path, env=subprocess_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith(f"error: cannot find models:/gptlab-file-char@champion in the MLflow store {store}: ")
    assert res.stderr.count("\n") == 1
