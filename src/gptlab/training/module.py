"""The Lightning adapter around a plain model of :mod:`gptlab.model` (any kind: the family builds it)."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import lightning as L
import torch

from gptlab.errors import TrainingDiverged
from gptlab.model import ModelConfig, build_model
from gptlab.model.lora import LoraConfig, add_lora, has_lora, lora_record
from gptlab.training.config import OptimConfig
from gptlab.training.optim import make_adamw
from gptlab.training.schedule import lr_at


class GPTLightningModule(L.LightningModule):
    def __init__(
        self,
        model_config: ModelConfig,
        optim: OptimConfig,
        max_steps: int,
        compile: bool = False,
        lineage: dict | None = None,
        lora: LoraConfig | None = None,
    ):
        super().__init__()
        self.model_config = model_config
        self.optim = optim
        self.max_steps = max_steps
        self.compile = compile
        self.model = build_model(model_config)
        # LoRA (train.lora.r): peft's adapters go in by add_lora, after the pretrained
        # weights are loaded into the plain model.
        self.lora = lora if lora is not None and lora.enabled else None
        # Kept in the checkpoint, so a .ckpt knows the model it belongs to; gptlab logs
        # the full resolved config to MLflow itself, hence logger=False.
        self.save_hyperparameters(
            {
                "model": model_config.to_dict(),
                "optim": asdict(self.optim),
                "max_steps": max_steps,
                # What the run was trained on: resume refuses a checkpoint whose data differ.
                "lineage": dict(lineage or {}),
                # Only in LoRA runs: other checkpoints keep the keys they always had.
                **({"lora": lora_record(self.lora)} if self.lora is not None else {}),
            },
            logger=False,
        )
        self._compiled: Any = None
        self._loss_sum: torch.Tensor | None = None  # see on_train_start
        self._last_loss: torch.Tensor | None = None
        self._checked_step = 0

    def add_lora(self) -> None:
        """Inject the LoRA adapters (once; nothing without train.lora.r): from then on only
        they train, and the optimizer holds only them."""
        if self.lora is not None and not has_lora(self.model):
            add_lora(self.model, self.lora)

    def configure_model(self) -> None:
        self.add_lora()  # a no-op when fit added them already, as it does
        if self.compile and self._compiled is None:
            # Stored outside nn.Module registration: the checkpoint keeps the plain
            # parameter names, so compiled and uncompiled runs share checkpoints.
            self.__dict__["_compiled"] = torch.compile(self.model)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        net = self._compiled if self._compiled is not None else self.model
        return net(idx, targets)

    def on_train_start(self) -> None:
        # The divergence guard stays on the device (a sum of the losses since the last read,
        # non-finite after one NaN or inf): read once per log interval and before any save.
        self._loss_sum = torch.zeros((), device=self.device)
        self._last_loss = torch.zeros((), device=self.device)
        self._checked_step = self.global_step

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        _, loss = self(x, y)
        detached = loss.detach()
        self._loss_sum.add_(detached)
        self._last_loss = detached
        return loss

    def read_train_loss(self) -> float:
        """The last training loss, the one host read of a log interval; :class:`TrainingDiverged`
        if any loss since the previous read was NaN or inf."""
        if self._loss_sum is None:  # not trained yet
            return math.nan
        ok = torch.isfinite(self._loss_sum)
        value = float(torch.where(ok, self._last_loss, self._loss_sum))
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"loss is {value} at step {self.global_step} or before (finite at step {self._checked_step}): training "
                "stopped, the last good checkpoint is untouched. Likely causes: learning rate too high (optim.lr), "
                "fp16 overflow (try trainer.precision=bf16-mixed), or bad data."
            )
        self._loss_sum.zero_()
        self._checked_step = self.global_step
        return value

    def raise_if_diverged(self) -> None:
        """The divergence check alone (before a checkpoint or the model directory is written)."""
        if self._loss_sum is not None and not bool(torch.isfinite(self._loss_sum)):
            self.read_train_loss()

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Every checkpoint passes here before a byte is written: a diverged run keeps the last good one.
        self.raise_if_diverged()

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        _, loss = self(x, y)
        self.log("val/loss", loss, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)

    def lr_at(self, step: int) -> float:
        """The learning rate of optimizer step ``step`` (0-based), a plain number."""
        o = self.optim
        return lr_at(step, o.lr, o.min_lr, o.warmup_steps, self.max_steps)

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        """Clip as Lightning does, also for a fused AdamW without a GradScaler, which Lightning
        refuses (it unscales in its step); without a scaler the gradients are true-scale."""
        no_scaler = getattr(self.trainer.precision_plugin, "scaler", None) is None
        if gradient_clip_val and no_scaler and getattr(optimizer, "_step_supports_amp_scaling", False):
            if gradient_clip_algorithm == "value":
                torch.nn.utils.clip_grad_value_(self.parameters(), gradient_clip_val)
            else:
                torch.nn.utils.clip_grad_norm_(self.parameters(), gradient_clip_val)
            return
        self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def configure_optimizers(self):
        device_type = self.device.type
        scaler = getattr(self.trainer.precision_plugin, "scaler", None) is not None
        optimizer = make_adamw(self.model, self.optim, device_type, grad_scaler=scaler)
        base = self.optim.lr
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: self.lr_at(step) / base)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
