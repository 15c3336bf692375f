"""Read an experiment's runs and write ``comparison.md`` and ``comparison.png``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gptlab.comparison.plot import plot_comparison
from gptlab.comparison.runs import RunSummary, find_experiment, load_runs
from gptlab.comparison.table import by_val_loss, markdown_table, varying_keys
from gptlab.errors import ConfigError
from gptlab.io import atomic_write_text
from gptlab.tracking import normalize_tracking_uri, open_store, redact_uri

log = logging.getLogger(__name__)

MARKDOWN_FILE = "comparison.md"
PLOT_FILE = "comparison.png"


@dataclass(frozen=True)
class CompareSettings:
    """What to compare and where the report goes (the keys of conf/compare.yaml)."""

    experiment_name: str
    tracking_uri: str = "sqlite:///mlflow.db"
    out_dir: str = "reports/compare"

    def __post_init__(self) -> None:
        # Hydra reads `experiment=123` as a number; an MLflow experiment name is text.
        if self.experiment_name is None or str(self.experiment_name).strip() == "":
            raise ConfigError("experiment_name must name an MLflow experiment, e.g. experiment=gptlab")
        object.__setattr__(self, "experiment_name", str(self.experiment_name))
        if not self.tracking_uri or not str(self.tracking_uri).strip():
            raise ConfigError("tracking_uri must not be empty, e.g. tracking_uri=sqlite:///mlflow.db")
        if not self.out_dir or not str(self.out_dir).strip():
            raise ConfigError("out_dir must not be empty, e.g. out_dir=reports/compare")


@dataclass(frozen=True)
class Comparison:
    """The runs (best first), the config keys that differ, and the files written."""

    runs: tuple[RunSummary, ...]
    varying: tuple[str, ...]
    markdown: Path
    plot: Path


def render_report(experiment: str, tracking_uri: str, runs: Sequence[RunSummary], keys: Sequence[str]) -> str:
    varying = ", ".join(f"`{k}`" for k in keys) if keys else "none (every run has the same config)"
    return (
        f"# Runs of MLflow experiment `{experiment}`\n\n"
        f"Store: `{redact_uri(tracking_uri)}`. {len(runs)} run(s), best validation loss first. "
        f"Config keys that differ between runs: {varying}.\n\n"
        f"{markdown_table(runs, keys)}\n"
        f"![validation loss curves and final score against parameter count]({PLOT_FILE})\n"
    )


def compare(settings: CompareSettings) -> Comparison:
    uri = normalize_tracking_uri(settings.tracking_uri)  # the store train wrote to, from any subdirectory
    client = open_store(uri)
    experiment = find_experiment(client, settings.experiment_name, uri)
    runs = tuple(by_val_loss(load_runs(client, experiment, uri)))
    keys = tuple(varying_keys(runs))
    out = Path(settings.out_dir)
    md = out / MARKDOWN_FILE
    atomic_write_text(md, render_report(settings.experiment_name, settings.tracking_uri, runs, keys))
    png = plot_comparison(runs, out / PLOT_FILE, title=f"MLflow experiment {settings.experiment_name!r}")
    log.info("compared %d run(s) of %r -> %s, %s", len(runs), settings.experiment_name, md, png)
    return Comparison(runs=runs, varying=keys, markdown=md, plot=png)
