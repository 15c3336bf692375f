"""The Model Registry: a version per run, the champion alias moving only on improvement, the tags.

The fast tests register versions of empty runs in a scratch SQLite store; the slow one
runs the real train and evaluate stages twice.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from gptlab.tracking import registry
from gptlab.tracking.registry import BITS_TAG, CHAMPION, CHAMPION_BITS_TAG, COMPARED_TAG, PROMOTION_TAG
from tests.evaluation.pipeline_fixtures import pipeline_copy, trained_pipeline  # noqa: F401 - fixtures


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A scratch SQLite store with one experiment (created once: migrations take a second)."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path_factory.mktemp('registry') / 'mlflow.db'}"
    MlflowClient(uri).create_experiment("gptlab")
    return uri


def new_version(store: str, name: str):
    """A fresh run and a version of ``name`` registered from it."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    run = client.create_run(client.get_experiment_by_name("gptlab").experiment_id)
    return registry.register_version(store, name, f"runs:/{run.info.run_id}/model", run.info.run_id)


def version_tags(store: str, name: str, version) -> dict:
    return registry.client_for(store).get_model_version(name, str(version)).tags


def champion_version(store: str, name: str) -> str | None:
    mv = registry.champion(registry.client_for(store), name)
    return None if mv is None else str(mv.version)


def test_each_registration_is_a_new_version_of_the_same_model(store):
    first, second = new_version(store, "versions"), new_version(store, "versions")
    assert (int(first.version), int(second.version)) == (1, 2)
    assert first.run_id != second.run_id
    assert [mv.run_id for mv in registry.run_versions(registry.client_for(store), second.run_id)] == [second.run_id]
    assert champion_version(store, "versions") is None  # registering promotes nothing


def test_the_first_evaluated_version_becomes_champion(store):
    mv = new_version(store, "first")
    result = registry.promote_run_versions(store, mv.run_id, 2.5)
    assert [r.promoted for r in result] == [True]
    assert champion_version(store, "first") == str(mv.version)
    tags = version_tags(store, "first", mv.version)
    assert float(tags[BITS_TAG]) == pytest.approx(2.5) and tags[PROMOTION_TAG] == CHAMPION


def test_a_better_version_takes_the_alias_and_records_both_figures(store):
    old, new = new_version(store, "better"), new_version(store, "better")
    registry.promote_run_versions(store, old.run_id, 2.5)
    (result,) = registry.promote_run_versions(store, new.run_id, 2.25)
    assert result.promoted and result.champion_version == str(old.version)
    assert champion_version(store, "better") == str(new.version)
    tags = version_tags(store, "better", new.version)
    assert float(tags[BITS_TAG]) == pytest.approx(2.25)
    assert float(tags[CHAMPION_BITS_TAG]) == pytest.approx(2.5)
    assert tags[COMPARED_TAG] == str(old.version)


@pytest.mark.parametrize("bits", [2.75, 2.5])  # worse, and a tie: the champion stays
def test_a_worse_or_equal_version_leaves_the_champion_and_says_so(store, bits, caplog):
    name = f"worse-{bits}"
    old, new = new_version(store, name), new_version(store, name)
    registry.promote_run_versions(store, old.run_id, 2.5)
    with caplog.at_level(logging.INFO, logger="gptlab.tracking"):
        (result,) = registry.promote_run_versions(store, new.run_id, bits)
    assert not result.promoted
    assert champion_version(store, name) == str(old.version)
    tags = version_tags(store, name, new.version)
    assert float(tags[BITS_TAG]) == pytest.approx(bits) and float(tags[CHAMPION_BITS_TAG]) == pytest.approx(2.5)
    assert tags[PROMOTION_TAG] == "not promoted"
    lines = [r.getMessage() for r in caplog.records if "not promoted" in r.getMessage()]
    assert len(lines) == 1 and f"the champion stays v{old.version}" in lines[0]


def test_re_evaluating_the_champion_keeps_it_and_updates_its_figure(store):
    mv = new_version(store, "again")
    registry.promote_run_versions(store, mv.run_id, 2.5)
    (result,) = registry.promote_run_versions(store, mv.run_id, 2.75)  # e.g. another evaluate.stride
    assert result.promoted and champion_version(store, "again") == str(mv.version)
    assert float(version_tags(store, "again", mv.version)[BITS_TAG]) == pytest.approx(2.75)


def test_a_champion_set_by_hand_without_a_figure_is_not_displaced(store):
    hand, new = new_version(store, "by-hand"), new_version(store, "by-hand")
    registry.client_for(store).set_registered_model_alias("by-hand", CHAMPION, hand.version)
    (result,) = registry.promote_run_versions(store, new.run_id, 0.5)
    assert not result.promoted and champion_version(store, "by-hand") == str(hand.version)
    assert "records no val_bits_per_char tag" in result.message


def test_a_run_registered_twice_promotes_only_its_newest_version(store):
    """A finished run resumed with more steps registers again; its earlier version holds
    the earlier model, which the new figure does not describe."""
    first = new_version(store, "resumed")
    again = registry.register_version(store, "resumed", f"runs:/{first.run_id}/model", first.run_id)
    (result,) = registry.promote_run_versions(store, first.run_id, 2.0)
    assert result.version == str(again.version) and champion_version(store, "resumed") == str(again.version)
    assert BITS_TAG not in version_tags(store, "resumed", first.version)


def test_nothing_to_promote_without_a_version_or_a_figure(store, caplog):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    run = client.create_run(client.get_experiment_by_name("gptlab").experiment_id)
    with caplog.at_level(logging.INFO, logger="gptlab.tracking"):
        assert registry.promote_run_versions(store, run.info.run_id, 2.0) == []
    assert any("no registered model version comes from run" in r.getMessage() for r in caplog.records)
    mv = new_version(store, "no-figure")
    assert registry.promote_run_versions(store, mv.run_id, None) == []
    assert registry.promote_run_versions(store, mv.run_id, float("nan")) == []
    assert champion_version(store, "no-figure") is None


def test_the_sqlite_store_lock_is_the_store_s_own(tmp_path):
    db = tmp_path / "mlflow.db"
    with registry.store_lock(f"sqlite:///{db}"):
        assert (tmp_path / "mlflow.db.lock").is_file()
    with registry.store_lock("http://127.0.0.1:9"):  # other stores: no lock file anywhere
        pass


@pytest.mark.slow
def test_train_registers_and_evaluate_promotes_only_a_better_model(pipeline_copy):
    """The stages end to end: the fixture's training registered v1; evaluate makes it the
    champion; a second training registers v2, and its evaluate moves the alias only if
    its whole-split validation bits/char are lower."""
    from gptlab import evaluate, train
    from tests.conftest import compose
    from tests.evaluation.pipeline_fixtures import TRAIN_OVERRIDES, base_overrides, mlflow_overrides

    store = f"sqlite:///{pipeline_copy / 'mlflow.db'}"
    name = "gptlab-file-char"  # conf/logger/mlflow.yaml: gptlab-${data.source}-${tokenizer.kind}
    overrides = base_overrides(*mlflow_overrides(pipeline_copy))
    client = registry.client_for(store)

    def model_run() -> str:
        return json.loads((Path(pipeline_copy) / "artifacts/model/config.json").read_text())["mlflow"]["run_id"]

    (v1,) = registry.run_versions(client, model_run())
    assert v1.name == name and champion_version(store, name) is None
    first = evaluate.run(compose(*overrides))["val"]["bits_per_char"]
    assert champion_version(store, name) == str(v1.version)
    assert float(version_tags(store, name, v1.version)[BITS_TAG]) == pytest.approx(first, abs=1e-6)

    # Fewer steps than the fixture's model: almost surely worse, but only the rule is asserted.
    train.run(compose(*overrides, *TRAIN_OVERRIDES, "trainer.max_steps=2", "trainer.val_check_interval=2"))
    (v2,) = registry.run_versions(client, model_run())
    assert int(v2.version) == int(v1.version) + 1
    second = evaluate.run(compose(*overrides))["val"]["bits_per_char"]
    expected = v2.version if second < first else v1.version
    assert champion_version(store, name) == str(expected)
    tags = version_tags(store, name, v2.version)
    assert float(tags[BITS_TAG]) == pytest.approx(second, abs=1e-6)
    assert float(tags[CHAMPION_BITS_TAG]) == pytest.approx(first, abs=1e-6)
