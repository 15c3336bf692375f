"""The export stage: artifacts/model -> artifacts/hf, loaded by transformers, logged to the training run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gptlab import export
from gptlab.cli.app import user_errors
from gptlab.errors import ConfigError
from tests.helpers import compose
from tests.evaluation.pipeline_fixtures import (  # noqa: F401 - fixtures
    base_overrides,
    mlflow_overrides,
    pipeline_copy,
    save_random_model,
    trained_pipeline,
)

pytest.importorskip("transformers")


def test_defaults_export_the_pipelines_model_to_artifacts_hf():
    cfg = compose()
    assert cfg.export.model_dir == cfg.paths.model_dir == "artifacts/model"
    assert cfg.export.out_dir == "artifacts/hf"


def test_exports_a_directory_transformers_loads_and_logs_it_to_the_training_run(pipeline_copy):
    from mlflow.tracking import MlflowClient
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    from gptlab.checkpoint import load_model_dir

    summary = export.run(compose(*base_overrides(*mlflow_overrides(pipeline_copy))))
    out = pipeline_copy / "artifacts/hf"
    assert summary["out_dir"] == "artifacts/hf" and summary["architecture"] == "GPT2LMHeadModel"

    ours = load_model_dir(pipeline_copy / "artifacts/model")
    theirs = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    text = (pipeline_copy / "corpus.txt").read_text(encoding="utf-8")[:200]
    ids = tokenizer.encode(text)
    assert ids == ours.tokenizer.encode(text)
    idx = torch.tensor([ids[: ours.model.config.context_size]])
    with torch.no_grad():
        assert float((ours.model(idx)[0] - theirs(idx).logits).abs().max()) <= 1e-4
    generated = pipeline("text-generation", model=str(out), device="cpu")("ROMEO:", max_new_tokens=8, do_sample=False)
    assert generated[0]["generated_text"].startswith("ROMEO:")

    run_id = json.loads((pipeline_copy / "artifacts/model/config.json").read_text())["mlflow"]["run_id"]
    client = MlflowClient(f"sqlite:///{pipeline_copy / 'mlflow.db'}")
    logged = {Path(a.path).name for a in client.list_artifacts(run_id, "hf")}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= logged


def test_export_without_tracking_still_writes_the_directory(pipeline_copy):
    export.run(compose(*base_overrides("logger=none", "export.out_dir=elsewhere/hf")))
    assert (pipeline_copy / "elsewhere/hf/model.safetensors").is_file()


def _rmsnorm_model_dir(root: Path) -> Path:
    """A model directory of the pipeline's tokenizer whose model uses RMSNorm."""
    from gptlab.checkpoint import save_model_dir
    from gptlab.model import GPT
    from gptlab.tokenizer import load_tokenizer
    from tests.helpers import model_config

    tok = root / "artifacts/tokenizer/tokenizer.json"
    model = GPT(model_config("tiny", vocab_size=load_tokenizer(tok).vocab_size, norm="rmsnorm"))
    return save_model_dir(model, tok, root / "rms")


def test_unmappable_model_is_refused_and_nothing_is_written(pipeline_copy):
    rms = _rmsnorm_model_dir(pipeline_copy)
    with pytest.raises(ConfigError, match=r"rms cannot be exported to Hugging Face format: model.norm=rmsnorm"):
        export.run(compose(*base_overrides("logger=none", f"export.model_dir={rms}", "export.out_dir=out")))
    assert not (pipeline_copy / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("export.model_dir=nowhere",), "error: model directory not found: nowhere (train one first: dvc repro train)"),
        (("export.out_dir=artifacts/model",), "error: export.out_dir must differ from export.model_dir (artifacts/model)"),
        (("export.model_dir=rms",), "error: rms cannot be exported to Hugging Face format: model.norm=rmsnorm "
                                    "(GPT-2 and GPT-NeoX use LayerNorm)"),
    ],
)
def test_user_error_is_one_line_and_exit_code_2(pipeline_copy, capsys, args, message):
    # In-process, inside user_errors() as the CLI runs it (the CLI itself: the test below).
    _rmsnorm_model_dir(pipeline_copy)
    with pytest.raises(SystemExit) as info, user_errors():
        export.run(compose(*base_overrides("logger=none", *args)))
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [message]


def test_cli_user_error_is_one_line_and_exit_code_2(pipeline_copy, subprocess_env):
    proc = subprocess.run(
        [sys.executable, "-m", "gptlab.export", *base_overrides("logger=none", "export.model_dir=nowhere")],
        cwd=pipeline_copy, env=subprocess_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: model directory not found: nowhere (train one first: dvc repro train)"
    ]
