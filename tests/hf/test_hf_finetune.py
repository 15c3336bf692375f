"""Fine-tuning a Hugging Face GPT-2 directory through the real tokenize, build and train stages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gptlab.errors import ConfigError
from tests.helpers import SMALL_CORPUS, cli_exit_code, main_exit_code, one_error_line, run_stage

FINETUNE = (
    "experiment=finetune", "data=file", "data.path=corpus.txt", "logger=none",
    "trainer.max_steps=3", "trainer.val_check_interval=3", "trainer.limit_val_batches=2",
    "trainer.log_every_n_steps=1", "train.batch_size=4", "train.sample_every_n_val=0",
)  # fmt: skip


@pytest.fixture
def workspace(gpt2_built: Path, workdir: Path) -> Path:
    from tests.helpers import copy_built

    copy_built(gpt2_built, workdir)
    return gpt2_built / "gpt2"


def test_tokenize_copies_the_pretrained_tokenizer(gpt2_built):
    from gptlab.tokenizer import load_tokenizer
    from gptlab.tokenizer.pretrained import load_pretrained_tokenizer

    copied = load_tokenizer(gpt2_built / "artifacts/tokenizer/tokenizer.json")
    assert copied.kind == "bpe" and copied.vocab_size == 300
    assert copied.encode(SMALL_CORPUS) == load_pretrained_tokenizer(gpt2_built / "gpt2").encode(SMALL_CORPUS)
    meta = json.loads((gpt2_built / "data/processed/meta.json").read_text())
    assert meta["vocab_size"] == 300


def test_finetune_starts_from_the_pretrained_models_loss(workspace):
    from gptlab.checkpoint.model_dir import read_model_info
    from gptlab.io import sha256_file
    from tests.hf import finetune_probe

    finetune_probe.RESULTS.clear()
    probe = f"train.extra_callbacks=[{{_target_:tests.hf.finetune_probe.FirstStepProbe,pretrained:'{workspace}'}}]"
    report = run_stage("train", *FINETUNE, f"train.init_from={workspace}", probe)
    r = finetune_probe.RESULTS
    assert r["weights_equal"] == 1.0  # before the first step, the model holds the pretrained weights
    # Step 0 trains on the pretrained weights: its loss is the pretrained model's on that batch.
    assert r["train_step0"] == pytest.approx(r["train_imported"], abs=1e-5)
    assert r["train_step0"] == pytest.approx(r["train_transformers"], abs=1e-4)
    # And so is the validation loss before any step.
    assert r["val_trained_model"] == pytest.approx(r["val_transformers"], abs=1e-4)
    assert report["steps"] == 3
    info = read_model_info("artifacts/model")
    model = info["model"]
    assert (model["n_layer"], model["n_embd"], model["activation"]) == (2, 32, "gelu_tanh")  # the GPT-2's
    assert info["lineage"]["init_sha256"] == sha256_file(workspace / "model.safetensors")


def test_finetune_preset_lowers_lr_shortens_warmup_and_training():
    from tests.helpers import compose

    base, tuned = compose(), compose("experiment=finetune", "train.init_from=somewhere")
    assert tuned.optim.lr < base.optim.lr and tuned.optim.warmup_steps < base.optim.warmup_steps
    assert tuned.trainer.max_steps < base.trainer.max_steps
    assert tuned.tokenizer.kind == "pretrained" and tuned.tokenizer.path == "somewhere"


def test_model_config_is_the_checkpoints_and_dropout_stays_a_choice(workspace):
    from gptlab.training.init_from import model_config

    composed = {**_small_model(), "dropout": 0.25}
    config = model_config(composed, str(workspace), vocab_size=300, overridden=())
    assert (config.n_layer, config.n_embd, config.context_size, config.activation) == (2, 32, 32, "gelu_tanh")
    assert config.dropout == 0.25


def test_override_that_contradicts_the_checkpoint_names_both_values(workspace):
    from gptlab.training.init_from import model_config

    with pytest.raises(ConfigError, match=r"model\.n_layer=4 contradicts train\.init_from=.*whose n_layer is 2"):
        model_config(_small_model(), str(workspace), vocab_size=300, overridden={"n_layer"})
    # Given but equal to the checkpoint's: fine.
    model_config({**_small_model(), "n_layer": 2}, str(workspace), vocab_size=300, overridden={"n_layer"})


def test_dataset_of_another_vocabulary_is_refused(workspace):
    from gptlab.training.init_from import model_config

    with pytest.raises(ConfigError, match=r"vocabulary of 300 tokens, the dataset 65: .*tokenizer=pretrained"):
        model_config(_small_model(), str(workspace), vocab_size=65, overridden=())


def _small_model() -> dict:
    from tests.helpers import conf_values

    return conf_values("model", "model=small")


# ------------------------------------------------ one line, exit 2 (in-process, as the CLI runs the stage)


def _one_error_line(capsys: pytest.CaptureFixture, *args: str) -> str:
    assert cli_exit_code("train", *FINETUNE, *args) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _broken(kind: str, gpt2: Path, tmp: Path) -> Path:
    """A copy of the GPT-2 directory with one thing wrong."""
    import shutil

    if kind == "missing":
        return tmp / "nope"
    bad = tmp / kind
    shutil.copytree(gpt2, bad)
    config = json.loads((bad / "config.json").read_text())
    if kind == "no-weights":
        (bad / "model.safetensors").unlink()
    elif kind == "pickle-only":
        (bad / "model.safetensors").unlink()
        (bad / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    elif kind == "unknown-model-type":
        (bad / "config.json").write_text(json.dumps({**config, "model_type": "bert"}))
    elif kind == "vocab-mismatch":
        (bad / "config.json").write_text(json.dumps({**config, "vocab_size": 320}))
    return bad


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "error: pretrained model directory not found: "),
        ("no-weights", "has no model.safetensors: it holds no weights"),
        ("pickle-only", "holds its weights only as pytorch_model.bin, a pickle"),
        ("unknown-model-type", "model_type 'bert' cannot be imported"),
        ("vocab-mismatch", "has 300 tokens but the model's vocab_size is 320"),
    ],
)
def test_bad_pretrained_directory_is_one_line_and_exit_2(workspace, workdir, capsys, kind, message):
    bad = _broken(kind, workspace, workdir)
    assert message in _one_error_line(capsys, f"train.init_from={bad}")
    assert not (workdir / "artifacts/train").exists()


def test_contradicting_override_on_the_command_line_is_one_line_and_exit_2(workspace, workdir, capsys, monkeypatch):
    # Through main(): only Hydra's command line tells which model keys were given.
    code = main_exit_code(monkeypatch, "train", *FINETUNE, f"train.init_from={workspace}", "model.n_layer=3")
    assert code == 2
    one_error_line(capsys.readouterr().err, "model.n_layer=3 contradicts train.init_from=", "whose n_layer is 2")
    assert not (workdir / "artifacts/train").exists()


def test_lora_on_an_imported_gpt2_trains_only_adapters_and_exports_merged(workspace, caplog):
    """train.lora.r on a Hugging Face GPT-2 (imported into gptlab's GPT): the adapters on the
    attention and feed-forward projections train, the rest stays the GPT-2's; the merged
    model directory exports back to a GPT-2 that transformers runs."""
    pytest.importorskip("peft")
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from gptlab.checkpoint import load_model_dir

    caplog.set_level("INFO", logger="gptlab")
    targets = "train.lora.target_modules=[qkv,out_proj,up_proj,down_proj]"
    report = run_stage("train", *FINETUNE, f"train.init_from={workspace}", "train.lora.r=2", targets)
    assert 0 < report["trainable_params"] < report["params"] / 10
    assert any(r.getMessage().startswith("LoRA r=2 alpha=16 on qkv, out_proj, up_proj, down_proj: ")
               for r in caplog.records)  # fmt: skip
    # Frozen: the embeddings and layer norms are still the GPT-2's own.
    imported = AutoModelForCausalLM.from_pretrained(workspace)
    weights = load_file("artifacts/model/model.safetensors")
    wte = next(v for k, v in weights.items() if k.endswith("tok_emb.weight") or k.endswith("wte.weight"))
    assert torch.equal(wte, imported.transformer.wte.weight.detach())
    assert not any("lora_" in k for k in weights)

    run_stage("export", *FINETUNE)
    hf = AutoModelForCausalLM.from_pretrained("artifacts/hf").eval()
    loaded = load_model_dir("artifacts/model")
    x = torch.tensor([loaded.tokenizer.encode(SMALL_CORPUS[:40])])
    with torch.no_grad():
        torch.testing.assert_close(hf(x).logits, loaded.model(x)[0], rtol=0, atol=1e-4)
