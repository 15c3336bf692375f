"""The LoRA variant of the README's fine-tuning example through DVC, in a temporary copy of
the repository: ``dvc exp run -S experiment=finetune -S train.init_from=... -S train.lora.r=8``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import SMALL_CORPUS, model_config, new_mlflow_store, tokenizer_config
from tests.pipeline.test_dvc_pipeline import _dvc, _ran, repo_copy  # noqa: F401 - repo_copy is a fixture


def save_pretrained(path: Path) -> Path:
    """A tiny gptlab model directory (random weights, char tokenizer) to fine-tune."""
    import torch

    from gptlab.checkpoint import save_model_dir
    from gptlab.model import GPT
    from gptlab.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(tokenizer_config("char"), SMALL_CORPUS)
    tok_file = path.parent / "pretrained-tokenizer.json"
    tokenizer.save(tok_file)
    torch.manual_seed(0)
    return save_model_dir(GPT(model_config("tiny", vocab_size=tokenizer.vocab_size)), tok_file, path)


@pytest.mark.slow
def test_dvc_exp_run_lora_finetune_runs_the_whole_pipeline(repo_copy, subprocess_env, tmp_path_factory):  # noqa: F811
    from mlflow.tracking import MlflowClient

    env = dict(subprocess_env, GPTLAB_CONF_DIR=str(repo_copy / "conf"))
    new_mlflow_store(repo_copy, tmp_path_factory)
    save_pretrained(repo_copy / "pretrained")
    res = _dvc(
        ["exp", "run", "-S", "experiment=finetune", "-S", "train.init_from=pretrained", "-S", "train.lora.r=8",
         "-S", "data=file", "-S", "data.path=corpus.txt", "-S", "trainer.max_steps=10",
         "-S", "trainer.val_check_interval=5", "-S", "logger.tracking_uri=sqlite:///mlflow.db"],
        repo_copy, env,
    )  # fmt: skip
    assert _ran(res) == ["prepare", "tokenize", "build", "train", "evaluate", "sample"]
    for stage in ("publish", "export"):
        assert f"Running stage '{stage}'" in res.stdout
    report = json.loads((repo_copy / "reports/train.json").read_text())
    assert report["steps"] == 10 and 0 < report["trainable_params"] < report["params"]
    info = json.loads((repo_copy / "artifacts/model/config.json").read_text())
    assert info["lora"]["r"] == 8 and info["lora"]["model_dir"] == "merged"
    assert (repo_copy / "artifacts/hf/model.safetensors").is_file()
    assert json.loads((repo_copy / "reports/metrics.json").read_text())["val"]["bits_per_char"] > 0

    client = MlflowClient(f"sqlite:///{repo_copy}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("gptlab").experiment_id])
    assert run.data.params["train.lora.r"] == "8"
    assert run.data.metrics["model/trainable_params"] == report["trainable_params"]
