"""A LoRA fine-tune through the train stage (in-process): from a tiny pretrained gptlab
model to new text, then resume, the model directory in both modes, evaluate and export."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from gptlab.errors import CheckpointError
from tests.helpers import SMALL_CORPUS, cli_exit_code, copy_built, one_error_line, run_stage

pytest.importorskip("peft")

SMOKE = ("experiment=smoke", "data=file", "data.path=corpus.txt", "train.sample_every_n_val=0", "logger=none")
# The fine-tune: the pretrained model's config and tokenizer, 30 steps at a rate LoRA likes.
FINETUNE = (
    "experiment=finetune", "data=file", "data.path=corpus.txt", "logger=none", "train.sample_every_n_val=0",
    "trainer.max_steps=30", "trainer.val_check_interval=10", "trainer.limit_val_batches=2", "train.batch_size=8",
    "optim.lr=1e-2", "optim.min_lr=1e-3", "optim.warmup_steps=0", "train.lora.r=4",
)  # fmt: skip


@pytest.fixture(scope="module")
def pretrained(built_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny gptlab model trained on the small corpus (read-only)."""
    root = copy_built(built_data, tmp_path_factory.mktemp("lora-pretrain"))
    with contextlib.chdir(root):
        run_stage("train", *SMOKE, "trainer.max_steps=40", "optim.lr=3e-3")
    return root / "artifacts/model"


@pytest.fixture(scope="module")
def new_text(pretrained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """New text for it (every line reversed: the same characters, other statistics),
    encoded with its tokenizer (tokenizer=pretrained), read-only."""
    root = tmp_path_factory.mktemp("lora-data")
    text = "\n".join(line[::-1] for line in SMALL_CORPUS.splitlines()) + "\n"
    (root / "corpus.txt").write_text(text * 4, encoding="utf-8")
    with contextlib.chdir(root):
        for stage in ("prepare", "tokenize", "build"):
            run_stage(stage, *FINETUNE, f"train.init_from={pretrained}")
    return root


@pytest.fixture
def work(new_text: Path, workdir: Path) -> Path:
    return copy_built(new_text, workdir)


def val_loss(model_dir: Path | str) -> float:
    run_stage("evaluate", *FINETUNE, f"evaluate.model_dir={model_dir}", "evaluate.splits=[val]")
    return json.loads(Path("reports/metrics.json").read_text())["val"]["loss"]


def load_model_dir_tokenizer(model_dir: Path | str):
    from gptlab.tokenizer import load_tokenizer

    return load_tokenizer(Path(model_dir) / "tokenizer.json")


def logits(model_dir: Path | str) -> torch.Tensor:
    from gptlab.checkpoint import load_model_dir

    loaded = load_model_dir(model_dir)
    x = torch.tensor([loaded.tokenizer.encode("ROMEO: O Juliet, my sun!")])
    with torch.no_grad():
        return loaded.model(x)[0]


def test_lora_finetune_lowers_the_val_loss_and_leaves_a_plain_model(work, pretrained, caplog):
    from gptlab.checkpoint.model_dir import read_model_info
    from gptlab.io import sha256_file

    caplog.set_level("INFO", logger="gptlab")
    before = val_loss(pretrained)
    report = run_stage("train", *FINETUNE, f"train.init_from={pretrained}")
    after = val_loss("artifacts/model")
    assert after < before - 0.05, (before, after)

    # Only the adapters trained: the log line, the report, the optimizer state in the checkpoint.
    line = [r.getMessage() for r in caplog.records if r.getMessage().startswith("LoRA r=4 alpha=16 on qkv, out_proj: ")]
    assert len(line) == 1 and f"{report['trainable_params']:,} of " in line[0]
    assert 0 < report["trainable_params"] < report["params"] / 10
    ckpt = torch.load("artifacts/train/checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    adapters = [k for k in ckpt["state_dict"] if ".lora_A." in k or ".lora_B." in k]
    assert len(adapters) == 2 * 2  # A and B on qkv and out_proj of the one block
    assert len(ckpt["optimizer_states"][0]["state"]) == len(adapters)
    assert ckpt["hyper_parameters"]["lora"]["r"] == 4

    # The model directory holds the merged weights: a plain model, with the LoRA settings and the base's sha256.
    info = read_model_info("artifacts/model")
    assert info["lora"] == {"r": 4, "alpha": 16, "dropout": 0.0, "target_modules": ["qkv", "out_proj"],
                            "model_dir": "merged"}  # fmt: skip
    assert info["lineage"]["init_sha256"] == sha256_file(pretrained / "model.safetensors")
    from safetensors.torch import load_file

    assert not any("lora_" in k or "base_layer" in k for k in load_file("artifacts/model/model.safetensors"))
    # ...and beside them the adapter as trained, in peft's format (the run logs it as adapter/).
    peft_config = json.loads(Path("artifacts/model/peft/adapter_config.json").read_text())
    assert (peft_config["r"], peft_config["lora_alpha"], peft_config["base_model_name_or_path"]) == (4, 16, str(pretrained))
    assert len(load_file("artifacts/model/peft/adapter_model.safetensors")) == len(adapters)

    # It exports to Hugging Face format like any model, and transformers gives its logits.
    run_stage("export", *FINETUNE)
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained("artifacts/hf").eval()
    from gptlab.checkpoint import load_model_dir

    loaded = load_model_dir("artifacts/model")
    x = torch.tensor([loaded.tokenizer.encode("ROMEO: O Juliet, my sun!")])
    with torch.no_grad():
        torch.testing.assert_close(hf(x).logits, loaded.model(x)[0], rtol=0, atol=1e-4)


def test_lora_resume_is_bitwise_exact(work, pretrained):
    # A constant learning rate, so that the run stopped at step 6 (max_steps=6) followed the
    # same schedule as the straight one.
    args = (*FINETUNE, f"train.init_from={pretrained}", "trainer.max_steps=12", "trainer.val_check_interval=6",
            "optim.min_lr=1e-2")  # fmt: skip
    run_stage("train", *args, "paths.train_dir=straight")
    run_stage("train", *args, "paths.train_dir=halves", "trainer.max_steps=6")
    run_stage("train", *args, "paths.train_dir=halves", "train.resume=last")
    a, b = (torch.load(f"{run}/checkpoints/last.ckpt", map_location="cpu", weights_only=True)
            for run in ("straight", "halves"))  # fmt: skip
    assert a["global_step"] == b["global_step"] == 12
    assert list(a["state_dict"]) == list(b["state_dict"])
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    for key, value in a["optimizer_states"][0]["state"].items():
        for name, tensor in value.items():
            assert torch.equal(tensor, b["optimizer_states"][0]["state"][key][name]), (key, name)


def test_resume_with_other_lora_settings_is_refused(work, pretrained):
    args = (*FINETUNE, f"train.init_from={pretrained}", "trainer.max_steps=4")
    run_stage("train", *args)
    with pytest.raises(CheckpointError, match=r"was trained with LoRA .*'r': 4.*the config says .*'r': 8"):
        run_stage("train", *args, "train.lora.r=8", "train.resume=last")
    with pytest.raises(CheckpointError, match=r"the config says off"):
        run_stage("train", *args, "train.lora.r=null", "train.resume=last")


def test_adapter_model_dir_loads_its_base_and_refuses_a_changed_one(work, pretrained, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    from gptlab.checkpoint.model_dir import read_model_info

    args = (*FINETUNE, "trainer.max_steps=10")
    base = tmp_path / "base"
    shutil.copytree(pretrained, base)
    run_stage("train", *args, f"train.init_from={pretrained}", "paths.model_dir=merged")
    run_stage("train", *args, f"train.init_from={base}", "paths.model_dir=adapter", "train.lora.model_dir=adapter")
    files = sorted(p.name for p in Path("adapter").iterdir())
    # peft/: the adapter in peft's format (tests/hf/test_peft_adapter.py)
    assert files == ["adapter.safetensors", "config.json", "peft", "tokenizer.json"]
    info = read_model_info("adapter")
    assert info["lineage"]["init_from"] == str(base) and info["lora"]["model_dir"] == "adapter"
    assert all(".lora_" in k for k in load_file("adapter/adapter.safetensors"))
    # The same training, so the same model: the base plus the adapter, merged on load.
    torch.testing.assert_close(logits("adapter"), logits("merged"), rtol=0, atol=1e-6)
    assert val_loss("adapter") == pytest.approx(val_loss("merged"), abs=1e-6)
    # export: on a gptlab base, the base's Hugging Face model is written too (base/), for the adapter.
    run_stage("export", *FINETUNE, "export.model_dir=adapter")
    assert {"base", "adapter"} <= {p.name for p in Path("artifacts/hf").iterdir()}
    assert json.loads(Path("artifacts/hf/adapter/adapter_config.json").read_text())["base_model_name_or_path"] == (
        "artifacts/hf/base"
    )
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base_hf = AutoModelForCausalLM.from_pretrained("artifacts/hf/base")
    peft_model = PeftModel.from_pretrained(base_hf, "artifacts/hf/adapter")
    ids = torch.tensor([load_model_dir_tokenizer("adapter").encode("ROMEO: O Juliet, my sun!")])
    with torch.no_grad():
        torch.testing.assert_close(peft_model.eval()(ids).logits, logits("adapter"), rtol=0, atol=1e-5)

    # The base's weights change: refused, one line, exit 2.
    state = load_file(base / "model.safetensors")
    state["tok_emb.weight"][0, 0] += 1.0
    save_file(state, base / "model.safetensors")
    assert cli_exit_code("evaluate", *FINETUNE, "evaluate.model_dir=adapter", "evaluate.splits=[val]") == 2
    one_error_line(capsys.readouterr().err, "is a LoRA adapter for", "its sha256 differs")


def frozen_weights_kept(model_dir: str, pretrained: Path) -> None:
    """A merged LoRA model keeps every weight LoRA does not target (embeddings, norms, MLP)."""
    from safetensors.torch import load_file

    base, tuned = load_file(pretrained / "model.safetensors"), load_file(Path(model_dir) / "model.safetensors")
    assert set(base) == set(tuned)
    frozen = [k for k in base if not any(t in k for t in ("qkv", "out_proj"))]
    assert frozen and all(torch.equal(base[k], tuned[k]) for k in frozen)
    assert any(not torch.equal(base[k], tuned[k]) for k in base if "qkv" in k)  # the adapters moved these


def test_lora_under_bf16_mixed_trains_only_the_adapters(work, pretrained):
    report = run_stage("train", *FINETUNE, f"train.init_from={pretrained}", "trainer.precision=bf16-mixed",
                       "trainer.max_steps=10")  # fmt: skip
    assert report["steps"] == 10 and 0 < report["trainable_params"] < report["params"] / 10
    frozen_weights_kept("artifacts/model", pretrained)


@pytest.mark.slow
def test_lora_under_ddp_on_two_cpu_processes(work, pretrained, subprocess_env):
    import subprocess
    import sys

    res = subprocess.run(
        [sys.executable, "-m", "gptlab.train", *FINETUNE, f"train.init_from={pretrained}", "trainer.max_steps=10",
         "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp"],
        env=subprocess_env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(Path("reports/train.json").read_text())
    assert report["world_size"] == 2 and 0 < report["trainable_params"] < report["params"] / 10
    frozen_weights_kept("artifacts/model", pretrained)
