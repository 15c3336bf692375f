"""What the MLflow UI reads from a training run, read back through ``MlflowClient``: the
experiment's kind, the dataset inputs, the evaluated splits and the system metrics.

A scratch SQLite store per module and hand-made runs (seconds); the end-to-end checks
of a real training run are the last test (slow).
"""

from __future__ import annotations

import json
import time

import pytest

from gptlab.dataset.meta import DatasetMeta
from gptlab.tracking.datasets import (
    CONTEXT_TAG,
    DIGEST_CHARS,
    EVAL_SPLITS_TAG,
    log_evaluated_splits,
    send_dataset_records,
    split_dataset,
    training_dataset_records,
)
from gptlab.tracking.store import EXPERIMENT_KIND_TAG, TRAINING_KIND, TrackingStore
from tests.helpers import copy_built, new_mlflow_store, run_stage

SHA = {s: c * 64 for s, c in (("train", "a"), ("val", "b"), ("test", "c"))}


def meta(files: bool = True, test_tokens: int = 30) -> DatasetMeta:
    tokens = {"train": 900, "val": 50, "test": test_tokens}
    return DatasetMeta(
        vocab_size=65, dtype="uint16", tokens=tokens, characters={"train": 900, "val": 50, "test": test_tokens},
        tokenizer_sha256="d" * 64, corpus_sha256="e" * 64, tokenizer_kind="char",
        files={s: {"bytes": n * 2, "sha256": SHA[s]} for s, n in tokens.items()} if files else None,
        format_version=2 if files else 1,
    )  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return new_mlflow_store(tmp_path_factory.mktemp("ui-records"), tmp_path_factory)


def new_run(store: str, experiment: str = "gptlab"):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    exp_id = TrackingStore(store).ensure_experiment(experiment)
    return client, client.create_run(exp_id).info.run_id


def inputs_by_context(client, run_id: str) -> dict:
    run = client.get_run(run_id)
    return {
        {t.key: t.value for t in i.tags}[CONTEXT_TAG]: i.dataset for i in run.inputs.dataset_inputs
    }


def test_a_new_experiment_is_a_training_experiment(store):
    from mlflow.tracking import MlflowClient

    exp_id = TrackingStore(store).ensure_experiment("fresh")
    assert MlflowClient(store).get_experiment(exp_id).tags[EXPERIMENT_KIND_TAG] == TRAINING_KIND
    assert TrackingStore(store).ensure_experiment("fresh") == exp_id  # once only


def test_an_existing_experiment_without_a_kind_gets_the_training_kind_and_a_chosen_kind_stays(store):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    plain = client.create_experiment("made-elsewhere")
    chosen = client.create_experiment("genai", tags={EXPERIMENT_KIND_TAG: "genai_development"})
    TrackingStore(store).ensure_experiment("made-elsewhere")
    TrackingStore(store).ensure_experiment("genai")
    assert client.get_experiment(plain).tags[EXPERIMENT_KIND_TAG] == TRAINING_KIND
    assert client.get_experiment(chosen).tags[EXPERIMENT_KIND_TAG] == "genai_development"


def test_each_split_is_a_dataset_input_with_its_context_digest_source_and_counts(store):
    client, run_id = new_run(store)
    send_dataset_records(client, run_id, training_dataset_records(meta(), "data/processed"))

    inputs = inputs_by_context(client, run_id)
    assert set(inputs) == {"training", "validation", "test"}
    train = inputs["training"]
    assert train.name == "char-train"
    assert train.digest == SHA["train"][:DIGEST_CHARS]
    assert train.source_type == "local"
    assert json.loads(train.source) == {"uri": "data/processed/train.bin"}
    profile = json.loads(train.profile)
    assert profile["tokens"] == 900 and profile["characters"] == 900 and profile["bytes"] == 1800
    assert profile["sha256"] == SHA["train"] and profile["corpus_sha256"] == "e" * 64
    assert inputs["validation"].digest == SHA["val"][:DIGEST_CHARS]


def test_an_empty_split_is_not_an_input_and_format_1_meta_gets_a_stable_digest(store):
    client, run_id = new_run(store)
    old = meta(files=False, test_tokens=0)
    send_dataset_records(client, run_id, training_dataset_records(old, "data/processed"))
    inputs = inputs_by_context(client, run_id)
    assert set(inputs) == {"training", "validation"}
    digest = split_dataset(old, "data/processed", "train").digest
    assert inputs["training"].digest == digest and len(digest) == DIGEST_CHARS
    assert split_dataset(meta(files=False, test_tokens=0), "elsewhere", "train").digest == digest
    assert split_dataset(meta(files=False), "data/processed", "val").digest != split_dataset(old, "x", "train").digest


def test_the_evaluation_records_the_splits_it_scored(store):
    client, run_id = new_run(store)
    send_dataset_records(client, run_id, training_dataset_records(meta(), "data/processed"))
    log_evaluated_splits(client, run_id, meta(), "data/processed", ["val", "test"])
    run = client.get_run(run_id)
    assert run.data.tags[EVAL_SPLITS_TAG] == "val,test"
    # MLflow keeps one input per dataset and run: the training's contexts stay.
    assert len(run.inputs.dataset_inputs) == 3

    # A run trained before datasets were logged: the scored splits come in as `evaluation`.
    client, old_run = new_run(store)
    log_evaluated_splits(client, old_run, meta(), "data/processed", ["val"])
    assert {ctx: ds.name for ctx, ds in inputs_by_context(client, old_run).items()} == {"evaluation": "char-val"}


def test_system_metrics_reach_the_run(store):
    pytest.importorskip("psutil", reason="MLflow's system-metrics monitor needs psutil")
    from gptlab.tracking.system_metrics import system_metrics

    client, run_id = new_run(store)
    with system_metrics(store, run_id, interval_s=0.2):
        time.sleep(1.0)
    keys = set(client.get_run(run_id).data.metrics)
    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= keys
    assert "system/disk_usage_percentage" in keys


def test_system_metrics_off_starts_no_monitor(store):
    from gptlab.tracking.system_metrics import start_system_metrics

    assert start_system_metrics(store, "some-run", None) is None
    assert start_system_metrics(store, "some-run", 0) is None
    assert start_system_metrics(store, None, 10) is None


@pytest.mark.slow
def test_a_trained_and_evaluated_run_has_all_of_it(built_data, workdir, tmp_path_factory):
    """The real train and evaluate stages: experiment kind, three dataset inputs with the
    split hashes of meta.json, the evaluated splits, and system metrics."""
    pytest.importorskip("psutil", reason="MLflow's system-metrics monitor needs psutil")
    from mlflow.tracking import MlflowClient

    from gptlab.dataset import load_meta

    copy_built(built_data, workdir)
    uri = new_mlflow_store(workdir, tmp_path_factory)
    common = ("experiment=smoke", "data=file", "data.path=corpus.txt", f"logger.tracking_uri={uri}")
    run_stage("train", *common, "train.sample_every_n_val=0", "trainer.max_steps=40",
              "logger.system_metrics_interval_s=0.5")  # fmt: skip
    run_stage("evaluate", *common)

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("gptlab")
    assert exp.tags[EXPERIMENT_KIND_TAG] == TRAINING_KIND
    (run,) = client.search_runs([exp.experiment_id])
    inputs = inputs_by_context(client, run.info.run_id)
    files = load_meta(workdir / "data/processed/meta.json").files
    assert {ctx: ds.digest for ctx, ds in inputs.items()} == {
        ctx: files[split]["sha256"][:DIGEST_CHARS] for split, ctx in (("train", "training"), ("val", "validation"),
                                                                     ("test", "test"))
    }  # fmt: skip
    assert json.loads(inputs["training"].source) == {"uri": "data/processed/train.bin"}
    assert run.data.tags[EVAL_SPLITS_TAG] == "val,test"
    assert any(k.startswith("system/cpu_utilization") for k in run.data.metrics)


def test_a_run_shorter_than_the_interval_still_gets_one_sample(store):
    from mlflow.tracking import MlflowClient

    from gptlab.tracking.system_metrics import system_metrics

    client = MlflowClient(store)
    exp = client.create_experiment("short")
    run_id = client.create_run(exp).info.run_id
    with system_metrics(store, run_id, interval_s=60):
        pass  # stopped long before the first interval ends
    metrics = client.get_run(run_id).data.metrics
    assert any(k.startswith("system/cpu_utilization") for k in metrics)


def test_stopping_the_monitor_is_bounded_when_the_server_stops_answering(monkeypatch, caplog):
    """A server that accepts connections and never answers: the end of the run does not wait
    for the monitor's requests (each bounded by MLflow's HTTP timeout) beyond END_WAIT_S."""
    pytest.importorskip("psutil", reason="MLflow's system-metrics monitor needs psutil")
    import socket

    from gptlab.tracking import system_metrics as sm

    monkeypatch.setattr(sm, "END_WAIT_S", 0.5)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        uri = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with sm.system_metrics(uri, "some-run", interval_s=0.05):
            time.sleep(0.3)  # the monitor's status check is waiting on the server now
            t0 = time.monotonic()
        assert time.monotonic() - t0 < 2.0  # not the 2 x 3 s of MLflow's request
    assert "did not answer within" in caplog.text
