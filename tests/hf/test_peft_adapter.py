"""A LoRA adapter in peft's own format, checked with the real transformers + peft: gptlab's
adapter exported and loaded by ``PeftModel.from_pretrained``, and peft's adapter imported
(``train.lora.init_adapter``), on GPT-2 (Conv1D, fan_in_fan_out) and GPT-NeoX (rope)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from gptlab.errors import ConfigError
from tests.helpers import conf_values
from tests.hf.conftest import random_model, save_hf_gpt2

pytest.importorskip("peft")

ATTENTION = ("qkv", "out_proj")
BOTH = ("qkv", "out_proj", "up_proj", "down_proj")
HF_TARGETS = {  # the same modules, as peft's users name them on each Hugging Face model
    ("gpt2", ATTENTION): ["c_attn", "attn.c_proj"], ("gpt2", BOTH): ["c_attn", "c_proj", "c_fc"],
    ("neox", ATTENTION): ["query_key_value", "dense"],
    ("neox", BOTH): ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
}  # fmt: skip


def lora_config(targets=ATTENTION, **values):
    """``train.lora`` as the train stage has it (TrainConfig: with init_adapter, read when adapters go in)."""
    from gptlab.config import to_dataclass
    from gptlab.training.config import TrainConfig

    lora = {**conf_values("train.lora"), "r": 4, "alpha": 8.0, "target_modules": list(targets), **values}
    return to_dataclass(TrainConfig, {**conf_values("train"), "lora": lora}, "train").lora


def adapted(vocab_size: int, targets, **overrides):
    """(base GPT, the same with LoRA adapters of random, non-zero weights)."""
    from gptlab.model.lora import add_lora

    base = random_model(vocab_size, **overrides)
    model = add_lora(copy.deepcopy(base), lora_config(targets))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".lora_" in name:
                p.normal_(0.0, 0.3)
    return base, model.eval()


def hf_logits(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(ids).logits


@pytest.mark.parametrize("family", ["gpt2", "neox"])
@pytest.mark.parametrize("targets", [ATTENTION, BOTH], ids=["attention", "attention+mlp"])
def test_exported_adapter_loads_in_peft_with_the_merged_models_logits(family, targets, char_tokenizer, tmp_path):
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from gptlab.checkpoint.peft_adapter import CONFIG, WEIGHTS, write_peft_adapter
    from gptlab.hf.export import write_hf_dir
    from gptlab.model.lora import lora_record, merged_model

    pos = {"pos_encoding": "rope"} if family == "neox" else {}
    base, model = adapted(char_tokenizer.vocab_size, targets, **pos)
    merged = merged_model(model)
    write_hf_dir(base, char_tokenizer, tmp_path / "base")
    write_hf_dir(merged, char_tokenizer, tmp_path / "merged")
    write_peft_adapter(model, lora_record(lora_config(targets)), str(tmp_path / "base"), tmp_path / "adapter")

    settings = json.loads((tmp_path / "adapter" / CONFIG).read_text())
    assert settings["r"] == 4 and settings["lora_alpha"] == 8.0 and settings["fan_in_fan_out"] == (family == "gpt2")
    assert settings["base_model_name_or_path"] == str(tmp_path / "base")
    qkv = "transformer.h.1.attn.c_attn" if family == "gpt2" else "gpt_neox.layers.1.attention.query_key_value"
    keys = load_file(tmp_path / "adapter" / WEIGHTS)
    assert f"base_model.model.{qkv}.lora_B.weight" in keys and len(keys) == 2 * 2 * len(targets)

    ids = torch.tensor([char_tokenizer.encode("ROMEO: O Juliet")])
    with torch.no_grad():
        expected = merged(ids)[0]
    base_hf = AutoModelForCausalLM.from_pretrained(tmp_path / "base")
    peft_model = PeftModel.from_pretrained(base_hf, tmp_path / "adapter")
    assert (hf_logits(peft_model.eval(), ids) - expected).abs().max() <= 1e-5
    merged_hf = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    unloaded = peft_model.merge_and_unload().eval()
    assert (hf_logits(unloaded, ids) - hf_logits(merged_hf, ids)).abs().max() <= 1e-5
    assert (hf_logits(merged_hf, ids) - expected).abs().max() <= 1e-5


def peft_adapter_on(base_dir: Path, out: Path, targets: list[str], fan_in_fan_out: bool, r: int = 4) -> torch.nn.Module:
    """An adapter made by peft itself on the Hugging Face model at ``base_dir``: a few training
    steps (so lora_B is not zero), saved by peft to ``out``; returns the peft model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_dir)
    lora = LoraConfig(r=r, lora_alpha=8, target_modules=targets, fan_in_fan_out=fan_in_fan_out, task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, lora)
    optim = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=5e-2)
    torch.manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size, (2, 12))
    for _ in range(3):
        loss = peft_model(input_ids=ids, labels=ids).loss
        loss.backward()
        optim.step()
        optim.zero_grad()
    peft_model.save_pretrained(out)
    return peft_model.eval()


def gptlab_with_init_adapter(base_dir: Path, lora) -> torch.nn.Module:
    from gptlab.checkpoint.pretrained import load_pretrained, read_pretrained
    from gptlab.model import GPT
    from gptlab.model.lora import add_lora

    pre = read_pretrained(base_dir)
    return add_lora(load_pretrained(GPT(pre.config), pre), lora).eval()


@pytest.mark.parametrize("family", ["gpt2", "neox"])
@pytest.mark.parametrize("targets", [ATTENTION, BOTH], ids=["attention", "attention+mlp"])
def test_a_peft_adapter_starts_gptlabs_adapters_with_its_logits(family, targets, char_tokenizer, tmp_path):
    from gptlab.hf.export import write_hf_dir

    if family == "gpt2":
        base = save_hf_gpt2(tmp_path / "base")
    else:
        rope = random_model(char_tokenizer.vocab_size, pos_encoding="rope")
        base = write_hf_dir(rope, char_tokenizer, tmp_path / "base")
    theirs = peft_adapter_on(base, tmp_path / "adapter", HF_TARGETS[family, targets], family == "gpt2")
    mine = gptlab_with_init_adapter(base, lora_config(targets, init_adapter=str(tmp_path / "adapter")))
    ids = torch.tensor([[5, 3, 9, 1, 2, 7, 4]])
    with torch.no_grad():
        assert (mine(ids)[0] - hf_logits(theirs, ids)).abs().max() <= 1e-5


def one_line(exc: pytest.ExceptionInfo) -> str:
    assert "\n" not in str(exc.value), str(exc.value)
    return str(exc.value)


def test_an_adapter_of_another_base_or_target_or_settings_is_one_line(char_tokenizer, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from gptlab.training.lora import check_lora_settings

    base = save_hf_gpt2(tmp_path / "base")
    other = save_hf_gpt2(tmp_path / "other", n_embd=16)
    peft_adapter_on(base, tmp_path / "adapter", ["c_attn"], True)
    peft_adapter_on(base, tmp_path / "head", ["c_attn", "lm_head"], True)
    lora = lora_config(("qkv",), init_adapter=str(tmp_path / "adapter"))
    check_lora_settings(lora, str(base))  # fits

    with pytest.raises(ConfigError) as exc:
        check_lora_settings(lora, str(other))
    assert "is an adapter for another base" in one_line(exc)
    with pytest.raises(ConfigError) as exc:
        check_lora_settings(lora_config(("qkv",), init_adapter=str(tmp_path / "head")), str(base))
    assert "adapts lm_head, which gptlab cannot" in one_line(exc)
    with pytest.raises(ConfigError) as exc:
        check_lora_settings(lora_config(("qkv",), r=8, init_adapter=str(tmp_path / "adapter")), str(base))
    assert "set train.lora.r=4" in one_line(exc)
    with pytest.raises(ConfigError) as exc:
        check_lora_settings(lora_config(ATTENTION, init_adapter=str(tmp_path / "adapter")), str(base))
    assert "set train.lora.target_modules=[qkv]" in one_line(exc)
    with pytest.raises(ConfigError) as exc:
        check_lora_settings(lora_config(("qkv",), init_adapter=str(tmp_path / "nowhere")), str(base))
    assert "is not a peft adapter directory" in one_line(exc)
    get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(r=4, target_modules=["c_attn"], use_dora=True,
                   fan_in_fan_out=True)).save_pretrained(tmp_path / "dora")  # fmt: skip
    with pytest.raises(ConfigError) as exc:
        check_lora_settings(lora_config(("qkv",), init_adapter=str(tmp_path / "dora")), str(base))
    assert "is not a plain LoRA adapter: use_dora=True" in one_line(exc)
    with pytest.raises(ConfigError) as exc:
        lora_config(r=None, init_adapter=str(tmp_path / "adapter"))
    assert "needs train.lora.r" in one_line(exc)


def test_an_adapter_on_a_module_hugging_face_lacks_is_one_line(char_tokenizer, tmp_path):
    from gptlab.checkpoint.peft_adapter import write_peft_adapter
    from gptlab.model.lora import add_lora, lora_record

    lora = lora_config(("qkv", "lm_head"))
    model = add_lora(random_model(char_tokenizer.vocab_size, tie_weights=False), lora)
    with pytest.raises(ConfigError) as exc:
        write_peft_adapter(model, lora_record(lora), "base", tmp_path / "adapter")
    assert "the adapter on lm_head has no peft equivalent" in one_line(exc)
    assert not (tmp_path / "adapter").exists()


# The round trip through the stages, on a Hugging Face GPT-2: fine-tune with LoRA (the adapter
# alone), export, load in peft, and start a second fine-tune from the exported adapter.
FINETUNE = (
    "experiment=finetune", "data=file", "data.path=corpus.txt", "logger=none", "train.sample_every_n_val=0",
    "trainer.max_steps=4", "trainer.val_check_interval=4", "trainer.limit_val_batches=2", "train.batch_size=4",
    "optim.lr=1e-2", "optim.warmup_steps=0", "train.lora.r=4", "train.lora.model_dir=adapter",
)  # fmt: skip


def test_the_round_trip_through_train_export_and_peft(gpt2_built, workdir, mlflow_store, capsys):
    from mlflow.tracking import MlflowClient
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from gptlab.checkpoint import load_model_dir
    from tests.helpers import cli_exit_code, copy_built, one_error_line, run_stage

    copy_built(gpt2_built, workdir)
    gpt2 = gpt2_built / "gpt2"
    logged = ("logger=mlflow", f"logger.tracking_uri={mlflow_store}")
    run_stage("train", *FINETUNE, *logged, f"train.init_from={gpt2}")
    ids = torch.tensor([[5, 3, 9, 1, 2, 7, 4, 8]])
    with torch.no_grad():
        finetuned = load_model_dir("artifacts/model").model(ids)[0]

    # The model directory's peft/ is the adapter on train.init_from, and the run's adapter/.
    peft_dir = Path("artifacts/model/peft")
    assert json.loads((peft_dir / "adapter_config.json").read_text())["base_model_name_or_path"] == str(gpt2)
    theirs = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(gpt2), peft_dir).eval()
    assert (hf_logits(theirs, ids) - finetuned).abs().max() <= 1e-5
    run_id = json.loads(Path("artifacts/model/config.json").read_text())["mlflow"]["run_id"]
    listed = {a.path for a in MlflowClient(tracking_uri=mlflow_store).list_artifacts(run_id, "adapter")}
    assert listed == {"adapter/adapter_config.json", "adapter/adapter_model.safetensors"}

    # export: the merged model, and adapter/ beside it on the same base.
    run_stage("export", *FINETUNE)
    exported = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(gpt2), "artifacts/hf/adapter").eval()
    merged = AutoModelForCausalLM.from_pretrained("artifacts/hf").eval()
    assert (hf_logits(exported, ids) - finetuned).abs().max() <= 1e-5
    assert (hf_logits(exported.merge_and_unload(), ids) - hf_logits(merged, ids)).abs().max() <= 1e-5
    assert not Path("artifacts/hf/base").exists()  # the base is train.init_from, a Hugging Face model already

    # A fine-tune from that adapter starts where it ended: at a vanishing lr it ends there too.
    again = (f"train.init_from={gpt2}", "train.lora.init_adapter=artifacts/hf/adapter", "paths.model_dir=again")
    run_stage("train", *FINETUNE, *again, "optim.lr=1e-9", "optim.min_lr=1e-9")
    with torch.no_grad():
        assert (load_model_dir("again").model(ids)[0] - finetuned).abs().max() <= 1e-5
    run_stage("evaluate", *FINETUNE, "evaluate.model_dir=again", "evaluate.splits=[val]")
    # Other settings than the adapter's: one line, exit 2, before training.
    capsys.readouterr()
    assert cli_exit_code("train", *FINETUNE, *again, "train.lora.r=8") == 2
    one_error_line(capsys.readouterr().err, "was trained with other LoRA settings: set train.lora.r=4")
