"""The MLflow outbox with a fake client: an outage never blocks, warns once, loses nothing;
``python -m gptlab.track`` sends what was kept."""

from __future__ import annotations

import json
import threading
import time

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from gptlab.tracking import outbox as ob
from tests.helpers import compose, new_mlflow_store


class FakeClient:
    """Records what it was sent; ``down`` refuses connections, ``hang_s`` never answers in time."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.down = False
        self.hang_s = 0.0
        self.delay_s = 0.0  # a slow but working server
        self.refuse = set()
        self.lock = threading.Lock()

    def _call(self, *call):
        time.sleep(self.delay_s)
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

    def set_terminated(self, run_id, status=None, end_time=None):
        self._call("set_terminated", run_id, status)

    def steps(self):
        return [s for c in self.calls if c[0] == "log_batch" for _, _, s in c[2]]


def log_step(box: ob.Outbox, step: int) -> None:
    box.log_values("run1", {"loss": 1.0 / (step + 1)}, step, timestamp_ms=1)


def metric_op(step: int) -> dict:
    return ob.values_op("run1", [("loss", 1.0 / (step + 1), 0, step)])


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


def test_writes_are_sent_in_order_and_batches_merged(tmp_path):
    client = FakeClient()
    client.delay_s = 0.05
    box = ob.Outbox(client, "http://x", tmp_path)
    for step in range(50):
        log_step(box, step)
    box.log_text("run1", "hello", "a.txt")
    box.set_terminated("run1", "FINISHED")
    assert box.close() == []
    assert client.steps() == list(range(50))
    assert [c[0] for c in client.calls][-2:] == ["log_text", "set_terminated"]
    assert len([c for c in client.calls if c[0] == "log_batch"]) <= 2  # merged while the thread was busy
    assert not list(tmp_path.iterdir())


def test_one_operation_is_at_most_one_request(tmp_path):
    ops = [ob.values_op("run1", [("m", 0.0, 0, s) for s in range(300)]) for _ in range(5)]
    merged, n = ob.merge_batches(ops)
    assert n == 3 and len(merged["metrics"]) == 900  # a fourth would pass MLflow's 1000 per request
    assert ob.merge_batches([ops[0], ob.values_op("run2", [("m", 0.0, 0, 0)])])[1] == 1  # another run


def test_an_outage_warns_once_keeps_everything_on_disk_and_resumes_in_order(tmp_path, caplog, fast_retries):
    client = FakeClient()
    box = ob.Outbox(client, "http://x", tmp_path)
    log_step(box, 0)
    assert wait_for(lambda: client.steps() == [0])
    client.down = True
    t0 = time.monotonic()
    for step in range(1, 40):
        log_step(box, step)  # the training loop: never waits
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
        log_step(box, step)
    box.set_terminated("run1", "FINISHED")
    t0 = time.monotonic()
    left = box.close()
    assert time.monotonic() - t0 < 2.0
    assert len(left) == 6
    (pending,) = tmp_path.glob("*.jsonl")
    head, ops = ob.read_file(pending)
    assert ops == left and head["tracking_uri"] == "http://***@x"  # no credentials on disk
    lines = [r.getMessage() for r in caplog.records if "were not recorded" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert f"kept in {pending}: send them when the server is back with: python -m gptlab.track" in lines[0]
    assert "secret" not in caplog.text


def test_a_server_that_never_answers_bounds_the_wait_at_the_end(tmp_path, fast_retries):
    client = FakeClient()
    box = ob.Outbox(client, "http://x", tmp_path)
    client.hang_s = 1.0  # stands for MLflow's bounded request timeout
    for step in range(3):
        log_step(box, step)
    box.log_text("run1", "t", "a.txt")  # another request, not merged with the batches
    time.sleep(0.1)  # a request is in flight
    t0 = time.monotonic()
    left = box.close()
    # At most the request in flight, then no new one: not one per queued operation.
    assert time.monotonic() - t0 < 1.9
    assert len(left) == 4 and box.end_wait_s < 1.9


def test_close_gives_an_absent_server_one_last_try(tmp_path):
    client = FakeClient()
    client.down = True
    box = ob.Outbox(client, "http://x", tmp_path)
    log_step(box, 0)
    assert wait_for(lambda: not box.online)  # its own next try is RETRY_FIRST_S (2 s) away
    client.down = False  # back just before the end: the last try, at once, sends it
    t0 = time.monotonic()
    assert box.close() == []
    assert client.steps() == [0] and time.monotonic() - t0 < 1.5


def test_a_refused_record_is_dropped_with_a_warning_and_the_rest_goes_on(tmp_path, caplog):
    client = FakeClient()
    client.refuse = {"log_text"}
    box = ob.Outbox(client, "http://x", tmp_path)
    box.log_text("run1", "t", "a.txt")
    log_step(box, 1)
    assert box.close() == []
    assert client.steps() == [1]
    assert "refused a log_text" in caplog.text


def test_a_write_after_the_end_is_kept_for_sync(tmp_path):
    box = ob.Outbox(FakeClient(), "http://x", tmp_path)
    box.close()
    box.set_terminated("run1", "KILLED")  # an exit path that logs once more
    (pending,) = tmp_path.glob("*.jsonl")
    assert [op["status"] for op in ob.read_file(pending)[1]] == ["KILLED"]


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory):
    """A scratch SQLite store, shared by the module's tests."""
    from mlflow.tracking import MlflowClient

    uri = new_mlflow_store(tmp_path_factory.mktemp("outbox-store"), tmp_path_factory)
    client = MlflowClient(uri)
    return uri, client, client.create_experiment("e")


@pytest.fixture
def store_with_a_run(sqlite_store):
    uri, client, experiment_id = sqlite_store
    return uri, client, client.create_run(experiment_id).info.run_id


def test_sync_sends_a_pending_file_to_a_store(tmp_path, caplog, store_with_a_run):
    uri, store, run_id = store_with_a_run
    ops = [ob.values_op(run_id, [("loss", 0.5, 0, s)]) for s in range(3)]
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


def test_sync_skips_what_it_cannot_send_with_a_warning(tmp_path, caplog, store_with_a_run):
    """An operation of an older gptlab (the model step, now the publish stage) is skipped."""
    uri, store, run_id = store_with_a_run
    pending = tmp_path / "r.jsonl"
    old = {"op": "publish_model", "run_id": run_id, "model_dir": "m", "logger": {}, "must_succeed": True}
    ob.write_file(pending, ob.header(uri), [old, ob.values_op(run_id, [("loss", 0.5, 0, 7)])])
    assert ob.sync_files([pending]).sent == 2 and not pending.exists()
    assert [m.step for m in store.get_metric_history(run_id, "loss")] == [7]
    assert "refused a publish_model" in caplog.text


def test_sync_against_an_absent_server_keeps_the_file(tmp_path):
    from gptlab.errors import ConfigError

    pending = tmp_path / "r.jsonl"
    ob.write_file(pending, ob.header("http://127.0.0.1:9"), [metric_op(0)])
    before = pending.read_bytes()
    with pytest.raises(ConfigError, match="cannot be reached"):
        ob.sync_files([pending])
    assert pending.read_bytes() == before


def test_sync_refuses_a_redacted_uri_without_one_given(tmp_path):
    from gptlab.errors import ConfigError

    pending = tmp_path / "r.jsonl"
    ob.write_file(pending, ob.header("http://user:pw@127.0.0.1:9"), [metric_op(0)])
    with pytest.raises(ConfigError, match="tracking_uri="):
        ob.sync_files([pending])


def test_the_track_tool_takes_hydra_overrides(tmp_path, monkeypatch, capsys, store_with_a_run):
    from gptlab import track

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert track.run(compose(config_name="track")) == 0
    assert "nothing to send" in capsys.readouterr().out

    uri, store, run_id = store_with_a_run
    pending = tmp_path / ob.OUTBOX_DIR / "r.jsonl"
    ob.write_file(pending, ob.header("sqlite:///elsewhere.db"), [ob.values_op(run_id, [("loss", 0.5, 0, 3)])])
    assert track.run(compose(f"pending={pending}", f"tracking_uri={uri}", config_name="track")) == 1
    assert "sent 1 pending MLflow operations from 1 file(s)" in capsys.readouterr().out
    assert [m.step for m in store.get_metric_history(run_id, "loss")] == [3] and not pending.exists()


def test_pending_files_are_json_lines(tmp_path):
    p = tmp_path / "x.jsonl"
    ob.write_file(p, ob.header("sqlite:///x.db"), [metric_op(0)])
    lines = p.read_text().splitlines()
    assert json.loads(lines[0])["gptlab_mlflow_outbox"] == 1 and json.loads(lines[1])["op"] == "log_batch"
