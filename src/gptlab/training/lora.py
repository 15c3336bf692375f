"""What a LoRA run (``train.lora.r``) must be given: a pretrained model to adapt, and on
resume the LoRA settings its checkpoint was trained with (which holds the whole adapted
state, so resuming is as exact as without LoRA)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptlab.errors import CheckpointError, ConfigError
from gptlab.model.lora import LoraConfig, lora_record


@dataclass(frozen=True)
class LoraFromAdapter(LoraConfig):
    """``train.lora`` with ``init_adapter``: add_lora starts the adapters from that peft adapter."""

    def initial_adapter(self, config: Any) -> dict:
        from gptlab.checkpoint.peft_adapter import checked_init_adapter

        return checked_init_adapter(str(self.init_adapter), self, config)


def check_lora_settings(lora: LoraConfig, init_from: str | None) -> None:
    """LoRA adapts a pretrained model; an init adapter must fit it and train.lora (checked before training)."""
    if lora.enabled and not init_from:
        raise ConfigError(
            f"train.lora.r={lora.r} needs train.init_from=PATH (LoRA adapts a pretrained model); "
            "from scratch, train every weight (train.lora.r=null)"
        )
    if lora.init_adapter and init_from:
        from gptlab.checkpoint.pretrained import read_pretrained

        lora.initial_adapter(read_pretrained(init_from).config)


def check_resume(ckpt: dict, lora: LoraConfig, path: Path) -> None:
    """A checkpoint resumes only with the LoRA settings it was trained with."""
    def trained(record: dict | None) -> dict | None:  # model_dir is where it is written, not what trains
        return None if record is None else {k: v for k, v in record.items() if k != "model_dir"}

    saved = trained((ckpt.get("hyper_parameters") or {}).get("lora"))
    now = trained(lora_record(lora) if lora.enabled else None)
    if saved != now:
        raise CheckpointError(
            f"checkpoint {path} was trained with LoRA {saved or 'off'}, the config says {now or 'off'}: "
            "resume with the same train.lora settings"
        )
