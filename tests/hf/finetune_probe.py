"""A callback the fine-tune test injects through ``train.extra_callbacks``.

Before the first optimizer step it scores the first training batch and the first
validation batch with the model being trained, and with the pretrained model loaded
independently (gptlab's import, and transformers itself); after the step it keeps the
loss the training step reported. Results go to :data:`RESULTS` (same process).
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F

RESULTS: dict[str, float] = {}


def _loss(logits: torch.Tensor, targets: torch.Tensor) -> float:
    return float(F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1)))


class FirstStepProbe(L.Callback):
    def __init__(self, pretrained: str):
        self.pretrained = pretrained

    def _references(self, x: torch.Tensor, y: torch.Tensor, prefix: str) -> None:
        from transformers import AutoModelForCausalLM

        from gptlab.hf.import_hf import load_pretrained_model

        with torch.no_grad():
            RESULTS[f"{prefix}_imported"] = _loss(load_pretrained_model(self.pretrained)(x)[0], y)
            hf = AutoModelForCausalLM.from_pretrained(self.pretrained).eval()
            RESULTS[f"{prefix}_transformers"] = _loss(hf(x).logits, y)

    def on_train_start(self, trainer, pl_module) -> None:
        from gptlab.hf.import_hf import load_pretrained_model

        pretrained = load_pretrained_model(self.pretrained).state_dict()
        current = pl_module.model.state_dict()
        RESULTS["weights_equal"] = float(all(torch.equal(current[k].cpu(), v) for k, v in pretrained.items()))
        x, y = next(iter(trainer.val_dataloaders))
        x, y = x.to(pl_module.device), y.to(pl_module.device)
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            RESULTS["val_trained_model"] = _loss(pl_module.model(x)[0], y)
        pl_module.train(was_training)
        self._references(x.cpu(), y.cpu(), "val")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == 0 and "train_imported" not in RESULTS:
            x, y = batch
            self._references(x.cpu(), y.cpu(), "train")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if "train_step0" not in RESULTS:
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            RESULTS["train_step0"] = float(loss.detach())
