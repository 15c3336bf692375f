"""Typed training settings: the ``trainer``, ``optim`` and ``train`` groups.

The fields have no defaults: conf/trainer/, conf/optim/ and conf/train/ own them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from gptlab.errors import ConfigError
from gptlab.model.lora import LoraConfig  # the train.lora section

PRECISIONS = ("32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "64-true")
GPTLAB_FLAGS = ("compile",)  # TrainerConfig fields that gptlab applies, not lightning.Trainer
FUSED = ("auto", True, False)


@dataclass(frozen=True)
class SeedConfig:
    """The top-level ``seed`` of conf/config.yaml, typed like a section."""

    seed: int


@dataclass(frozen=True)
class TrainerConfig:
    """Flags handed to ``lightning.Trainer`` (plus ``compile``, which gptlab applies). Typed
    here, not ``_target_: lightning.Trainer``: OmegaConf checks these types, in one line naming
    the key; handed to Hydra's instantiate, a bad value would be Lightning's traceback."""

    accelerator: str
    devices: int | str
    strategy: str
    num_nodes: int
    precision: str
    max_steps: int
    val_check_interval: int
    limit_val_batches: int
    log_every_n_steps: int
    gradient_clip_val: float | None
    accumulate_grad_batches: int
    deterministic: bool
    enable_progress_bar: bool
    compile: bool

    def __post_init__(self) -> None:
        # Types are OmegaConf's to check (gptlab.config.to_dataclass); ranges are here.
        if self.precision not in PRECISIONS:
            raise ConfigError(f"trainer.precision={self.precision!r}; valid: {', '.join(PRECISIONS)}")
        for name in ("max_steps", "val_check_interval", "limit_val_batches", "accumulate_grad_batches", "num_nodes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"trainer.{name} must be >= 1, got {getattr(self, name)}")

    def trainer_kwargs(self) -> dict:
        """The keyword arguments for ``lightning.Trainer``: every field but gptlab's own."""
        kwargs = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in GPTLAB_FLAGS}
        kwargs.update(
            # The training loader is endless, so validation is every N batches.
            val_check_interval=self.val_check_interval * self.accumulate_grad_batches,
            check_val_every_n_epoch=None,
            # Lightning's summary table shows FLOPs only for an example input (0 here); fit
            # logs one line with the parameter count and the FLOPs estimate MFU uses.
            enable_model_summary=False,
        )
        return kwargs


@dataclass(frozen=True)
class OptimConfig:
    lr: float
    min_lr: float
    warmup_steps: int
    betas: tuple[float, float]
    eps: float
    weight_decay: float
    fused: str | bool  # "auto": the fused AdamW kernel where the device has one

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ConfigError(f"optim.lr must be > 0, got {self.lr}")
        if not 0 <= self.min_lr <= self.lr:
            raise ConfigError(f"optim.min_lr must be in [0, optim.lr], got {self.min_lr}")
        if self.warmup_steps < 0:
            raise ConfigError(f"optim.warmup_steps must be >= 0, got {self.warmup_steps}")
        if len(self.betas) != 2:
            raise ConfigError(f"optim.betas must be two numbers, got {list(self.betas)}")
        if self.fused not in FUSED:
            raise ConfigError(f"optim.fused must be one of auto, true, false; got {self.fused!r}")


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int
    resume: str | None  # None | "last" | a path to a .ckpt
    # None, or a gptlab model directory or Hugging Face GPT-2 directory to start from
    # (fine-tuning): its weights and model config (see gptlab.training.init_from).
    init_from: str | None
    num_workers: int
    sample_every_n_val: int
    sample_max_new_tokens: int
    sample_prompt: str
    # Extra Lightning callbacks, instantiated by Hydra: [{_target_: my.Callback, ...}]
    extra_callbacks: tuple
    lora: LoraConfig
    data_from_dataset: bool  # train on a dataset built from another source than data names

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"train.batch_size must be >= 1, got {self.batch_size}")
        if self.lora.init_adapter:  # the same settings, whose adapters start from that peft adapter
            from gptlab.training.lora import LoraFromAdapter

            object.__setattr__(self, "lora", LoraFromAdapter(**asdict(self.lora)))
