"""A sweep as one MLflow parent run, with every job a nested child run.

The Hydra callback calls these at the sweep's start, after each job and at its end. Jobs
find their parent through :data:`PARENT_FILE` in the sweep directory, which every
launcher's processes can read (joblib workers, SLURM machines).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PARENT_FILE = "mlflow_parent_run.json"
PARENT_RUN_ID_TAG = "mlflow.parentRunId"  # MLflow's own nesting tag
ROLE_TAG = "sweep_role"  # "parent" on a sweep's parent run
PARENT_ROLE = "parent"
SWEEP_ID_TAG = "sweep_id"  # the sweep directory, on the parent and on every child
JOB_TAG = "sweep_job"
BEST_RUN_TAG = "sweep.best_run_id"
BEST_NAME_TAG = "sweep.best_run_name"
# What a plain -m sweep (no optimized_metric) ranks its jobs by: the whole validation
# split's loss, which every sweep job computes (gptlab.sweeps.run_job).
DEFAULT_OBJECTIVE = "eval_val_loss"
_MAX_PARAM = 6000  # MLflow's limit on a param value


@dataclass(frozen=True)
class SweepPlan:
    """What the parent run records when the sweep starts."""

    tracking_uri: str
    experiment_name: str
    sweep_dir: str
    overrides: tuple[str, ...]  # the command line's task overrides, as typed
    search_space: Mapping[str, str] = field(default_factory=dict)  # hydra.sweeper.params
    objective: str = DEFAULT_OBJECTIVE  # a key of the job's report
    direction: str = "minimize"
    sweeper: str = ""
    launcher: str = ""

    @property
    def run_name(self) -> str:
        return f"sweep-{Path(self.sweep_dir).name}"


@dataclass(frozen=True)
class SweepParent:
    """The parent run, as the jobs read it from :data:`PARENT_FILE`."""

    run_id: str
    experiment_id: str
    swept_keys: tuple[str, ...]
    objective: str
    direction: str

    @property
    def objective_metric(self) -> str:
        return f"sweep/{self.objective}"


@dataclass(frozen=True)
class BestChild:
    run_id: str
    name: str
    value: float


def swept_keys(overrides: Sequence[str], search_space: Mapping[str, str] = ()) -> tuple[str, ...]:
    """The config keys a sweep varies: command-line sweeps (``a=1,2``) and the sweeper's ``params``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    keys = [o.key_or_group for o in parsed if o.is_sweep_override() and not o.is_hydra_override()]
    return tuple(dict.fromkeys([*keys, *search_space]))


def _short_value(value: str) -> str:
    """A long float (Optuna's ``0.0012345678``) to 4 significant digits; the rest as typed."""
    if len(value) > 8:
        try:
            x = float(value)
        except ValueError:
            return value
        if math.isfinite(x) and not x.is_integer():
            return f"{x:.4g}"
    return value


def child_run_name(task_overrides: Sequence[str], keys: Sequence[str], num: int) -> str:
    """``lr=3e-3,n_layer=2``: the job's swept values by each key's last part (whole where two
    share it); ``job-<num>`` if it varies none."""
    values: dict[str, str] = {}
    for override in task_overrides:
        key, sep, value = override.partition("=")
        key = key.lstrip("+~")
        if sep and key in keys:
            values[key] = _short_value(value)
    if not values:
        return f"job-{num}"
    last = [k.rsplit(".", 1)[-1].rsplit("/", 1)[-1] for k in keys]
    short = {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}
    return ",".join(f"{short[k]}={values[k]}" for k in keys if k in values)


def unique_child_name(client: Any, parent: SweepParent, name: str, num: int) -> str:
    """``name``, or ``name #<num>`` when a sibling already has it (Optuna retrying a point)."""
    if "'" not in name and _first_child(client, parent, f"attributes.run_name = '{name}'") is None:
        return name
    return f"{name} #{num}"


def _first_child(client: Any, parent: SweepParent, condition: str) -> Any:
    """A child run of ``parent`` that also meets the search ``condition``, or None."""
    found = client.search_runs(
        [parent.experiment_id],
        filter_string=f"tags.`{PARENT_RUN_ID_TAG}` = '{parent.run_id}' and {condition}",
        max_results=1,
    )
    return found[0] if found else None


def write_parent(sweep_dir: str | Path, parent: SweepParent) -> Path:
    from gptlab.io import atomic_write_json

    path = Path(sweep_dir) / PARENT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, asdict(parent))
    return path


def read_parent(sweep_dir: str | Path) -> SweepParent | None:
    """The sweep's parent run, or None when the sweep has none (tracking off)."""
    path = Path(sweep_dir) / PARENT_FILE
    if not path.is_file():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))
    return SweepParent(**{**raw, "experiment_id": str(raw["experiment_id"]), "swept_keys": tuple(raw["swept_keys"])})


def start_parent_run(plan: SweepPlan) -> SweepParent:
    """Create the parent run and write :data:`PARENT_FILE` into the sweep directory."""
    from mlflow.entities import Param

    from gptlab.tracking import TrackingStore

    store = TrackingStore(plan.tracking_uri)
    store.check_usable()
    experiment_id = store.ensure_experiment(plan.experiment_name)
    keys = swept_keys(plan.overrides, plan.search_space)
    client = store.client
    note = (
        f"Hydra sweep `{plan.sweep_dir}`: `{' '.join(plan.overrides)}`. Its jobs are the nested runs below; "
        f"the best one ({plan.direction} `{plan.objective}`) is tagged `{BEST_RUN_TAG}` when the sweep ends."
    )
    run = client.create_run(
        experiment_id,
        run_name=plan.run_name,
        tags={ROLE_TAG: PARENT_ROLE, SWEEP_ID_TAG: plan.sweep_dir, "mlflow.note.content": note},
    )
    params = {
        "sweep.overrides": " ".join(plan.overrides),
        "sweep.swept_keys": ",".join(keys),
        "sweep.objective": plan.objective,
        "sweep.direction": plan.direction,
        "sweep.sweeper": plan.sweeper,
        "sweep.launcher": plan.launcher,
        **{f"sweep.search_space.{k}": str(v) for k, v in plan.search_space.items()},
    }
    client.log_batch(run.info.run_id, params=[Param(k, str(v)[:_MAX_PARAM]) for k, v in params.items() if v != ""])
    parent = SweepParent(run.info.run_id, str(experiment_id), keys, plan.objective, plan.direction)
    write_parent(plan.sweep_dir, parent)
    log.info("sweep %s: MLflow parent run %s (%s)", plan.sweep_dir, run.info.run_id, plan.run_name)
    return parent


def children(client: Any, parent: SweepParent) -> list[Any]:
    """Every child run of ``parent``, by job number."""
    runs, token = [], None
    while True:
        page = client.search_runs(
            [parent.experiment_id], filter_string=f"tags.`{PARENT_RUN_ID_TAG}` = '{parent.run_id}'", page_token=token
        )
        runs.extend(page)
        token = page.token
        if not token:
            break
    return sorted(runs, key=lambda r: int(r.data.tags.get(JOB_TAG, "0") or 0))


def objective_value(result: Any, objective: str) -> float | None:
    """The job's return value, or ``result[objective]`` when it returned its whole report."""
    if isinstance(result, Mapping):
        result = result.get(objective)
    if isinstance(result, bool) or not isinstance(result, (int, float)):
        return None
    value = float(result)
    return value if math.isfinite(value) else None


def record_job_result(tracking_uri: str, parent: SweepParent, num: int, result: Any, failed: bool) -> None:
    """After job ``num``: its objective on its child run, or the child FAILED (an error
    outside ``trainer.fit``, which Lightning does not mark)."""
    from gptlab.tracking import TrackingStore

    client = TrackingStore(tracking_uri).client
    child = _first_child(client, parent, f"tags.{JOB_TAG} = '{num}'")
    if child is None:
        return  # the job failed before its run existed
    if failed:
        if child.info.status == "RUNNING":
            client.set_terminated(child.info.run_id, "FAILED")
        return
    value = objective_value(result, parent.objective)
    if value is not None:
        client.log_metric(child.info.run_id, parent.objective_metric, value)


def best_child(runs: Sequence[Any], parent: SweepParent) -> BestChild | None:
    """The finished child with the best objective (ties: the earlier job)."""
    scored = [
        (r, r.data.metrics[parent.objective_metric])
        for r in runs
        if r.info.status == "FINISHED" and parent.objective_metric in r.data.metrics
    ]
    if not scored:
        return None
    sign = -1.0 if parent.direction.lower().startswith("max") else 1.0
    run, value = min(scored, key=lambda rv: sign * rv[1])
    return BestChild(run.info.run_id, run.info.run_name or run.info.run_id, float(value))


def finish_parent_run(tracking_uri: str, parent: SweepParent, aborted: bool = False) -> BestChild | None:
    """End the parent run with the best child, the job counts and its status (FAILED if a
    job failed or ``aborted``); a child still RUNNING was killed, so it is marked FAILED."""
    from mlflow.entities import Metric, RunTag
    from mlflow.utils.time import get_current_time_millis

    from gptlab.tracking import TrackingStore

    client = TrackingStore(tracking_uri).client
    runs = children(client, parent)
    for r in runs:
        if r.info.status == "RUNNING":
            client.set_terminated(r.info.run_id, "FAILED")
    runs = children(client, parent)
    failed = sum(r.info.status in ("FAILED", "KILLED") for r in runs)
    best = best_child(runs, parent)
    tags = [RunTag("sweep.jobs", str(len(runs))), RunTag("sweep.failed_jobs", str(failed))]
    metrics = []
    if best is not None:
        tags += [RunTag(BEST_RUN_TAG, best.run_id), RunTag(BEST_NAME_TAG, best.name)]
        metrics.append(Metric(f"sweep/best_{parent.objective}", best.value, get_current_time_millis(), 0))
    client.log_batch(parent.run_id, metrics=metrics, tags=tags)
    client.set_terminated(parent.run_id, "FAILED" if aborted or failed else "FINISHED")
    if best is not None:
        log.info("sweep: best run %s (%s) %s=%.6g", best.name, best.run_id, parent.objective, best.value)
    return best
