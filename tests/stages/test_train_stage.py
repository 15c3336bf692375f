"""The train stage on a tiny model: outputs, MLflow, resume, precision and user errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gptlab.errors import CheckpointError, ConfigError, DataError, GptlabError
from tests.helpers import copy_built, run_stage

SMOKE = ("experiment=smoke", "data=file", "data.path=corpus.txt", "train.sample_every_n_val=0")


@pytest.fixture
def built(built_data, workdir) -> Path:
    return copy_built(built_data, workdir)


def _mlflow(uri: str) -> tuple[str, ...]:
    # System metrics off: tests/tracking tests them; here the sampler thread only costs time.
    return (f"logger.tracking_uri={uri}", "logger.experiment_name=test", "logger.system_metrics_interval_s=0")


def test_train_writes_reports_and_a_loadable_model_dir(built, caplog, capsys):
    from gptlab.checkpoint import load_model_dir

    caplog.set_level("INFO", logger="gptlab")
    report = run_stage("train", *SMOKE, "logger=none")
    summary = [r.getMessage() for r in caplog.records if r.getMessage().startswith("model: ")]
    assert len(summary) == 1 and f"{report['params'] / 1e6:.2f}M parameters" in summary[0]
    assert "Total FLOPs" not in capsys.readouterr().out  # Lightning's table, which says 0
    saved = json.loads((built / "reports/train.json").read_text())
    assert saved.pop("model") == report["model"]  # the model config that trained (approx takes no nested dict)
    assert saved == pytest.approx({k: v for k, v in report.items() if k != "model"}, nan_ok=True)
    for key in ("val_loss", "train_loss", "steps", "tokens_per_s", "wall_s"):
        assert key in saved
    assert saved["steps"] == 30 and saved["tokens_seen"] == 30 * 8 * 32
    assert (built / "artifacts/train/checkpoints/last.ckpt").is_file()
    assert (built / "artifacts/train/checkpoints/best.ckpt").is_file()
    assert (built / "reports/plots/train_loss.csv").read_text().startswith("step,train_loss\n")

    loaded = load_model_dir(built / "artifacts/model")
    assert loaded.model.config.n_layer == 1
    assert loaded.tokenizer.vocab_size == loaded.model.config.vocab_size


def test_training_lowers_the_loss(built):
    report = run_stage("train", *SMOKE, "logger=none", "trainer.max_steps=60", "optim.lr=3e-3")
    rows = (built / "reports/plots/train_loss.csv").read_text().splitlines()[1:]
    first = float(rows[0].split(",")[1])
    assert report["train_loss"] < first - 0.5


def test_mlflow_run_has_config_metrics_tags_and_artifacts(built, mlflow_store):
    from mlflow.tracking import MlflowClient

    report = run_stage("train", *SMOKE, *_mlflow(mlflow_store))
    client = MlflowClient(mlflow_store)
    exp = client.get_experiment_by_name("test")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.data.params["model.n_layer"] == "1"
    assert run.data.params["trainer.max_steps"] == "30"
    assert run.data.tags["corpus_sha256"] and run.data.tags["tokenizer_sha256"]
    assert "git_commit" in run.data.tags
    assert run.data.metrics["val/loss"] == pytest.approx(report["val_loss"], rel=1e-5)
    assert len(client.get_metric_history(run.info.run_id, "train/loss")) >= 3
    top = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "model", "plots", "tokenizer"} <= top
    model_files = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "model")}
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= model_files


def test_resume_last_continues_steps_and_the_mlflow_run(built, mlflow_store):
    from mlflow.tracking import MlflowClient

    run_stage("train", *SMOKE, *_mlflow(mlflow_store), "trainer.max_steps=20")
    first_run = json.loads((built / "artifacts/train/run.json").read_text())["run_id"]
    report = run_stage("train", *SMOKE, *_mlflow(mlflow_store), "trainer.max_steps=30", "train.resume=last")
    assert report["steps"] == 30
    assert json.loads((built / "artifacts/train/run.json").read_text())["run_id"] == first_run
    client = MlflowClient(mlflow_store)
    runs = client.search_runs([client.get_experiment_by_name("test").experiment_id])
    assert len(runs) == 1


def test_resume_last_without_checkpoint_starts_from_scratch(built, caplog):
    report = run_stage("train", *SMOKE, "logger=none", "train.resume=last")
    assert report["steps"] == 30
    assert "starting from scratch" in caplog.text


def test_resume_from_missing_or_corrupt_checkpoint_is_refused(built):
    with pytest.raises(CheckpointError, match="not found"):
        run_stage("train", *SMOKE, "logger=none", "train.resume=nope.ckpt")
    bad = built / "bad.ckpt"
    bad.write_bytes(b"\x80\x04garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        run_stage("train", *SMOKE, "logger=none", f"train.resume={bad}")


def test_resume_with_a_different_model_config_is_refused(built):
    run_stage("train", *SMOKE, "logger=none", "trainer.max_steps=10")
    with pytest.raises(CheckpointError, match="n_layer"):
        run_stage("train", *SMOKE, "logger=none", "model.n_layer=2", "train.resume=last")


def test_bf16_mixed_on_cpu(built):
    report = run_stage(
        "train", *SMOKE, "logger=none", "trainer.accelerator=cpu", "trainer.precision=bf16-mixed", "trainer.max_steps=10"
    )
    assert math.isfinite(report["val_loss"])


def test_absurd_learning_rate_stops_with_a_clear_message(built):
    with pytest.raises(GptlabError, match=r"loss is (nan|inf).*step \d+.*bf16-mixed"):
        run_stage(
            "train", *SMOKE, "logger=none", "optim.lr=1e9", "optim.warmup_steps=0", "optim.min_lr=0",
            "trainer.gradient_clip_val=null", "trainer.max_steps=200",
        )


def test_context_larger_than_the_data_is_a_clear_error(built):
    with pytest.raises(DataError, match="context_size"):
        run_stage("train", *SMOKE, "logger=none", "model.context_size=100000")


def test_a_gpu_request_without_a_gpu_is_a_config_error(built):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="trainer"):
        run_stage("train", *SMOKE, "logger=none", "trainer.accelerator=gpu")


def test_unreachable_tracking_server_fails_before_training(built):
    with pytest.raises(ConfigError, match=r"127\.0\.0\.1:9.*cannot be reached"):
        run_stage("train", *SMOKE, "logger.tracking_uri=http://user:secret@127.0.0.1:9")
    assert not (built / "artifacts/train").exists()


def test_credentials_are_redacted():
    from gptlab.tracking import redact_uri

    assert redact_uri("https://alice:s3cret@mlflow.example:5000/x") == "https://***@mlflow.example:5000/x"
    assert redact_uri("sqlite:///mlflow.db") == "sqlite:///mlflow.db"


def test_compiled_module_keeps_plain_checkpoint_keys():
    from gptlab.training.config import OptimConfig
    from gptlab.training.module import GPTLightningModule
    from tests.helpers import conf_section, model_config

    cfg = model_config("tiny", vocab_size=11, context_size=8, n_layer=1, n_head=2, n_embd=8)
    optim = conf_section(OptimConfig, "optim")
    compiled = GPTLightningModule(cfg, optim, 10, compile=True)
    compiled.configure_model()
    plain = GPTLightningModule(cfg, optim, 10, compile=False)
    assert compiled._compiled is not None
    assert list(compiled.state_dict()) == list(plain.state_dict())
    plain.load_state_dict(compiled.state_dict())
    compiled.load_state_dict(plain.state_dict())


@pytest.mark.slow
@pytest.mark.parametrize("model", [(), ("model=lstm", "model.n_embd=32", "model.n_layer=2")], ids=["gpt", "lstm"])
def test_ddp_on_two_cpu_processes_makes_one_run_with_twice_the_tokens(built, mlflow_store, subprocess_env, model):
    from mlflow.tracking import MlflowClient

    res = subprocess.run(
        [sys.executable, "-m", "gptlab.train", *SMOKE, *model, *_mlflow(mlflow_store), "trainer.max_steps=10",
         "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp"],
        cwd=built, env=subprocess_env, capture_output=True, text=True, timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "LeafSpec" not in res.stderr  # the CLI silences Lightning's pytree deprecation
    report = json.loads((built / "reports/train.json").read_text())
    assert report["world_size"] == 2
    context = json.loads((built / "artifacts/model/config.json").read_text())["model"]["context_size"]
    assert report["tokens_seen"] == 10 * 8 * context * 2  # 10 steps of batch 8 on each of 2 ranks
    client = MlflowClient(mlflow_store)
    assert len(client.search_runs([client.get_experiment_by_name("test").experiment_id])) == 1


def test_n_embd_not_divisible_by_n_head_is_a_clear_error(built):
    from gptlab.errors import ModelConfigError

    with pytest.raises(ModelConfigError, match="n_embd.*n_head"):
        run_stage("train", *SMOKE, "logger=none", "model.n_embd=30", "model.n_head=4")


def test_more_cpu_devices_than_cores_is_a_config_error(built):
    import os

    with pytest.raises(ConfigError, match="CPU cores"):
        run_stage("train", *SMOKE, "logger=none", "trainer.accelerator=cpu", f"trainer.devices={(os.cpu_count() or 1) + 1}")


def test_a_tokenizer_that_does_not_match_the_dataset_is_refused(built):
    run_stage("tokenize", "data=file", "data.path=corpus.txt", "tokenizer=bpe", "tokenizer.vocab_size=300")
    with pytest.raises(DataError, match="rebuild the dataset"):
        run_stage("train", *SMOKE, "logger=none")


def test_resume_on_different_data_is_refused(built):
    run_stage("train", *SMOKE, "logger=none", "trainer.max_steps=10")
    # New corpus text -> new corpus hash; rebuild everything, then try to resume.
    (built / "corpus.txt").write_text((built / "data/raw/corpus.txt").read_text() + "\nEXTRA:\nMore words here.\n")
    for stage in ("prepare", "tokenize", "build"):
        run_stage(stage, "data=file", "data.path=corpus.txt")
    with pytest.raises(CheckpointError, match="different (corpus|tokenizer)"):
        run_stage("train", *SMOKE, "logger=none", "train.resume=last")


def test_model_dir_records_corpus_tokenizer_and_config_hashes(built):
    run_stage("train", *SMOKE, "logger=none", "trainer.max_steps=5")
    info = json.loads((built / "artifacts/model/config.json").read_text())
    assert set(info["lineage"]) >= {"corpus_sha256", "tokenizer_sha256", "config_sha256"}
    assert all(len(info["lineage"][k]) == 64 for k in ("corpus_sha256", "tokenizer_sha256", "config_sha256"))
