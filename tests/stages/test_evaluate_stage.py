"""The evaluate stage: metrics.json, the loss picture, and MLflow logging to the training run."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from gptlab import evaluate
from gptlab.errors import CheckpointError
from tests.helpers import compose
from tests.evaluation.pipeline_fixtures import (  # noqa: F401 - fixtures
    base_overrides,
    mlflow_overrides,
    pipeline_copy,
    trained_pipeline,
)

KEYS = {"loss", "perplexity", "bits_per_token", "bits_per_char", "tokens", "characters"}


def run_id(root: Path) -> str:
    return json.loads((root / "artifacts/model/config.json").read_text())["mlflow"]["run_id"]


def test_writes_metrics_and_loss_picture_and_logs_them_to_the_training_run(pipeline_copy):
    from mlflow.tracking import MlflowClient

    report = evaluate.run(compose(*base_overrides(*mlflow_overrides(pipeline_copy))))

    written = json.loads((pipeline_copy / "reports/metrics.json").read_text())
    assert written == report
    assert set(written) == {"val", "test"}
    meta = json.loads((pipeline_copy / "data/processed/meta.json").read_text())
    for split, values in written.items():
        assert set(values) == KEYS
        assert values["tokens"] == meta["tokens"][split] - 1
        assert values["bits_per_char"] == pytest.approx(
            values["loss"] * values["tokens"] / math.log(2) / values["characters"]
        )
    png = pipeline_copy / "reports/plots/loss.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    client = MlflowClient(tracking_uri=f"sqlite:///{pipeline_copy / 'mlflow.db'}")
    rid = run_id(pipeline_copy)
    logged = client.get_run(rid).data.metrics
    for split in ("val", "test"):
        for key in ("loss", "perplexity", "bits_per_token", "bits_per_char"):
            assert logged[f"eval/{split}_{key}"] == pytest.approx(written[split][key])
    # Logged at the model's last training step, next to its training curves.
    steps = {m.step for m in client.get_metric_history(rid, "eval/val_bits_per_char")}
    assert steps == {json.loads((pipeline_copy / "artifacts/model/config.json").read_text())["training"]["steps"]}
    assert "plots/loss.png" in [a.path for a in client.list_artifacts(rid, "plots")]
    assert client.search_registered_models() == []  # registering and promoting are the publish stage's


def test_loss_by_position_is_written_and_logged_as_a_series(pipeline_copy):
    from mlflow.tracking import MlflowClient

    report = evaluate.run(compose(*base_overrides(*mlflow_overrides(pipeline_copy), "evaluate.loss_by_position=true")))
    context = json.loads((pipeline_copy / "artifacts/model/config.json").read_text())["model"]["context_size"]
    written = json.loads((pipeline_copy / "reports/metrics.json").read_text())
    client = MlflowClient(tracking_uri=f"sqlite:///{pipeline_copy / 'mlflow.db'}")
    for split in ("val", "test"):
        at = written[split]["loss_by_position"]
        assert at == report[split]["loss_by_position"]
        assert len(at) == context and all(math.isfinite(v) and v > 0 for v in at)
        history = sorted(client.get_metric_history(run_id(pipeline_copy), f"eval/{split}_loss_at_position"), key=lambda m: m.step)
        assert [m.step for m in history] == list(range(context))
        assert [m.value for m in history] == pytest.approx(at)


def test_logging_off_leaves_the_run_alone(pipeline_copy):
    from mlflow.tracking import MlflowClient

    evaluate.run(compose(*base_overrides("logger=none")))
    assert (pipeline_copy / "reports/metrics.json").is_file()
    client = MlflowClient(tracking_uri=f"sqlite:///{pipeline_copy / 'mlflow.db'}")
    assert not any(k.startswith("eval/") for k in client.get_run(run_id(pipeline_copy)).data.metrics)


def test_stride_keeps_the_scored_counts(pipeline_copy):
    plain = evaluate.run(compose(*base_overrides("logger=none")))
    strided = evaluate.run(compose(*base_overrides("logger=none", "evaluate.stride=4")))
    for split in ("val", "test"):
        assert strided[split]["tokens"] == plain[split]["tokens"]
        assert strided[split]["characters"] == plain[split]["characters"]


def test_missing_model_is_a_checkpoint_error(pipeline_copy):
    with pytest.raises(CheckpointError, match="model directory not found"):
        evaluate.run(compose(*base_overrides("logger=none", "evaluate.model_dir=nowhere")))


def test_cli_user_error_is_one_line_and_exit_code_2(trained_pipeline, subprocess_env):
    proc = subprocess.run(
        [sys.executable, "-m", "gptlab.evaluate", *base_overrides("logger=none", "evaluate.batch_size=0")],
        cwd=trained_pipeline,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: evaluate.batch_size must be an integer >= 1, got 0"]


def test_a_store_without_the_run_is_skipped_with_a_warning(pipeline_copy, caplog):
    absent = pipeline_copy / "elsewhere.db"
    evaluate.run(compose(*base_overrides("logger=mlflow", f"logger.tracking_uri=sqlite:///{absent}")))
    assert (pipeline_copy / "reports/metrics.json").is_file()  # the report does not depend on MLflow
    assert "results not logged to MLflow" in caplog.text
    assert not absent.exists()  # no empty store left behind
