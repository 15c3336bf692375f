"""An MLflow experiment's runs as plain :class:`RunSummary` values, all the table and the plot see."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gptlab.errors import ConfigError, DataError

if TYPE_CHECKING:
    from gptlab.tracking.store import TrackingStore

VAL_LOSS = "val/loss"
VAL_BPC = "eval/val_bits_per_char"
TEST_BPC = "eval/test_bits_per_char"
# Logged by the evaluation with evaluate.loss_by_position=true (step = position); the test
# split's where a run has both.
POSITION_LOSS = ("eval/test_loss_at_position", "eval/val_loss_at_position")
TOKENS_PER_S = "train/tokens_per_s"
# Where a run's parameter count may be recorded (the train stage logs ``model/params``),
# first match wins; a run that records none gets a blank cell, not a guess.
PARAM_COUNT_METRICS = ("model/params", "params")
PARAM_COUNT_PARAMS = ("model.params", "params")

# The experiment listing in an error message stays readable on a crowded server.
_MAX_LISTED = 20
LATEST = "latest"  # sweep=latest: the experiment's most recently started sweep


@dataclass(frozen=True)
class RunSummary:
    """One run, as the comparison sees it (``None``: the run did not record that number)."""

    run_id: str
    name: str
    params: Mapping[str, str] = field(default_factory=dict)
    val_loss: float | None = None
    val_bpc: float | None = None
    test_bpc: float | None = None
    n_params: int | None = None
    tokens_per_s: float | None = None
    wall_s: float | None = None
    # (step, value) of every validation, in step order: the curve in the plot.
    val_curve: tuple[tuple[int, float], ...] = ()
    position_loss: tuple[float, ...] = ()  # mean nats at each position of the context window


def _every(search: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
    """Every item of a paged MLflow search, page after page."""
    token = None
    while True:
        page = search(*args, page_token=token, **kwargs)
        yield from page
        token = page.token
        if not token:
            return


def experiment_names(client: Any) -> list[str]:
    from mlflow.entities import ViewType

    return sorted(e.name for e in _every(client.search_experiments, view_type=ViewType.ACTIVE_ONLY))


def _listing(names: list[str]) -> str:
    if not names:
        return "the store has no experiments"
    shown = ", ".join(repr(n) for n in names[:_MAX_LISTED])
    more = f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else ""
    return f"existing experiments: {shown}{more}"


def find_experiment(store: TrackingStore, name: str) -> Any:
    """The active experiment called ``name``; a ConfigError that lists the others if none."""
    exp = store.client.get_experiment_by_name(name)
    if exp is None or exp.lifecycle_stage != "active":
        state = "is deleted" if exp is not None else "not found"
        raise ConfigError(
            f"MLflow experiment {name!r} {state} in {store.redacted}; {_listing(experiment_names(store.client))} "
            "(choose one with experiment_name=NAME)"
        )
    return exp


@dataclass(frozen=True)
class SweepSummary:
    """A sweep's parent run (``python -m gptlab.train -m ...``), as the report names it."""

    run_id: str
    name: str
    overrides: str
    objective: str
    best_run_name: str | None


def find_sweep(store: TrackingStore, sweep: str, experiment: Any) -> Any:
    """The parent run ``sweep`` names: a run id (in any experiment), or ``latest``, the most
    recently started sweep of ``experiment``."""
    from mlflow.exceptions import MlflowException

    from gptlab.sweeps.parent_run import PARENT_ROLE, ROLE_TAG

    if sweep == LATEST:
        found = store.client.search_runs(
            [experiment.experiment_id], filter_string=f"tags.{ROLE_TAG} = '{PARENT_ROLE}'",
            order_by=["attributes.start_time DESC"], max_results=1,
        )  # fmt: skip
        if not found:
            raise DataError(
                f"MLflow experiment {experiment.name!r} in {store.redacted} has no sweep "
                "(a parent run made by `python -m gptlab.train -m ...`); compare its runs without sweep=..."
            )
        return found[0]
    try:
        return store.client.get_run(sweep)
    except MlflowException:
        raise ConfigError(
            f"sweep={sweep!r} is not a run in {store.redacted}: give a sweep's parent run id "
            "(the MLflow UI shows it on the run's page) or sweep=latest"
        ) from None


def sweep_summary(run: Any) -> SweepSummary:
    from gptlab.sweeps.parent_run import BEST_NAME_TAG

    tags, params = run.data.tags, run.data.params
    return SweepSummary(
        run_id=run.info.run_id,
        name=run.info.run_name or run.info.run_id[:8],
        overrides=params.get("sweep.overrides", ""),
        objective=params.get("sweep.objective", ""),
        best_run_name=tags.get(BEST_NAME_TAG),
    )


def load_runs(store: TrackingStore, experiment: Any, parent_run_id: str | None = None) -> list[RunSummary]:
    """Every active run of ``experiment`` (sweeps' parent runs left out), or only the child
    runs of the sweep ``parent_run_id``, summarized; a DataError if there are none."""
    from gptlab.sweeps.parent_run import PARENT_ROLE, PARENT_RUN_ID_TAG, ROLE_TAG

    client = store.client
    where = f"tags.`{PARENT_RUN_ID_TAG}` = '{parent_run_id}'" if parent_run_id else ""
    found = _every(client.search_runs, [experiment.experiment_id], filter_string=where)
    runs = [r for r in found if r.data.tags.get(ROLE_TAG) != PARENT_ROLE]
    if not runs and parent_run_id:
        raise DataError(
            f"run {parent_run_id} of MLflow experiment {experiment.name!r} in {store.redacted} has no "
            "child runs: is it a sweep's parent run? (sweep=latest picks the newest sweep)"
        )
    if not runs:
        others = [n for n in experiment_names(client) if n != experiment.name]
        raise DataError(
            f"MLflow experiment {experiment.name!r} in {store.redacted} has no runs to compare; "
            f"{_listing(others) if others else 'no other experiment exists'} "
            f"(train into it with logger.experiment_name={experiment.name})"
        )
    return [summarize(client, run) for run in runs]


def summarize(client: Any, run: Any) -> RunSummary:
    info, data = run.info, run.data
    metrics: Mapping[str, float] = data.metrics  # the latest value of each metric
    history = sorted((int(m.step), float(m.value)) for m in client.get_metric_history(info.run_id, VAL_LOSS))
    position = next((key for key in POSITION_LOSS if key in metrics), None)
    by_position = sorted((int(m.step), m.value) for m in client.get_metric_history(info.run_id, position)) if position else []
    name = info.run_name or data.tags.get("mlflow.runName") or info.run_id[:8]
    wall = (info.end_time - info.start_time) / 1000 if info.end_time and info.start_time else None
    return RunSummary(
        run_id=info.run_id,
        name=name,
        params=dict(data.params),
        val_loss=_number(metrics.get(VAL_LOSS)),
        val_bpc=_number(metrics.get(VAL_BPC)),
        test_bpc=_number(metrics.get(TEST_BPC)),
        n_params=_param_count(metrics, data.params),
        tokens_per_s=_number(metrics.get(TOKENS_PER_S)),
        wall_s=wall,
        val_curve=tuple(history),
        position_loss=tuple(value for _, value in by_position),
    )


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if x == x else None  # NaN: not a result worth ranking by


def _param_count(metrics: Mapping[str, float], params: Mapping[str, str]) -> int | None:
    for key in PARAM_COUNT_METRICS:
        if (x := _number(metrics.get(key))) is not None:
            return int(x)
    for key in PARAM_COUNT_PARAMS:
        if (x := _number(params.get(key))) is not None:
            return int(x)
    return None
