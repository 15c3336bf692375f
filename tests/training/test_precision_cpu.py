"""Mixed precision and ``torch.compile`` on the CPU: the part of the GPU path CI can guard.

The GPU figures (BENCHMARKS.md, "GPU") come from ``bench/bench_gpu.py`` on a lent GPU.
These tests run the same pieces where there is none: gptlab's LightningModule and data
module under Lightning's ``bf16-mixed`` autocast with gptlab's own Trainer flags
(``TrainerConfig.trainer_kwargs``), a 16-bit GradScaler's state in a checkpoint that
gptlab's safe loader accepts, and the compiled module.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from gptlab.config import to_dataclass
from gptlab.dataset.meta import DatasetMeta
from gptlab.model import GPTConfig
from gptlab.training.config import OptimConfig, TrainerConfig
from gptlab.training.data import DataSettings, TokenDataModule
from gptlab.training.module import GPTLightningModule
from tests.helpers import compose

VOCAB = 13
CONTEXT = 16
BATCH = 8


@pytest.fixture
def processed(tmp_path: Path) -> tuple[Path, DatasetMeta]:
    """Token files of a repeating 37-token pattern: learnable within a few steps."""
    pattern = np.random.default_rng(0).integers(0, VOCAB, size=37)
    train = np.tile(pattern, 100).astype(np.uint16)
    val = np.tile(pattern, 10).astype(np.uint16)
    d = tmp_path / "processed"
    d.mkdir()
    train.tofile(d / "train.bin")
    val.tofile(d / "val.bin")
    meta = DatasetMeta(
        vocab_size=VOCAB,
        dtype="uint16",
        tokens={"train": len(train), "val": len(val), "test": 0},
        characters={"train": len(train), "val": len(val), "test": 0},
        tokenizer_sha256="0" * 64,
        corpus_sha256="0" * 64,
        tokenizer_kind="char",
    )
    return d, meta


def make_module(max_steps: int, compile: bool = False) -> GPTLightningModule:
    """A 1-layer model (conf/model/tiny.yaml, context 16) and AdamW at a constant-ish 3e-3."""
    cfg = compose("model=tiny", f"model.context_size={CONTEXT}", "optim.lr=3e-3", "optim.min_lr=3e-4",
                  "optim.warmup_steps=0")
    model = to_dataclass(GPTConfig, cfg.model, "model", vocab_size=VOCAB)
    optim = to_dataclass(OptimConfig, cfg.optim, "optim")
    torch.manual_seed(0)
    return GPTLightningModule(model, optim, max_steps, compile=compile)


def make_data(processed: tuple[Path, DatasetMeta]) -> TokenDataModule:
    d, meta = processed
    return TokenDataModule(DataSettings(str(d), CONTEXT, BATCH, val_batches=1, seed=0), meta)


def trainer_kwargs(tmp_path: Path, precision: str | None, max_steps: int, **overrides) -> dict:
    """gptlab's own Trainer flags (conf/trainer/default.yaml through ``TrainerConfig``), on
    the CPU, writing nothing but what a test asks for."""
    cfg = compose("trainer.accelerator=cpu", f"trainer.precision={precision or '32-true'}",
                  f"trainer.max_steps={max_steps}", f"trainer.val_check_interval={max_steps}",
                  "trainer.limit_val_batches=1", "trainer.enable_progress_bar=false")
    kwargs = to_dataclass(TrainerConfig, cfg.trainer, "trainer").trainer_kwargs()
    if precision is None:
        kwargs.pop("precision")
    kwargs.update(logger=False, enable_checkpointing=False, num_sanity_val_steps=0, default_root_dir=str(tmp_path))
    kwargs.update(overrides)
    return kwargs


def make_trainer(tmp_path: Path, precision: str, max_steps: int, **overrides) -> L.Trainer:
    return L.Trainer(**trainer_kwargs(tmp_path, precision, max_steps, **overrides))


class LossLog(L.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


def test_bf16_mixed_runs_the_matmuls_in_bf16_keeps_fp32_weights_and_learns(tmp_path, processed):
    module = make_module(max_steps=25)
    seen: set[torch.dtype] = set()
    module.model.blocks[0].mlp.up_proj.register_forward_hook(lambda m, i, out: seen.add(out.dtype))
    losses = LossLog()
    trainer = make_trainer(tmp_path, "bf16-mixed", 25, callbacks=[losses])
    trainer.fit(module, datamodule=make_data(processed))

    assert trainer.global_step == 25
    assert seen == {torch.bfloat16}  # autocast reached gptlab's linears (training and validation)
    assert {p.dtype for p in module.parameters()} == {torch.float32}  # master weights stay fp32
    assert all(math.isfinite(x) for x in losses.losses)
    assert sum(losses.losses[-5:]) / 5 < losses.losses[0] - 0.5
    assert math.isfinite(float(trainer.callback_metrics["val/loss"]))


def straight_and_resumed(tmp_path: Path, processed, make, precision: str, steps: int) -> tuple:
    """The same fit of ``make(max_steps=steps)`` straight through, and stopped at half,
    checkpointed and resumed: (straight, first half, resumed, the resumed one's trainer)."""
    straight = make(max_steps=steps)
    make_trainer(tmp_path / "a", precision, steps).fit(straight, datamodule=make_data(processed))

    first = make(max_steps=steps)
    trainer = make_trainer(tmp_path / "b", precision, steps // 2)
    trainer.fit(first, datamodule=make_data(processed))
    ckpt = tmp_path / "half.ckpt"
    trainer.save_checkpoint(ckpt)
    resumed = make(max_steps=steps)
    trainer = make_trainer(tmp_path / "c", precision, steps)
    trainer.fit(resumed, datamodule=make_data(processed), ckpt_path=str(ckpt))
    return straight, first, resumed, trainer


def test_bf16_mixed_resume_continues_exactly(tmp_path, processed):
    straight, _, resumed, trainer = straight_and_resumed(tmp_path, processed, make_module, "bf16-mixed", 12)

    assert trainer.global_step == 12
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_a_16bit_scaler_state_is_checkpointed_and_loads_safely(tmp_path, processed):
    """Lightning turns 16-mixed into bf16-mixed on a CPU, so the plugin is built by hand
    here: its GradScaler state must land in the checkpoint as plain numbers, which
    gptlab's ``weights_only`` loader (``read_checkpoint``) accepts, and be restored."""
    from lightning.pytorch.plugins.precision import MixedPrecision

    try:
        from gptlab.training.resume import read_checkpoint
    except ImportError:  # before the training package was split
        from gptlab.training.fit import read_checkpoint

    module = make_module(max_steps=4)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    plugin = MixedPrecision("16-mixed", "cpu", scaler=scaler)
    trainer = L.Trainer(**trainer_kwargs(tmp_path, None, 4), plugins=[plugin])
    trainer.fit(module, datamodule=make_data(processed))
    ckpt = tmp_path / "fp16.ckpt"
    trainer.save_checkpoint(ckpt)

    state = read_checkpoint(ckpt, module.model_config)["MixedPrecision"]
    assert state["scale"] == scaler.get_scale() > 0

    resumed_scaler = torch.amp.GradScaler("cpu", init_scale=1.0)
    scale_at_start: list[float] = []

    class ScaleAtStart(L.Callback):
        def on_train_start(self, trainer, pl_module) -> None:
            scale_at_start.append(resumed_scaler.get_scale())

    trainer = L.Trainer(**trainer_kwargs(tmp_path, None, 6, callbacks=[ScaleAtStart()]),
                        plugins=[MixedPrecision("16-mixed", "cpu", scaler=resumed_scaler)])
    trainer.fit(make_module(max_steps=6), datamodule=make_data(processed), ckpt_path=str(ckpt))
    assert trainer.global_step == 6
    assert scale_at_start == [state["scale"]]


@pytest.mark.slow
def test_compile_on_cpu_trains_like_eager_and_saves_plain_keys(tmp_path, processed):
    """trainer.compile=true: the compiled module runs, computes what eager does, and its
    checkpoints keep the uncompiled parameter names. (Compiling takes 10-30 s on a CPU.)"""
    steps = 4
    eager, compiled = make_module(steps), make_module(steps, compile=True)
    eager_log, compiled_log = LossLog(), LossLog()
    # No validation: an eval-mode graph would be a second compilation.
    make_trainer(tmp_path / "e", "32-true", steps, limit_val_batches=0, callbacks=[eager_log]).fit(
        eager, datamodule=make_data(processed))
    torch._dynamo.reset()
    trainer = make_trainer(tmp_path / "c", "32-true", steps, limit_val_batches=0, callbacks=[compiled_log])
    trainer.fit(compiled, datamodule=make_data(processed))

    assert compiled._compiled is not None
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1
    torch.testing.assert_close(compiled_log.losses, eager_log.losses, rtol=1e-4, atol=1e-5)
    ckpt = tmp_path / "compiled.ckpt"
    trainer.save_checkpoint(ckpt)
    keys = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"].keys()
    assert not any("_orig_mod" in k for k in keys)
    assert set(keys) == set(eager.state_dict().keys())


def test_mixed_precision_with_clipping_and_the_optimizer_gptlab_picks_on_cuda(tmp_path, processed, monkeypatch):
    """The optimizer choice gptlab makes on CUDA, reproduced on the CPU (PyTorch has a fused
    AdamW for CPU tensors too): bf16-mixed plus the default gradient clipping must train."""
    import gptlab.training.module as module_py

    real = module_py.make_adamw

    def as_on_cuda(model, cfg, device_type, *rest, **kwargs):
        return real(model, cfg, "cuda", *rest, **kwargs)

    monkeypatch.setattr(module_py, "make_adamw", as_on_cuda)
    module = make_module(max_steps=3)
    trainer = make_trainer(tmp_path, "bf16-mixed", 3)
    trainer.fit(module, datamodule=make_data(processed))
    assert trainer.global_step == 3


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_bf16_mixed_trains_a_recurrent_model(tmp_path, processed, kind):
    """The seed course's recurrent models under the same autocast: finite, learning, fp32 weights."""
    from gptlab.model import parse_model_config

    cfg = compose(f"model={kind}", f"model.context_size={CONTEXT}", "model.n_embd=32", "model.n_layer=1",
                  "optim.lr=3e-2", "optim.min_lr=3e-3", "optim.warmup_steps=0")  # fmt: skip
    model = parse_model_config(cfg.model, "model", vocab_size=VOCAB)
    torch.manual_seed(0)
    module = GPTLightningModule(model, to_dataclass(OptimConfig, cfg.optim, "optim"), 60)
    seen: set[torch.dtype] = set()
    module.model.rnn.register_forward_hook(lambda m, i, out: seen.add(out[0].dtype))
    losses = LossLog()
    trainer = make_trainer(tmp_path, "bf16-mixed", 60, callbacks=[losses])
    trainer.fit(module, datamodule=make_data(processed))

    assert trainer.global_step == 60
    if kind == "lstm":  # torch's CPU autocast runs lstm in bf16; gru stays fp32 there (its op list)
        # ...where oneDNN has bf16 (AVX-512 and up; not with ONEDNN_MAX_CPU_ISA=AVX2): else fp32.
        assert seen == {torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else torch.float32}
    assert {p.dtype for p in module.parameters()} == {torch.float32}
    assert all(math.isfinite(x) for x in losses.losses)
    assert sum(losses.losses[-5:]) / 5 < losses.losses[0] - 0.5, losses.losses
