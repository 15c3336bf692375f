"""A tuned comparison of models (``python -m gptlab.baselines``): each model's own Optuna
search on the validation split, then every model at its best setting over several seeds,
scored on the test split, then the comparison report.

Every step is the pipeline's own command in a child process (the data stages, then one
Hydra sweep per search and one for the final models), as a user would type it: each sweep
is its MLflow parent run, and a failed step stops the rest with its own message above ours.
"""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gptlab.errors import ConfigError, DataError, GptlabError

log = logging.getLogger(__name__)

DATA_STAGES = ("prepare", "tokenize", "build")
TUNED_FILE = "tuned.json"
RESULTS_FILE = "optimization_results.yaml"  # the Optuna sweeper's, in its sweep directory


@dataclass(frozen=True)
class ComparisonPlan:
    """What to run (``baselines:`` of the search preset, conf/experiment/seed_models.yaml)."""

    search_experiment: str  # the preset of one model's search, e.g. seed_models
    final_experiment: str  # the preset of the final sweep: models x seeds at tuned settings
    models: tuple[str, ...]  # `model=` choices
    sweep_dir: str  # this comparison's sweeps go under it: search/<model>/, final/
    # The command line's other overrides, given to every step (data.path=..., trainer.max_steps=...).
    overrides: tuple[str, ...] = ()
    # Extra overrides of one model's search, e.g. its own learning-rate grid.
    search_overrides: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.models:
            raise ConfigError("baselines.models must name at least one model, e.g. [bigram, lstm]")
        unknown = sorted(set(self.search_overrides) - set(self.models))
        if unknown:
            raise ConfigError(f"baselines.search_overrides names models not in baselines.models: {unknown}")


@dataclass(frozen=True)
class Trial:
    overrides: tuple[str, ...]  # the trial's swept values, e.g. ("optim.lr=0.001", "optim.min_lr=0.0001")
    val_loss: float | None  # the whole validation split's loss (None: the job left no score)


@dataclass(frozen=True)
class Search:
    model: str
    best: dict[str, Any]  # the best trial's values, e.g. {"optim.lr": 0.00316, "optim.min_lr": 0.000316}
    best_val_loss: float
    trials: tuple[Trial, ...]
    wall_s: float


def gptlab_command(stage: str, *overrides: str) -> list[str]:
    return [sys.executable, "-m", f"gptlab.{stage}", *overrides]


def run_step(what: str, command: Sequence[str]) -> float:
    """Run one step; its wall seconds. A failure is one line naming the step (the step's own
    message is printed above it)."""
    typed = shlex.join(["python", *command[1:]])  # as a user would type it again, quoted
    log.info("%s: %s", what, typed)
    start = time.perf_counter()
    done = subprocess.run(list(command), check=False)
    if done.returncode != 0:
        raise GptlabError(f"{what} failed (exit {done.returncode}); its message is above. The command: {typed}")
    return time.perf_counter() - start


def read_search(model: str, sweep_dir: Path, wall_s: float) -> Search:
    """The Optuna sweeper's best trial, and every trial's overrides and score."""
    import yaml

    results = sweep_dir / RESULTS_FILE
    if not results.is_file():
        raise DataError(f"the search of {model!r} wrote no {results}: is its preset an Optuna sweep?")
    best = yaml.safe_load(results.read_text(encoding="utf-8"))
    trials = []
    for job in sorted((p for p in sweep_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)):
        overrides_file, metrics_file = job / ".hydra" / "overrides.yaml", job / "reports" / "metrics.json"
        overrides = yaml.safe_load(overrides_file.read_text(encoding="utf-8")) if overrides_file.is_file() else []
        metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else {}
        loss = (metrics.get("val") or {}).get("loss")
        trials.append(Trial(tuple(overrides), None if loss is None else float(loss)))
    return Search(model, dict(best["best_params"]), float(best["best_value"]), tuple(trials), wall_s)


def final_overrides(searches: Sequence[Search]) -> list[str]:
    """``tuned.<model>.lr=...`` (every key the search tuned, by its last part) for the final preset."""
    return [f"tuned.{s.model}.{key.rsplit('.', 1)[-1]}={value}" for s in searches for key, value in s.best.items()]


def run_comparison(plan: ComparisonPlan) -> dict:
    """Data, one search per model, the final sweep; ``tuned.json`` in the sweep directory.
    Returns its content (``final_parent_run`` is what ``gptlab.compare sweep=...`` takes)."""
    from gptlab.io import atomic_write_json
    from gptlab.sweeps.parent_run import read_parent

    root = Path(plan.sweep_dir)
    started = time.perf_counter()
    # The tokenizer's report beside the sweeps: reports/tokenizer.json is the default pipeline's.
    data = [f"experiment={plan.search_experiment}", "hydra.mode=RUN", f"paths.reports_dir={root / 'reports'}", *plan.overrides]
    for stage in DATA_STAGES:
        run_step(f"the {stage} stage", gptlab_command(stage, *data))

    searches = []
    for i, model in enumerate(plan.models, 1):
        where = root / "search" / model
        command = gptlab_command(
            "train", "--multirun", f"experiment={plan.search_experiment}", f"model={model}", f"hydra.sweep.dir={where}",
            *plan.overrides, *plan.search_overrides.get(model, ()),
        )  # fmt: skip
        wall = run_step(f"search {i}/{len(plan.models)} ({model})", command)
        searches.append(read_search(model, where, wall))
        log.info("%s: best %s (validation loss %.4f)", model, searches[-1].best, searches[-1].best_val_loss)

    final_dir = root / "final"
    command = gptlab_command(
        "train", "--multirun", f"experiment={plan.final_experiment}", f"hydra.sweep.dir={final_dir}",
        f"model={','.join(plan.models)}", *plan.overrides, *final_overrides(searches),
    )  # fmt: skip
    final_wall = run_step("the final sweep", command)
    parent = read_parent(final_dir)
    summary = {
        "searches": [asdict(s) for s in searches],
        "final_sweep_dir": str(final_dir),
        "final_parent_run": parent.run_id if parent is not None else None,
        "final_wall_s": final_wall,
        "wall_s": time.perf_counter() - started,
    }
    atomic_write_json(root / TUNED_FILE, summary)
    return summary
