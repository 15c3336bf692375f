"""Held-out evaluation: every token of the val and test splits scored exactly once."""

from gptlab.evaluation.config import EvalConfig
from gptlab.evaluation.dataset_eval import evaluate_dataset, scored_characters
from gptlab.evaluation.metrics import SplitMetrics
from gptlab.evaluation.scoring import score_tokens
from gptlab.evaluation.windows import count_windows, plan_windows

__all__ = [
    "EvalConfig",
    "SplitMetrics",
    "count_windows",
    "evaluate_dataset",
    "plan_windows",
    "score_tokens",
    "scored_characters",
]
