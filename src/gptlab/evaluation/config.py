"""Typed settings of the ``evaluate`` stage (``evaluate:`` in conf/config.yaml)."""

from __future__ import annotations

from dataclasses import dataclass

from gptlab.errors import ConfigError

EVAL_SPLITS = ("val", "test")


@dataclass(frozen=True)
class EvalConfig:
    """How to score the held-out splits (``evaluate:`` in conf/config.yaml owns the defaults)."""

    model_dir: str
    batch_size: int  # windows per forward pass
    # Targets scored per window after the first (gptlab.evaluation.windows); None: the
    # context size. Smaller gives each token more context, at context_size / stride the cost.
    stride: int | None
    splits: tuple[str, ...]  # an empty split is skipped
    device: str  # auto: CUDA when available, else the CPU
    # Also the loss at each position of the context window, over the split's whole windows
    # (gptlab.evaluation.position_loss): how much each extra token of context helps.
    loss_by_position: bool

    def __post_init__(self) -> None:
        # Types are OmegaConf's to check (gptlab.config.to_dataclass); ranges are here.
        if self.batch_size < 1:
            raise ConfigError(f"evaluate.batch_size must be an integer >= 1, got {self.batch_size!r}")
        if self.stride is not None and self.stride < 1:
            raise ConfigError(f"evaluate.stride must be null or an integer >= 1, got {self.stride!r}")
        bad = [s for s in self.splits if s not in EVAL_SPLITS]
        if bad or not self.splits:
            raise ConfigError(f"evaluate.splits must be a non-empty subset of {list(EVAL_SPLITS)}, got {list(self.splits)}")
