"""Read an experiment's runs and write ``comparison.md`` and ``comparison.png``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gptlab.comparison.plot import plot_comparison, plot_settings
from gptlab.comparison.runs import (
    LATEST,
    RunSummary,
    SweepSummary,
    find_experiment,
    find_sweep,
    load_runs,
    sweep_summary,
)
from gptlab.comparison.seeds import Setting, best_setting_first, by_setting, has_repeats, settings_table
from gptlab.comparison.table import RANK_ORDER, best_first, markdown_table, varying_keys
from gptlab.errors import ConfigError
from gptlab.io import atomic_write_text
from gptlab.tracking import TrackingStore, redact_uri

log = logging.getLogger(__name__)

MARKDOWN_FILE = "comparison.md"
PLOT_FILE = "comparison.png"
SETTINGS_PLOT_FILE = "seeds.png"  # only when some setting ran with several seeds


@dataclass(frozen=True)
class CompareSettings:
    """What to compare and where the report goes (the keys of conf/compare.yaml, which owns their defaults)."""

    experiment_name: str
    tracking_uri: str
    out_dir: str
    # A sweep's parent run id, or "latest": compare that sweep's child runs only (null: every run).
    sweep: str | None

    def __post_init__(self) -> None:
        # Types are OmegaConf's (experiment_name=123 is the text "123"); empty values are here.
        if not self.experiment_name.strip():
            raise ConfigError("experiment_name must name an MLflow experiment, e.g. experiment_name=gptlab")
        if not self.tracking_uri.strip():
            raise ConfigError("tracking_uri must not be empty, e.g. tracking_uri=sqlite:///mlflow.db")
        if not self.out_dir.strip():
            raise ConfigError("out_dir must not be empty, e.g. out_dir=reports/compare")
        if self.sweep is not None:
            object.__setattr__(self, "sweep", self.sweep.strip() or None)


@dataclass(frozen=True)
class Comparison:
    """The runs (best first), the config keys that differ, and the files written."""

    runs: tuple[RunSummary, ...]
    varying: tuple[str, ...]
    markdown: Path
    plot: Path
    sweep: SweepSummary | None = None  # the sweep compared, when one was asked for
    # Runs that differ only in their seed, grouped, best first; empty when none repeats.
    settings: tuple[Setting, ...] = ()
    settings_plot: Path | None = None


def render_report(experiment: str, tracking_uri: str, runs: Sequence[RunSummary], keys: Sequence[str],
                  sweep: SweepSummary | None = None, settings: Sequence[Setting] = ()) -> str:  # fmt: skip
    varying = ", ".join(f"`{k}`" for k in keys) if keys else "none (every run has the same config)"
    title = f"# Runs of MLflow experiment `{experiment}`\n\n"
    if sweep is not None:
        best = f" Best run by `{sweep.objective}`: `{sweep.best_run_name}`." if sweep.best_run_name else ""
        title = (
            f"# Sweep `{sweep.name}` of MLflow experiment `{experiment}`\n\n"
            f"Parent run `{sweep.run_id}`, overrides `{sweep.overrides}`.{best}\n\n"
        )
    by_seed = ""
    if settings:
        by_seed = (
            "\n## Over seeds\n\n"
            f"Runs that differ only in `seed`, as one setting: mean ± standard deviation over its seeds, "
            "lowest mean test bits/char first.\n\n"
            f"{settings_table(settings)}\n"
            f"![bits per character over seeds, and loss by position in the context]({SETTINGS_PLOT_FILE})\n"
        )
    return title + (
        f"Store: `{redact_uri(tracking_uri)}`. {len(runs)} run(s), {RANK_ORDER}. "
        f"Config keys that differ between runs: {varying}.\n\n"
        f"{markdown_table(runs, keys)}\n"
        f"![validation loss curves and final score against parameter count]({PLOT_FILE})\n"
    ) + by_seed


def compare(settings: CompareSettings) -> Comparison:
    store = TrackingStore(settings.tracking_uri)  # the store train wrote to, from any subdirectory
    store.check_exists("train a model first (python -m gptlab.train) or set tracking_uri=...")
    sweep = None
    if settings.sweep is None:
        experiment = find_experiment(store, settings.experiment_name)
    else:
        scope = find_experiment(store, settings.experiment_name) if settings.sweep == LATEST else None
        parent = find_sweep(store, settings.sweep, scope)
        # A run id names its own experiment, whatever experiment_name says.
        experiment = store.client.get_experiment(parent.info.experiment_id)
        sweep = sweep_summary(parent)
    runs = tuple(best_first(load_runs(store, experiment, parent_run_id=sweep.run_id if sweep else None)))
    keys = tuple(varying_keys(runs))
    grouped = by_setting(runs)
    repeated = tuple(best_setting_first(grouped)) if has_repeats(grouped) else ()
    out = Path(settings.out_dir)
    md = out / MARKDOWN_FILE
    what = f"sweep {sweep.name!r}" if sweep else f"MLflow experiment {experiment.name!r}"
    png = plot_comparison(runs, out / PLOT_FILE, title=what)
    seeds_png = plot_settings(repeated, out / SETTINGS_PLOT_FILE, title=what) if repeated else None
    # The report last: the pictures it names exist when it does.
    atomic_write_text(md, render_report(experiment.name, settings.tracking_uri, runs, keys, sweep, repeated))
    log.info("compared %d run(s) of %s -> %s, %s", len(runs), what, md, png)
    return Comparison(runs=runs, varying=keys, markdown=md, plot=png, sweep=sweep, settings=repeated, settings_plot=seeds_png)
