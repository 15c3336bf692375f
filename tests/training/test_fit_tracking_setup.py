"""The MLflow set-up runs beside the model and data set-up, yet fails before training starts;
only a launch's rank 0 opens a run."""

from __future__ import annotations

import pytest

from gptlab.errors import StoreError
from gptlab.tracking import TrackingStore
from gptlab.training import fit as fit_module
from tests.helpers import cli_exit_code, copy_built, one_error_line

SMOKE = ("experiment=smoke", "data=file", "data.path=corpus.txt", "trainer.max_steps=2")


def test_an_error_of_the_background_set_up_is_one_line_before_training(built_data, tmp_path, monkeypatch,
                                                                        capsys, mlflow_store):  # fmt: skip
    """What MLflow itself refuses (the store's file passed the quick checks) is raised
    from the set-up thread when the fit joins it: before the trainer exists, nothing written."""
    work = copy_built(built_data, tmp_path)
    monkeypatch.chdir(work)
    where = {}

    def refuse(self, name):
        import threading

        where["thread"] = threading.current_thread().name
        raise StoreError(f"MLflow store {self.redacted}: refused for the test")

    monkeypatch.setattr(TrackingStore, "ensure_experiment", refuse)
    assert cli_exit_code("train", *SMOKE, f"logger.tracking_uri={mlflow_store}") == 2
    one_error_line(capsys.readouterr().err, "refused for the test")
    assert where["thread"].startswith("gptlab-tracking-setup")  # it did run in the background
    assert not (work / "artifacts" / "train").exists()
    assert not (work / "artifacts" / "model").exists()


def test_a_store_mlflow_refuses_ends_the_training_with_one_line(built_data, tmp_path, monkeypatch, capsys,
                                                               mlflow_store):  # fmt: skip
    """MLflow's own error (here: the experiment was deleted), not gptlab's: one line too."""
    client = TrackingStore(mlflow_store).client
    client.delete_experiment(client.create_experiment("gone"))
    work = copy_built(built_data, tmp_path / "w")
    monkeypatch.chdir(work)
    code = cli_exit_code("train", *SMOKE, f"logger.tracking_uri={mlflow_store}", "logger.experiment_name=gone")
    assert code == 2
    one_error_line(capsys.readouterr().err, "deleted")
    assert not (work / "artifacts" / "train").exists()


def test_a_store_that_is_not_sqlite_fails_before_any_thread(tmp_path):
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"not a database\n" * 4)
    logger = type("L", (), {"enabled": True, "tracking_uri": f"sqlite:///{db}"})()
    with pytest.raises(StoreError, match="is not an SQLite database"):
        fit_module.checked_store(logger)
    assert fit_module.checked_store(type("L", (), {"enabled": False})()) is None


def test_only_the_launchs_rank_zero_opens_a_run(monkeypatch, mlflow_store):
    from lightning.pytorch.utilities import rank_zero_only

    store = TrackingStore(mlflow_store)
    assert fit_module.opens_run(store) and not fit_module.opens_run(None)
    monkeypatch.setattr(rank_zero_only, "rank", 1)  # what Lightning read from LOCAL_RANK=1 at import
    assert not fit_module.opens_run(store)
    logger = fit_module.mlflow_logger(store, None)
    assert logger.run_id is None and logger._writes is None


def test_the_exit_freeze_is_registered_once_however_many_fits(monkeypatch):
    """Through ``atexit`` (a stand-in that keeps its list visible): one freeze at exit, and
    nothing frozen while the process goes on (a sweep runs many fits in one process)."""
    import gc

    registered: list = []
    fake = type("Atexit", (), {"register": staticmethod(registered.append),
                               "unregister": staticmethod(lambda f: registered[:].count(f) and registered.remove(f))})
    monkeypatch.setattr(fit_module, "atexit", fake)
    frozen = gc.get_freeze_count()
    fit_module.skip_collection_at_exit()
    fit_module.skip_collection_at_exit()
    assert registered == [gc.freeze]
    assert gc.get_freeze_count() == frozen
