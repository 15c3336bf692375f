"""A sweep as one MLflow parent run with nested children, read back through ``MlflowClient``.

Hand-made child runs in a scratch SQLite store stand in for the jobs (seconds); the real
multiruns are in tests/stages/test_sweeps.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gptlab.sweeps.job import SweepJob
from gptlab.sweeps.parent_run import (
    BEST_NAME_TAG,
    BEST_RUN_TAG,
    PARENT_FILE,
    PARENT_ROLE,
    PARENT_RUN_ID_TAG,
    ROLE_TAG,
    SweepPlan,
    child_run_name,
    finish_parent_run,
    read_parent,
    record_job_result,
    start_parent_run,
    swept_keys,
    unique_child_name,
)
from tests.helpers import CONF, new_mlflow_store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return new_mlflow_store(tmp_path_factory.mktemp("sweeps"), tmp_path_factory)


def plan(store: str, sweep_dir: Path, **kw) -> SweepPlan:
    values = dict(tracking_uri=store, experiment_name="gptlab", sweep_dir=str(sweep_dir),
                  overrides=("experiment=smoke", "model.n_layer=1,2", "optim.lr=1e-3,3e-3"),
                  sweeper="BasicSweeper", launcher="BasicLauncher")  # fmt: skip
    values.update(kw)
    return SweepPlan(**values)


def child(client, parent, num: int, overrides: tuple[str, ...], status: str | None = "FINISHED") -> str:
    """A job's run as train_sweep_job makes it: the job's tags, named by its swept values."""
    job = SweepJob(out_dir=Path("."), sweep_id="s", num=num, task_overrides=overrides, parent=parent)
    name = unique_child_name(client, parent, job.run_name, num)
    run_id = client.create_run(parent.experiment_id, run_name=name, tags=job.tags).info.run_id
    if status:
        client.set_terminated(run_id, status)
    return run_id


def test_the_swept_keys_are_the_command_line_sweeps_and_the_search_space():
    overrides = ["experiment=smoke", "model.n_layer=1,2", "+x=range(1,3)", "optim.lr=1e-3",
                 "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "model.dropout=choice(0.0,0.1)"]  # fmt: skip
    assert swept_keys(overrides) == ("model.n_layer", "x", "model.dropout")
    assert swept_keys(["model.n_layer=1,2"], {"optim.lr": "interval(1e-4, 1e-2)", "model.n_layer": "choice(1,2)"}) == (
        "model.n_layer",
        "optim.lr",
    )


def test_a_child_is_named_by_the_values_the_sweep_varies():
    keys = ("optim.lr", "model.n_layer")
    assert child_run_name(["experiment=smoke", "model.n_layer=2", "optim.lr=3e-3"], keys, 0) == "lr=3e-3,n_layer=2"
    # Optuna's long floats are cut to 4 significant digits; integers stay as typed.
    assert child_run_name(["optim.lr=0.0012345678901", "model.n_layer=4"], keys, 1) == "lr=0.001235,n_layer=4"
    # Two swept keys that end alike keep their whole names.
    assert child_run_name(["model.dropout=0.1", "train.dropout=0.0"], ("model.dropout", "train.dropout"), 2) == (
        "model.dropout=0.1,train.dropout=0.0"
    )
    assert child_run_name(["experiment=smoke"], (), 3) == "job-3"


def test_the_parent_run_records_the_sweep_and_the_jobs_find_it(store, tmp_path):
    from mlflow.tracking import MlflowClient

    sweep_dir = tmp_path / "multirun/train/2026-01-01_00-00-00"
    parent = start_parent_run(plan(store, sweep_dir))
    assert (sweep_dir / PARENT_FILE).is_file()
    assert read_parent(sweep_dir) == parent
    assert read_parent(tmp_path) is None
    run = MlflowClient(store).get_run(parent.run_id)
    assert run.info.run_name == "sweep-2026-01-01_00-00-00" and run.info.status == "RUNNING"
    assert run.data.tags[ROLE_TAG] == PARENT_ROLE and run.data.tags["sweep_id"] == str(sweep_dir)
    assert run.data.params["sweep.overrides"] == "experiment=smoke model.n_layer=1,2 optim.lr=1e-3,3e-3"
    assert run.data.params["sweep.swept_keys"] == "model.n_layer,optim.lr"
    assert run.data.params["sweep.objective"] == "eval_val_loss"
    assert parent.swept_keys == ("model.n_layer", "optim.lr")


def test_children_nest_and_the_best_one_is_recorded_when_the_sweep_ends(store, tmp_path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    parent = start_parent_run(plan(store, tmp_path / "sweep"))
    values = {0: 2.5, 1: 2.1, 2: 2.3}
    ids = {}
    for num, value in values.items():
        ids[num] = child(client, parent, num, ("experiment=smoke", f"model.n_layer={num + 1}", "optim.lr=1e-3"))
        # a plain -m sweep returns the whole report; the objective is one key of it
        record_job_result(store, parent, num, {"eval_val_loss": value, "val_loss": 9.0}, failed=False)
    best = finish_parent_run(store, parent)

    assert best is not None and best.run_id == ids[1] and best.value == pytest.approx(2.1)
    run = client.get_run(parent.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags[BEST_RUN_TAG] == ids[1] and run.data.tags[BEST_NAME_TAG] == "n_layer=2,lr=1e-3"
    assert run.data.metrics["sweep/best_eval_val_loss"] == pytest.approx(2.1)
    assert run.data.tags["sweep.jobs"] == "3" and run.data.tags["sweep.failed_jobs"] == "0"
    kids = client.search_runs([parent.experiment_id], f"tags.`{PARENT_RUN_ID_TAG}` = '{parent.run_id}'")
    assert sorted(r.info.run_name for r in kids) == ["n_layer=1,lr=1e-3", "n_layer=2,lr=1e-3", "n_layer=3,lr=1e-3"]
    assert {r.info.run_id: r.data.metrics["sweep/eval_val_loss"] for r in kids} == {
        ids[n]: pytest.approx(v) for n, v in values.items()
    }


def test_a_failed_job_fails_its_child_only_and_the_parent_picks_among_the_rest(store, tmp_path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    parent = start_parent_run(plan(store, tmp_path / "sweep", objective="val_loss", direction="maximize"))
    good = child(client, parent, 0, ("optim.lr=1e-3",))
    record_job_result(store, parent, 0, 1.5, failed=False)  # an optimized_metric sweep returns a float
    other = child(client, parent, 1, ("optim.lr=3e-3",))
    record_job_result(store, parent, 1, 1.2, failed=False)
    failing = child(client, parent, 2, ("optim.lr=9e-3",), status=None)  # still RUNNING when its job raised
    record_job_result(store, parent, 2, None, failed=True)
    dead = child(client, parent, 3, ("optim.lr=1e-2",), status=None)  # its process died: nobody closed it

    best = finish_parent_run(store, parent, aborted=True)

    assert best is not None and best.run_id == good  # maximize
    status = {rid: client.get_run(rid).info.status for rid in (good, other, failing, dead)}
    assert status == {good: "FINISHED", other: "FINISHED", failing: "FAILED", dead: "FAILED"}
    run = client.get_run(parent.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["sweep.failed_jobs"] == "2"


def test_a_repeated_name_in_one_sweep_gets_the_job_number(store, tmp_path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    parent = start_parent_run(plan(store, tmp_path / "sweep", overrides=("optim.lr=1e-3,1e-3",)))
    first = child(client, parent, 0, ("optim.lr=1e-3",))
    second = child(client, parent, 1, ("optim.lr=1e-3",))
    assert client.get_run(first).info.run_name == "lr=1e-3"
    assert client.get_run(second).info.run_name == "lr=1e-3 #1"


def test_the_callback_reads_an_optuna_sweep_plan_from_the_composed_config():
    from hydra import compose, initialize_config_dir

    from gptlab.sweeps.hydra_callback import sweep_plan

    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["hparams_search=optuna", "experiment=smoke"], return_hydra_config=True)
    p = sweep_plan(cfg)
    assert p.objective == "val_loss" and p.direction == "minimize"
    assert p.sweeper == "OptunaSweeper"
    assert set(p.search_space) == {"optim.lr", "model.n_layer", "model.dropout"}
    assert swept_keys(p.overrides, p.search_space) == ("optim.lr", "model.n_layer", "model.dropout")
    assert cfg.hydra.callbacks.mlflow_sweep._target_ == "gptlab.sweeps.hydra_callback.MlflowSweepCallback"
