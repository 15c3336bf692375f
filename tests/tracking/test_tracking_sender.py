"""The sender: a training run's MLflow writes from a process of their own (tracking/sender.py)."""

from __future__ import annotations

import io
import json
import os
import signal
import sys

import pytest

from gptlab.errors import ConfigError, StoreError
from gptlab.tracking import TrackingStore
from gptlab.tracking.sender import SenderProcess, sends_from_a_process, serve
from gptlab.training import fit as fit_module
from tests.conftest import cli_exit_code, copy_built, one_error_line


def request(uri: str, spool_dir, **extra) -> dict:
    return {"tracking_uri": uri, "experiment_name": "sender-test", "run_name": "r1", "run_id": None,
            "tags": {"corpus_sha256": "abc"}, "spool_dir": str(spool_dir), **extra}  # fmt: skip


def writes_of_a_run(box, run_id: str) -> None:
    box.log_values(run_id, {"train/loss": 2.5}, step=10)
    box.log_values(run_id, params={"model.n_layer": 2})
    box.log_metric(run_id, "model/params", 1234, step=0)
    box.set_tag(run_id, "note", "hello")
    box.log_text(run_id, "some text", "samples/step_000010.txt")
    box.log_datasets(run_id, [{"split": "train", "name": "char-train", "digest": "0123456789abcdef",
                               "source": "data/processed/train.bin", "profile": {"tokens": 10}, "context": "training"}])
    box.set_terminated(run_id, "FINISHED")


def assert_recorded(uri: str, run_id: str) -> None:
    client = TrackingStore(uri).client
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.n_layer"] == "2"
    assert run.data.tags["note"] == "hello" and run.data.tags["corpus_sha256"] == "abc"
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "train/loss")] == [(10, 2.5)]
    assert run.data.metrics["model/params"] == 1234
    assert [a.path for a in client.list_artifacts(run_id, "samples")] == ["samples/step_000010.txt"]
    assert [i.dataset.name for i in run.inputs.dataset_inputs] == ["char-train"]


def test_serve_opens_the_run_then_sends_every_write_in_order(mlflow_store, tmp_path):
    class Collect:
        def __init__(self):
            self.lines = []

        def write(self, text):
            self.lines.append(text)

        def flush(self):
            pass

    # The writes are made by a RunWrites that records the operations it would send.
    from gptlab.tracking.outbox import RunWrites

    class Record(RunWrites):
        def __init__(self):
            self.ops = []

        def _put(self, op):
            self.ops.append(op)

    out = Collect()
    first = io.StringIO(json.dumps(request(mlflow_store, tmp_path / "spool")) + "\n")
    # The run id is only known once opened: open first, then replay the writes into it.
    assert serve(first, out) == 0
    opened = json.loads(out.lines[0])
    assert set(opened) == {"run_id", "experiment_id", "params"} and opened["params"] == {}
    record = Record()
    writes_of_a_run(record, opened["run_id"])
    lines = [json.dumps(request(mlflow_store, tmp_path / "spool", run_id=opened["run_id"]))]
    lines += [json.dumps(op) for op in record.ops] + [json.dumps({"op": "close", "wait_s": None})]
    out2 = Collect()
    assert serve(io.StringIO("\n".join(lines) + "\n"), out2) == 0
    reopened, closed = (json.loads(x) for x in out2.lines)
    assert reopened["run_id"] == opened["run_id"] and reopened["params"] == {}  # resumed, nothing logged yet then
    assert closed == {"left": []}
    assert_recorded(mlflow_store, opened["run_id"])


def test_serve_answers_a_store_it_cannot_use_with_one_error_line(tmp_path):
    (tmp_path / "mlflow.db").mkdir()  # a directory where the database should be
    out = io.StringIO()
    assert serve(io.StringIO(json.dumps(request(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path)) + "\n"), out) == 2
    reply = json.loads(out.getvalue())
    assert reply["type"] == "StoreError" and "is a directory" in reply["error"] and "\n" not in reply["error"]


def test_a_sender_process_opens_the_run_and_sends_what_the_training_writes(mlflow_store, tmp_path):
    """The real process: its own interpreter, pipes both ways, the run's end recorded."""
    sender = SenderProcess(request(mlflow_store, tmp_path / "spool"), tmp_path / "spool")
    reply = sender.opened()
    writes_of_a_run(sender, reply["run_id"])
    assert sender.close() == []
    assert sender._proc.returncode == 0
    assert_recorded(mlflow_store, reply["run_id"])
    assert not (tmp_path / "spool").exists()  # nothing had to be kept


@pytest.mark.slow
def test_writes_after_the_sender_died_are_kept_for_the_track_tool(mlflow_store, tmp_path):
    from gptlab.tracking.outbox import read_file, sync_files

    sender = SenderProcess(request(mlflow_store, tmp_path / "spool"), tmp_path / "spool")
    run_id = sender.opened()["run_id"]
    os.kill(sender._proc.pid, signal.SIGKILL)
    sender._proc.wait()
    writes_of_a_run(sender, run_id)
    assert sender.close() == []
    (kept,) = (tmp_path / "spool").glob("*.jsonl")
    head, ops = read_file(kept)
    assert head["gptlab_mlflow_outbox"] == 1 and len(ops) == 7
    sync_files([kept])
    assert_recorded(mlflow_store, run_id)


def test_the_training_raises_the_senders_error_before_training(built_data, tmp_path, monkeypatch, capsys,
                                                              mlflow_store):  # fmt: skip
    """A store MLflow itself refuses (here: the experiment was deleted) fails in the sender
    process; the training ends with its one line before the trainer exists."""
    client = TrackingStore(mlflow_store).client
    client.delete_experiment(client.create_experiment("gone"))
    work = copy_built(built_data, tmp_path / "w")
    monkeypatch.chdir(work)
    code = cli_exit_code("train", "experiment=smoke", "data=file", "data.path=corpus.txt", "trainer.max_steps=2",
                         f"logger.tracking_uri={mlflow_store}", "logger.experiment_name=gone",
                         "logger.sender=process")  # fmt: skip
    assert code == 2
    one_error_line(capsys.readouterr().err, "deleted")
    assert not (work / "artifacts" / "train").exists()


def test_auto_sends_from_a_process_only_where_mlflow_is_not_loaded(monkeypatch):
    import mlflow  # noqa: F401 - loaded, as in this test process

    assert sends_from_a_process("auto") is False
    assert sends_from_a_process("process") is True and sends_from_a_process("thread") is False
    monkeypatch.delitem(sys.modules, "mlflow")
    assert sends_from_a_process("auto") is True
    with pytest.raises(ConfigError, match="logger.sender must be one of"):
        sends_from_a_process("fork")


def test_only_the_launchs_rank_zero_opens_a_run(monkeypatch, mlflow_store):
    settings = type("S", (), {})()
    settings.logger = type("L", (), {"enabled": True, "tracking_uri": mlflow_store, "sender": "process"})()
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(fit_module, "run_request", lambda *a: pytest.fail("rank 1 opens no run"))
    logger = fit_module.start_logger_setup(settings, None, None, None).result()
    assert logger.run_id is None and logger._writes is None


def test_the_senders_error_names_a_gptlab_error_class_or_becomes_a_store_error():
    from gptlab.tracking.sender import _error_class

    assert _error_class("ConfigError") is ConfigError
    assert _error_class("SystemExit") is StoreError and _error_class(None) is StoreError
