"""Compare the MLflow runs of one experiment (``python -m gptlab.compare``): a table and a picture."""

from gptlab.comparison.compare import CompareSettings, compare
from gptlab.comparison.runs import RunSummary, find_experiment, load_runs
from gptlab.comparison.table import best_first, markdown_table, varying_keys

__all__ = [
    "CompareSettings",
    "RunSummary",
    "best_first",
    "compare",
    "find_experiment",
    "load_runs",
    "markdown_table",
    "varying_keys",
]
