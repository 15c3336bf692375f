"""The Model Registry: a version per published model, the champion alias moving only on
improvement, the tags, and the look-ups that make publishing safe to repeat.

Versions of empty runs' logged models in a scratch SQLite store; the publish stage on a
trained model is tests/stages/test_publish_stage.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gptlab.tracking import registry
from gptlab.tracking.registry import BITS_TAG, CHAMPION, CHAMPION_BITS_TAG, COMPARED_TAG, MODEL_TAG, PROMOTION_TAG
from gptlab.tracking.store import TrackingStore
from tests.helpers import new_mlflow_store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> TrackingStore:
    """A scratch SQLite store with one experiment, shared by the module's tests."""
    root = tmp_path_factory.mktemp("registry")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # logged models' artifact folders land next to the store
        s = TrackingStore(new_mlflow_store(root, tmp_path_factory))
        s.ensure_experiment("gptlab")
    return s


def new_run(store: TrackingStore):
    """A finished run with one completely logged model; (run, logged model)."""
    client = store.client
    exp = client.get_experiment_by_name("gptlab").experiment_id
    run = client.create_run(exp)
    client.set_terminated(run.info.run_id, "FINISHED")
    model = client.create_logged_model(exp, name="model", source_run_id=run.info.run_id,
                                       tags={registry.PUBLISH_KEY_TAG: f"key-{run.info.run_id}"})  # fmt: skip
    client.finalize_logged_model(model.model_id, "READY")
    return client.get_run(run.info.run_id), model


def new_version(store: TrackingStore, name: str, model_sha256: str | None = None):
    """A fresh run, and a version of ``name`` registered from its logged model."""
    run, model = new_run(store)
    with store.active_run(run.info.run_id):
        return registry.register_version(store, name, model.model_uri, {MODEL_TAG: model_sha256 or run.info.run_id})


def promote(store: TrackingStore, name: str, mv, bits: float | None):
    return registry.promote(store, name, mv.version, bits, mv.tags.get(MODEL_TAG))


def version_tags(store: TrackingStore, name: str, version) -> dict:
    return store.client.get_model_version(name, str(version)).tags


def champion_version(store: TrackingStore, name: str) -> str | None:
    mv = registry.champion(store.client, name)
    return None if mv is None else str(mv.version)


def test_each_registration_is_a_new_version_of_the_same_model(store):
    first, second = new_version(store, "versions"), new_version(store, "versions")
    assert (int(first.version), int(second.version)) == (1, 2)
    assert first.run_id != second.run_id and first.source.startswith("models:/m-")
    assert version_tags(store, "versions", first.version)[MODEL_TAG] == first.run_id
    assert champion_version(store, "versions") is None  # registering promotes nothing


def test_a_run_s_logged_model_and_its_version_are_found_again(store):
    """What makes publishing safe to repeat: the logged model by its publish key, and the
    version registered from it."""
    run, model = new_run(store)
    key = model.tags[registry.PUBLISH_KEY_TAG]
    assert registry.published_model(store, run, key).model_id == model.model_id
    assert registry.published_model(store, run, "another key") is None
    rid = run.info.run_id
    assert registry.model_version(store, "found", rid, model.model_uri) is None
    with store.active_run(rid):
        mv = registry.register_version(store, "found", model.model_uri, {})
    assert registry.model_version(store, "found", rid, model.model_uri).version == mv.version
    assert registry.model_version(store, "found", rid, "models:/m-other") is None


def test_a_half_logged_model_is_not_found(store):
    """A model whose logging failed part-way (not READY) is logged again, not reused."""
    client = store.client
    run, _ = new_run(store)
    pending = client.create_logged_model(run.info.experiment_id, name="model", source_run_id=run.info.run_id,
                                         tags={registry.PUBLISH_KEY_TAG: "half"})  # fmt: skip
    assert registry.published_model(store, run, "half") is None
    client.finalize_logged_model(pending.model_id, "READY")
    assert registry.published_model(store, run, "half").model_id == pending.model_id


def test_resuming_a_run_to_publish_keeps_its_status_and_end_time(store):
    run, _ = new_run(store)
    with registry.keeping_run_end(store, run), store.active_run(run.info.run_id):
        assert store.client.get_run(run.info.run_id).info.status == "RUNNING"
    after = store.client.get_run(run.info.run_id).info
    assert (after.status, after.end_time) == ("FINISHED", run.info.end_time)


def test_the_first_published_version_becomes_champion(store):
    mv = new_version(store, "first")
    result = promote(store, "first", mv, 2.5)
    assert result.promoted and result.champion_version is None
    assert champion_version(store, "first") == str(mv.version)
    tags = version_tags(store, "first", mv.version)
    assert float(tags[BITS_TAG]) == pytest.approx(2.5) and tags[PROMOTION_TAG] == CHAMPION


def test_a_better_version_takes_the_alias_and_records_both_figures(store):
    old, new = new_version(store, "better"), new_version(store, "better")
    promote(store, "better", old, 2.5)
    result = promote(store, "better", new, 2.25)
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
    promote(store, name, old, 2.5)
    with caplog.at_level(logging.INFO, logger="gptlab.tracking"):
        result = promote(store, name, new, bits)
    assert not result.promoted
    assert champion_version(store, name) == str(old.version)
    tags = version_tags(store, name, new.version)
    assert float(tags[BITS_TAG]) == pytest.approx(bits) and float(tags[CHAMPION_BITS_TAG]) == pytest.approx(2.5)
    assert tags[PROMOTION_TAG] == "not promoted"
    lines = [r.getMessage() for r in caplog.records if "not promoted" in r.getMessage()]
    assert len(lines) == 1 and f"the champion stays v{old.version}" in lines[0]


def test_re_evaluating_the_champion_keeps_it_and_updates_its_figure(store):
    mv = new_version(store, "again")
    promote(store, "again", mv, 2.5)
    result = promote(store, "again", mv, 2.75)  # e.g. another evaluate.stride
    assert result.promoted and champion_version(store, "again") == str(mv.version)
    assert float(version_tags(store, "again", mv.version)[BITS_TAG]) == pytest.approx(2.75)


def test_the_champion_s_model_published_again_takes_over_the_alias(store):
    """The same model directory logged again (new serving code) is the same model: its new
    version serves, even on a tie; another model with the same figure does not."""
    old = new_version(store, "republished", model_sha256="same-weights")
    promote(store, "republished", old, 2.5)
    other = new_version(store, "republished", model_sha256="other-weights")
    assert not promote(store, "republished", other, 2.5).promoted
    again = new_version(store, "republished", model_sha256="same-weights")
    result = promote(store, "republished", again, 2.5)
    assert result.promoted and "published again" in result.message
    assert champion_version(store, "republished") == str(again.version)


def test_a_champion_set_by_hand_without_a_figure_is_not_displaced(store):
    hand, new = new_version(store, "by-hand"), new_version(store, "by-hand")
    store.client.set_registered_model_alias("by-hand", CHAMPION, hand.version)
    result = promote(store, "by-hand", new, 0.5)
    assert not result.promoted and champion_version(store, "by-hand") == str(hand.version)
    assert "records no val_bits_per_char tag" in result.message


def test_nothing_is_compared_without_a_finite_figure(store, caplog):
    mv = new_version(store, "no-figure")
    with caplog.at_level(logging.INFO, logger="gptlab.tracking"):
        assert promote(store, "no-figure", mv, None) is None
    assert any("champion is not compared" in r.getMessage() for r in caplog.records)
    assert promote(store, "no-figure", mv, float("nan")) is None
    assert champion_version(store, "no-figure") is None
    assert BITS_TAG not in version_tags(store, "no-figure", mv.version)


def test_the_registry_s_lock_is_the_sqlite_store_s_own(tmp_path: Path):
    with TrackingStore(f"sqlite:///{tmp_path / 'mlflow.db'}").lock():
        assert (tmp_path / "mlflow.db.lock").is_file()
    with TrackingStore("http://127.0.0.1:9").lock():  # servers serialise writes: no lock file anywhere
        pass
    assert [p.name for p in tmp_path.iterdir()] == ["mlflow.db.lock"]


def test_losing_a_race_for_the_alias_on_a_server_decides_again(store, monkeypatch):
    """A server's store (PostgreSQL) refuses the second of two simultaneous alias inserts."""
    from mlflow.exceptions import MlflowException

    old, new = new_version(store, "raced"), new_version(store, "raced")
    promote(store, "raced", old, 2.5)
    real_set = store.client.set_registered_model_alias
    calls = []

    def lose_the_first_race(name, alias, version):
        calls.append(version)
        if len(calls) == 1:
            raise MlflowException('(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint "registered_model_alias_pk"')
        real_set(name, alias, version)

    monkeypatch.setattr(store.client, "set_registered_model_alias", lose_the_first_race)
    assert promote(store, "raced", new, 2.25).promoted
    assert calls == [str(new.version)] * 2 and champion_version(store, "raced") == str(new.version)
    monkeypatch.setattr(store.client, "set_registered_model_alias", lambda *a: (_ for _ in ()).throw(MlflowException("refused")))
    with pytest.raises(MlflowException, match="refused"):
        promote(store, "raced", new_version(store, "raced"), 2.0)  # any other refusal is raised as it is
