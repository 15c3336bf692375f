"""Typed settings of the ``evaluate`` stage (``evaluate:`` in conf/config.yaml)."""

from __future__ import annotations

from dataclasses import dataclass

from gptlab.errors import ConfigError

EVAL_SPLITS = ("val", "test")


@dataclass(frozen=True)
class EvalConfig:
    """How to score the held-out splits.

    Attributes:
        model_dir: the model directory to evaluate (the pipeline's by default).
        batch_size: windows per forward pass.
        stride: targets scored per window after the first (see
            :mod:`gptlab.evaluation.windows`); None = the context size, i.e.
            non-overlapping windows. Smaller gives each token more context and costs
            ``context_size / stride`` times more.
        splits: which splits to score; an empty split is skipped.
        device: ``auto`` (CUDA when available, else CPU) or a torch device string.

    No field has a default: ``evaluate:`` in conf/config.yaml owns them.
    """

    model_dir: str
    batch_size: int
    stride: int | None
    splits: tuple[str, ...]
    device: str

    def __post_init__(self) -> None:
        # Types are OmegaConf's to check (gptlab.config.to_dataclass); ranges are here.
        if self.batch_size < 1:
            raise ConfigError(f"evaluate.batch_size must be an integer >= 1, got {self.batch_size!r}")
        if self.stride is not None and self.stride < 1:
            raise ConfigError(f"evaluate.stride must be null or an integer >= 1, got {self.stride!r}")
        bad = [s for s in self.splits if s not in EVAL_SPLITS]
        if bad or not self.splits:
            raise ConfigError(f"evaluate.splits must be a non-empty subset of {list(EVAL_SPLITS)}, got {list(self.splits)}")
