"""``python -m gptlab.compare sweep=...``: one sweep's runs, found by its MLflow parent run.

Hand-made runs in a scratch SQLite store: two sweeps and a run outside any sweep.
"""

from __future__ import annotations

import pytest

from gptlab.comparison import CompareSettings, compare
from gptlab.errors import ConfigError, DataError
from gptlab.sweeps.parent_run import PARENT_RUN_ID_TAG, SweepPlan, finish_parent_run, record_job_result, start_parent_run
from tests.comparison.sweeps import log_run
from tests.helpers import conf_section


def sweep(store: str, sweep_dir, lrs: dict[str, float]) -> str:
    """A finished sweep of one run per learning rate (name -> final val/loss); its parent id."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    plan = SweepPlan(tracking_uri=store, experiment_name="gptlab", sweep_dir=str(sweep_dir),
                     overrides=(f"optim.lr={','.join(lrs)}",), objective="val_loss")  # fmt: skip
    parent = start_parent_run(plan)
    for num, (lr, loss) in enumerate(lrs.items()):
        run_id = log_run(client, parent.experiment_id, f"lr={lr}", {"optim.lr": lr}, [(10, loss + 1), (20, loss)])
        client.set_tag(run_id, PARENT_RUN_ID_TAG, parent.run_id)
        client.set_tag(run_id, "sweep_job", str(num))
        record_job_result(store, parent, num, loss, failed=False)
    finish_parent_run(store, parent)
    return parent.run_id


@pytest.fixture
def store(tmp_path, mlflow_store):
    from mlflow.tracking import MlflowClient

    uri = mlflow_store
    first = sweep(uri, tmp_path / "multirun/train/2026-01-01_00-00-00", {"1e-3": 2.0, "3e-3": 1.5})
    second = sweep(uri, tmp_path / "multirun/train/2026-01-02_00-00-00", {"1e-2": 3.0, "3e-2": 2.5, "1e-1": 4.0})
    client = MlflowClient(uri)
    log_run(client, client.get_experiment_by_name("gptlab").experiment_id, "single", {"optim.lr": "5e-4"}, [(20, 1.0)])
    return uri, first, second


def settings(uri: str, out, sweep: str | None) -> CompareSettings:
    return conf_section(CompareSettings, "", config_name="compare", tracking_uri=uri, out_dir=str(out), sweep=sweep)


def test_a_sweep_by_its_parent_run_id_compares_its_runs_only(store, tmp_path):
    uri, first, _ = store
    result = compare(settings(uri, tmp_path / "out", first))
    assert [r.name for r in result.runs] == ["lr=3e-3", "lr=1e-3"]
    assert result.sweep is not None and result.sweep.run_id == first
    text = result.markdown.read_text()
    assert "# Sweep `sweep-2026-01-01_00-00-00`" in text
    assert "optim.lr=1e-3,3e-3" in text and "Best run by `val_loss`: `lr=3e-3`" in text


def test_sweep_latest_is_the_newest_sweep(store, tmp_path):
    uri, _, second = store
    result = compare(settings(uri, tmp_path / "out", "latest"))
    assert result.sweep.run_id == second
    assert [r.name for r in result.runs] == ["lr=3e-2", "lr=1e-2", "lr=1e-1"]


def test_without_a_sweep_every_run_is_compared_but_no_parent(store, tmp_path):
    uri, first, second = store
    result = compare(settings(uri, tmp_path / "out", None))
    assert len(result.runs) == 6 and result.sweep is None
    assert {first, second}.isdisjoint(r.run_id for r in result.runs)


def test_an_unknown_sweep_or_a_run_without_children_is_one_line(store, tmp_path):
    from mlflow.tracking import MlflowClient

    uri, _, _ = store
    with pytest.raises(ConfigError, match="sweep='nope' is not a run"):
        compare(settings(uri, tmp_path, "nope"))
    single = MlflowClient(uri).search_runs(["1"], "attributes.run_name = 'single'")[0].info.run_id
    with pytest.raises(DataError, match="no child runs"):
        compare(settings(uri, tmp_path, single))


def test_sweep_latest_in_an_experiment_without_sweeps_is_a_data_error(tmp_path, mlflow_store):
    from mlflow.tracking import MlflowClient

    uri = mlflow_store
    client = MlflowClient(uri)
    log_run(client, client.create_experiment("gptlab"), "single", {}, [(1, 1.0)])
    with pytest.raises(DataError, match="has no sweep"):
        compare(settings(uri, tmp_path, "latest"))
