"""Compare the MLflow runs of one experiment: a Markdown table and a picture.

The library behind ``python -m gptlab.compare`` (see that module for the CLI).
"""

from gptlab.comparison.compare import CompareSettings, Comparison, compare, render_report
from gptlab.comparison.plot import plot_comparison
from gptlab.comparison.runs import RunSummary, find_experiment, load_runs
from gptlab.comparison.table import best_first, markdown_table, varying_keys

__all__ = [
    "CompareSettings",
    "Comparison",
    "RunSummary",
    "best_first",
    "compare",
    "find_experiment",
    "load_runs",
    "markdown_table",
    "plot_comparison",
    "render_report",
    "varying_keys",
]
