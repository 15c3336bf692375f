"""The MLflow outbox with a fake client: an outage never blocks, warns once, loses nothing."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from gptlab.tracking import outbox as ob


class FakeClient:
    """Records what it was sent; ``down`` refuses connections, ``hang_s`` never answers in time."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.down = False
        self.hang_s = 0.0
        self.refuse = set()
        self.lock = threading.Lock()

    def _call(self, *call):
        if self.hang_s:
            time.sleep(self.hang_s)
            raise MlflowException("API request to http://x/api failed with exception ReadTimeout")
        if self.down:
            raise MlflowException("API request to http://x/api failed with exception Caused by NewConnectionError")
        if call[0] in self.refuse:
            raise MlflowException("bad value", error_code=INVALID_PARAMETER_VALUE)
        with self.lock:
            self.calls.append(call)

    def log_batch(self, run_id, metrics=(), params=(), tags=()):
        self._call("log_batch", run_id, [(m.key, m.value, m.step) for m in metrics], [(p.key, p.value) for p in params])

    def log_text(self, run_id, text, artifact_file):
        self._call("log_text", run_id, artifact_file)

    def set_terminated(self, run_id, status, end_time=None):
        self._call("set_terminated", run_id, status)

    def steps(self):
        return [s for c in self.calls if c[0] == "log_batch" for _, _, s in c[2]]


def metric_op(step: int) -> dict:
    return ob.batch_op("run1", [Metric("loss", 1.0 / (step + 1), 0, step)])


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(ob, "RETRY_FIRST_S", 0.05)
    monkeypatch.setattr(ob, "RETRY_MAX_S", 0.2)


def wait_for(cond, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_operations_are_sent_in_order_and_batches_merged(tmp_path):
    client = FakeClient()
    box = ob.Outbox(client, "http://x", tmp_path)
    for step in range(50):
        box.put(metric_op(step))
    box.put({"op": "set_terminated", "run_id": "run1", "status": "FINISHED"})
    assert box.close() == []
    assert client.steps() == list(range(50))
    assert client.calls[-1][0] == "set_terminated"
    assert not list(tmp_path.iterdir())


def test_an_outage_warns_once_keeps_everything_on_disk_and_resumes_in_order(tmp_path, caplog, fast_retries):
    client = FakeClient()
    box = ob.Outbox(client, "http://x", tmp_path)
    box.put(metric_op(0))
    assert wait_for(lambda: client.steps() == [0])
    client.down = True
    t0 = time.monotonic()
    for step in range(1, 40):
        box.put(metric_op(step))  # the training loop: never waits
    assert time.monotonic() - t0 < 0.5
    assert wait_for(lambda: not box.online)
    pending = list(tmp_path.glob("*.jsonl"))
    assert len(pending) == 1  # kept on disk during the outage, not only in memory
    assert wait_for(lambda: len(ob.read_file(pending[0])[1]) == 39)
    time.sleep(0.5)  # several retries while down
    assert caplog.text.count("is not answering") == 1

    client.down = False  # the server is back: logging resumes on its own
    assert wait_for(lambda: client.steps() == list(range(40)))
    assert wait_for(lambda: not pending[0].exists())
    assert "answers again" in caplog.text
    assert box.close() == []


def test_an_outage_until_the_end_costs_no_wait_and_says_how_to_send_it_later(tmp_path, caplog, fast_retries):
    client = FakeClient()
    client.down = True
    box = ob.Outbox(client, "http://user:secret@x", tmp_path)
    for step in range(5):
        box.put(metric_op(step))
    box.put({"op": "set_terminated", "run_id": "run1", "status": "FINISHED"})
    t0 = time.monotonic()
    left = box.close()
    assert time.monotonic() - t0 < 2.0
    assert len(left) == 6
    (pending,) = tmp_path.glob("*.jsonl")
    head, ops = ob.read_file(pending)
    assert ops == left and head["tracking_uri"] == "http://***@x"  # no credentials on disk
    lines = [r.getMessage() for r in caplog.records if "were not recorded" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert f"python -m gptlab.track sync {pending}" in lines[0]
    assert "secret" not in caplog.text


def test_a_server_that_never_answers_bounds_the_wait_at_the_end(tmp_path, caplog, fast_retries):
    client = FakeClient()
    box = ob.Outbox(client, "http://x", tmp_path)
    client.hang_s = 1.0  # stands for MLflow's bounded request timeout
    for step in range(3):
        box.put(metric_op(step))
    time.sleep(0.1)  # a request is in flight
    t0 = time.monotonic()
    left = box.close()
    # At most the request in flight, then no new one: not one per queued operation.
    assert time.monotonic() - t0 < 2.5
    assert len(left) == 3


def test_a_refused_record_is_dropped_with_a_warning_and_the_rest_goes_on(tmp_path, caplog):
    client = FakeClient()
    client.refuse = {"log_text"}
    box = ob.Outbox(client, "http://x", tmp_path)
    box.put({"op": "log_text", "run_id": "run1", "text": "t", "artifact_file": "a.txt"})
    box.put(metric_op(1))
    assert box.close() == []
    assert client.steps() == [1]
    assert "refused a log_text" in caplog.text


def test_the_model_step_failing_for_another_reason_than_an_outage_is_raised(tmp_path):
    client = FakeClient()
    box = ob.Outbox(client, "http://x", tmp_path)
    box.put({"op": "publish_model", "run_id": "run1", "model_dir": "nope", "logger": {}, "must_succeed": True})
    with pytest.raises(Exception) as info:  # noqa: PT011 - whatever the bug is, it is not swallowed
        box.close()
    assert not isinstance(info.value, MlflowException) or info.value.error_code != "INTERNAL_ERROR"


def test_sync_sends_a_pending_file_to_a_store(tmp_path, caplog):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    store = MlflowClient(uri)
    run_id = store.create_run(store.create_experiment("e")).info.run_id
    ops = [ob.batch_op(run_id, [Metric("loss", 0.5, 0, s)]) for s in range(3)]
    ops.append({"op": "set_terminated", "run_id": run_id, "status": "FINISHED", "end_time": 1})
    pending = tmp_path / "outbox" / "r.jsonl"
    pending.parent.mkdir()
    ob.write_file(pending, ob.header(uri), ops)
    with pending.open("a") as f:
        f.write('{"op": "log_ba')  # the line a SIGKILL cut short

    result = ob.sync_files([pending.parent])
    assert result.sent == 4 and not pending.exists()
    assert [m.step for m in store.get_metric_history(run_id, "loss")] == [0, 1, 2]
    assert store.get_run(run_id).info.status == "FINISHED"
    assert "incomplete" in caplog.text


def test_sync_against_an_absent_server_keeps_the_file(tmp_path):
    from gptlab.errors import ConfigError

    pending = tmp_path / "r.jsonl"
    ob.write_file(pending, ob.header("http://127.0.0.1:9"), [metric_op(0)])
    before = pending.read_bytes()
    with pytest.raises(ConfigError, match="cannot be reached"):
        ob.sync_files([pending])
    assert pending.read_bytes() == before


def test_http_limits_do_not_override_the_users(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "42")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    ob.limit_http_waits()
    import os

    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "42"
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1"


def test_pending_files_are_json_lines(tmp_path):
    p = tmp_path / "x.jsonl"
    ob.write_file(p, ob.header("sqlite:///x.db"), [metric_op(0)])
    lines = p.read_text().splitlines()
    assert json.loads(lines[0])["gptlab_mlflow_outbox"] == 1 and json.loads(lines[1])["op"] == "log_batch"
    assert isinstance(Path(p), Path)
