"""Held-out evaluation: every token of the val and test splits scored exactly once."""

from gptlab.evaluation.config import EVAL_SPLITS, EvalConfig
from gptlab.evaluation.dataset_eval import check_model_matches_dataset, evaluate_dataset, evaluate_split, scored_characters
from gptlab.evaluation.loss_history import read_loss_csv
from gptlab.evaluation.metrics import SplitMetrics
from gptlab.evaluation.scoring import TokenScore, score_tokens
from gptlab.evaluation.windows import Window, count_windows, plan_windows

__all__ = [
    "EVAL_SPLITS",
    "EvalConfig",
    "SplitMetrics",
    "TokenScore",
    "Window",
    "check_model_matches_dataset",
    "count_windows",
    "evaluate_dataset",
    "evaluate_split",
    "plan_windows",
    "read_loss_csv",
    "score_tokens",
    "scored_characters",
]
