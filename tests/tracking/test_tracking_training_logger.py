"""The training run's MLflow side (tracking/training_logger.py): the run opened, every kind
of write the training makes sent by the outbox's thread, MLflow's refusals as one line."""

from __future__ import annotations

import pytest

from gptlab.errors import StoreError
from gptlab.tracking import TrackingStore
from gptlab.tracking.outbox import Outbox
from gptlab.tracking.training_logger import MlflowRunLogger, open_run


def writes_of_a_run(logger: MlflowRunLogger) -> None:
    """One write of each kind a fit makes, through the logger as Lightning and the fit call it."""
    box, run_id = logger.experiment, logger.run_id
    logger.log_metrics({"train/loss": 2.5, "note": "not a number"}, step=10)
    logger.log_hyperparams({"model": {"n_layer": 2}})
    box.log_metric(run_id, "model/params", 1234, step=0)
    box.set_tag(run_id, "note", "hello")
    box.log_text(run_id, "some text", "samples/step_000010.txt")
    box.log_datasets(run_id, [{"split": "train", "name": "char-train", "digest": "0123456789abcdef",
                               "source": "data/processed/train.bin", "profile": {"tokens": 10}, "context": "training"}])
    logger.finalize("success")


def test_a_run_opened_in_the_store_gets_every_write_of_the_training(mlflow_store, tmp_path):
    store = TrackingStore(mlflow_store)
    opened = open_run(store, "logger-test", "r1", None, {"corpus_sha256": "abc"})
    assert opened.logged_params == {}
    logger = MlflowRunLogger(store, opened, Outbox(store.client, store.uri, tmp_path / "spool"))
    writes_of_a_run(logger)
    assert logger.close() == []
    assert not (tmp_path / "spool").exists()  # nothing had to be kept

    client, run_id = store.client, opened.run_id
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "r1"
    assert run.data.params["model.n_layer"] == "2"
    assert run.data.tags["note"] == "hello" and run.data.tags["corpus_sha256"] == "abc"
    assert "git_commit" in run.data.tags and "mlflow.user" in run.data.tags  # gptlab's and MLflow's own tags
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "train/loss")] == [(10, 2.5)]
    assert "note" not in run.data.metrics and run.data.metrics["model/params"] == 1234
    assert [a.path for a in client.list_artifacts(run_id, "samples")] == ["samples/step_000010.txt"]
    assert [i.dataset.name for i in run.inputs.dataset_inputs] == ["char-train"]

    resumed = open_run(store, "logger-test", "ignored", run_id, {})
    assert resumed.run_id == run_id and resumed.logged_params == {"model.n_layer": "2"}


def test_what_mlflow_refuses_when_opening_is_one_store_error_line(mlflow_store):
    store = TrackingStore(mlflow_store)
    client = store.client
    client.delete_experiment(client.create_experiment("gone"))
    with pytest.raises(StoreError) as err:
        open_run(store, "gone", "r1", None, {})
    assert str(err.value).startswith(f"MLflow store {store.redacted}: ") and "deleted" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_logger_without_a_run_logs_nothing(mlflow_store):
    """A launch's rank > 0: Lightning gets a logger, MLflow gets nothing."""
    logger = MlflowRunLogger(TrackingStore(mlflow_store), None, None)
    logger.log_metrics({"train/loss": 1.0}, step=1)
    logger.log_hyperparams({"a": 1})
    logger.finalize("success")
    assert logger.run_id is None and logger.experiment is None and logger.close() == []
