"""LoRA through peft on gptlab's GPT (gptlab.model.lora, with the Lightning module and the
settings checks of gptlab.training.lora): the adapted model, merging, what trains, the settings.

The whole fine-tune through the train stage (resume, model directories, export) is
tests/training/test_lora_finetune.py.
"""

from __future__ import annotations

import sys

import pytest
import torch

from gptlab.config import to_dataclass
from gptlab.errors import ConfigError
from gptlab.model import GPT
from gptlab.model.lora import LoraConfig
from gptlab.training.config import OptimConfig
from tests.helpers import compose, conf_values, model_config

pytest.importorskip("peft")

VOCAB = 23
ATTENTION = ("qkv", "out_proj")
FEED_FORWARD = ("up_proj", "down_proj")


def lora_config(**values) -> LoraConfig:
    """conf/train/default.yaml's ``lora`` section with rank 4, ``values`` on top."""
    return to_dataclass(LoraConfig, {**conf_values("train.lora"), "r": 4, **values}, "train.lora")


def base_model(seed: int = 0) -> GPT:
    """Two blocks with large random weights, so that every weight shows in the logits."""
    torch.manual_seed(seed)
    model = GPT(model_config("tiny", vocab_size=VOCAB, n_layer=2, context_size=16))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    return model.eval()


def adapted(model: GPT, **lora) -> GPT:
    from gptlab.model.lora import add_lora

    return add_lora(model, lora_config(**lora))


def tokens(seed: int = 1) -> torch.Tensor:
    return torch.randint(0, VOCAB, (3, 16), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("targets", [ATTENTION, ATTENTION + FEED_FORWARD])
def test_at_initialisation_the_adapted_model_gives_the_base_models_logits_exactly(targets):
    model = base_model()
    x = tokens()
    before = model(x)[0]
    out = adapted(model, target_modules=targets)
    assert out is model  # peft adapts gptlab's module in place: it stays a GPT
    lora_layers = [name for name, _ in model.named_modules() if name.endswith(".lora_A")]
    assert len(lora_layers) == 2 * len(targets)  # each target in both blocks
    assert torch.equal(model(x)[0], before)  # lora_B starts at zero


def test_after_training_merged_and_unmerged_logits_agree():
    from gptlab.model.lora import merged_model

    model = adapted(base_model(), target_modules=ATTENTION + FEED_FORWARD).train()
    base = base_model()  # the same base weights, untouched
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for step in range(5):
        x = tokens(step)
        _, loss = model(x[:, :-1], x[:, 1:])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    x = tokens(99)
    unmerged = model(x)[0]
    merged = merged_model(model)
    assert type(merged) is GPT and not any(".lora_" in k or "base_layer" in k for k in merged.state_dict())
    assert merged.training is False
    # The adapters did learn something (else the agreement below would prove nothing).
    assert (unmerged - base(x)[0]).abs().max() > 1e-3
    torch.testing.assert_close(merged(x)[0], unmerged, rtol=0, atol=1e-5)
    # Merging worked on a copy: the adapted model still holds its base weights unmerged.
    state = model.state_dict()
    for name, value in base.state_dict().items():
        module, tensor = name.rsplit(".", 1)
        assert torch.equal(state.get(f"{module}.base_layer.{tensor}", state.get(name)), value), name


def test_only_the_adapters_train_and_the_optimizer_holds_only_them(tmp_path):
    import lightning as L

    from gptlab.training.module import GPTLightningModule

    optim = to_dataclass(OptimConfig, compose().optim, "optim")
    module = GPTLightningModule(model_config("tiny", vocab_size=VOCAB, n_layer=2), optim, 10, lora=lora_config())
    assert not any(".lora_" in k for k in module.state_dict())  # adapters go in after the base weights
    module.add_lora()
    module.add_lora()  # once only
    trainable = {name for name, p in module.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    assert len(trainable) == 2 * 2 * len(ATTENTION)  # A and B, two blocks, two targets
    module.trainer = L.Trainer(default_root_dir=tmp_path, accelerator="cpu", logger=False, enable_progress_bar=False)
    optimizer = module.configure_optimizers()["optimizer"]
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert held == {id(p) for name, p in module.named_parameters() if name in trainable}
    assert module.hparams["lora"]["r"] == 4


def test_without_lora_the_module_and_its_checkpoint_keys_are_unchanged():
    from gptlab.training.module import GPTLightningModule

    optim = to_dataclass(OptimConfig, compose().optim, "optim")
    config = model_config("tiny", vocab_size=VOCAB)
    for lora in (None, to_dataclass(LoraConfig, conf_values("train.lora"), "train.lora")):  # r: null
        module = GPTLightningModule(config, optim, 10, lora=lora)
        module.add_lora()
        assert list(module.state_dict()) == [f"model.{k}" for k in GPT(config).state_dict()]
        assert "lora" not in module.hparams
        assert all(p.requires_grad for p in module.parameters())


def test_lora_off_never_imports_peft(monkeypatch, tmp_path):
    import importlib

    import gptlab.checkpoint.adapter_dir
    import gptlab.model.lora
    import gptlab.training.lora
    from gptlab.training.module import GPTLightningModule

    # `import peft` fails from here on, as where it is not installed.
    monkeypatch.setitem(sys.modules, "peft", None)
    for module in (gptlab.model.lora, gptlab.training.lora, gptlab.checkpoint.adapter_dir):
        importlib.reload(module)  # no import of peft at module level either
    optim = to_dataclass(OptimConfig, compose().optim, "optim")
    off = to_dataclass(LoraConfig, conf_values("train.lora"), "train.lora")
    module = GPTLightningModule(model_config("tiny", vocab_size=VOCAB), optim, 10, lora=off)
    module.add_lora()
    module.configure_model()
    # r set without peft: one line saying how to install it.
    module = GPTLightningModule(model_config("tiny", vocab_size=VOCAB), optim, 10, lora=lora_config())
    with pytest.raises(ConfigError, match=r"^train.lora.r is set, but Hugging Face peft is not installed: "
                                          r"pip install -e '\.\[lora\]'$"):  # fmt: skip
        module.add_lora()


def test_trainable_count_and_log_line():
    from gptlab.model.lora import lora_summary, parameter_counts

    model = adapted(base_model())
    trainable, total = parameter_counts(model)
    # rank 4 on qkv (32 -> 96) and out_proj (32 -> 32) in two blocks: A is r x in, B is out x r.
    assert trainable == 2 * (4 * 32 + 96 * 4 + 4 * 32 + 32 * 4)
    assert total == sum(p.numel() for p in base_model().parameters()) + trainable
    assert lora_summary(model, lora_config()) == (
        f"LoRA r=4 alpha=16 on qkv, out_proj: {trainable:,} of {total:,} parameters train "
        f"({100 * trainable / total:.2f}%)"
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"r": 0}, "train.lora.r must be null"),
        ({"r": 2.5}, r"train.lora.r: 2.5 is not an int or null"),
        ({"alpha": 0}, "train.lora.alpha must be > 0"),
        ({"dropout": 1.0}, r"train.lora.dropout must be in \[0, 1\)"),
        ({"target_modules": []}, "train.lora.target_modules must be a non-empty list"),
        ({"model_dir": "both"}, "train.lora.model_dir must be one of merged, adapter"),
    ],
)
def test_bad_lora_settings_are_config_errors(values, message):
    with pytest.raises(ConfigError, match=message):
        lora_config(**values)


def test_a_target_that_is_no_linear_layer_is_one_line_naming_the_layers():
    with pytest.raises(ConfigError) as err:
        adapted(base_model(), target_modules=("q_proj",))
    message = str(err.value)
    assert "\n" not in message and "train.lora.target_modules=['q_proj'] cannot be adapted" in message
    assert "linear layers: down_proj, out_proj, qkv, up_proj" in message


def test_lora_needs_a_pretrained_model():
    from gptlab.training.lora import check_lora_settings

    with pytest.raises(ConfigError, match=r"train.lora.r=4 needs train.init_from=PATH"):
        check_lora_settings(lora_config(), None)
    check_lora_settings(lora_config(), "pretrained")
    check_lora_settings(lora_config(r=None), None)


def test_the_composed_train_section_types_its_lora_section():
    from gptlab.training.config import TrainConfig

    train = to_dataclass(TrainConfig, compose("train.lora.r=8").train, "train")
    assert train.lora == lora_config(r=8) and train.lora.target_modules == ATTENTION
    with pytest.raises(ConfigError, match=r"unknown key\(s\) in 'train.lora': rank"):
        to_dataclass(TrainConfig, compose("+train.lora.rank=8").train, "train")
