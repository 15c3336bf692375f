"""The publish stage: the evaluated model logged to its run, registered, the champion moved
by the rule; safe to repeat; nothing published (and said so) without tracking; and a
serving change reruns publish alone.

The trained pipeline's model was trained with tracking on; its ``metrics.json`` is
written here with a chosen figure where the test is about the rule, not the evaluation.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gptlab import publish
from gptlab.errors import DataError
from gptlab.tracking import registry
from gptlab.tracking.registry import BITS_TAG, MODEL_TAG
from gptlab.tracking.store import TrackingStore
from tests.helpers import REPO, compose, new_mlflow_store
from tests.evaluation.pipeline_fixtures import (  # noqa: F401 - fixtures
    base_overrides,
    mlflow_overrides,
    pipeline_copy,
    trained_pipeline,
)
from tests.pipeline.test_dvc_code_deps import code_deps, covered, stages
from tests.pipeline.test_dvc_pipeline import _params, _sh, repo_copy  # noqa: F401 - a fixture

NAME = "gptlab-file-char"  # conf/logger/mlflow.yaml: gptlab-${data.source}-${tokenizer.kind}


def write_metrics(root: Path, val_bits_per_char: float | None) -> None:
    val = {} if val_bits_per_char is None else {"val": {"bits_per_char": val_bits_per_char, "loss": 1.0}}
    (root / "reports/metrics.json").write_text(json.dumps({**val, "test": {"bits_per_char": 9.0}}))


def run_publish(root: Path, *overrides: str) -> dict:
    return publish.run(compose(*base_overrides(*mlflow_overrides(root), *overrides)))


def store_of(root: Path) -> TrackingStore:
    return TrackingStore(f"sqlite:///{root / 'mlflow.db'}")


def model_run_id(root: Path) -> str:
    return json.loads((root / "artifacts/model/config.json").read_text())["mlflow"]["run_id"]


def logged_models(store: TrackingStore, run_id: str) -> list:
    run = store.client.get_run(run_id)
    return list(store.client.search_logged_models([run.info.experiment_id], f"source_run_id = '{run_id}'"))


def champion(store: TrackingStore) -> str | None:
    mv = registry.champion(store.client, NAME)
    return None if mv is None else str(mv.version)


def versions(store: TrackingStore) -> list:
    return list(store.client.search_model_versions(f"name = '{NAME}'"))


def test_publish_logs_the_model_to_its_run_registers_it_and_makes_the_first_champion(pipeline_copy):
    store, rid = store_of(pipeline_copy), model_run_id(pipeline_copy)
    assert versions(store) == [] and logged_models(store, rid) == []  # train published nothing
    before = store.client.get_run(rid).info
    write_metrics(pipeline_copy, 2.5)

    record = run_publish(pipeline_copy)

    assert json.loads((pipeline_copy / "reports/publish.json").read_text()) == record
    assert record["published"] and record["run_id"] == rid and record["val_bits_per_char"] == 2.5
    assert (record["registered_model_name"], record["version"], record["promoted"]) == (NAME, "1", True)
    assert record["run_model_uri"] == f"runs:/{rid}/model" and "first champion" in record["message"]
    (logged,) = logged_models(store, rid)
    assert record["model_uri"] == logged.model_uri and logged.name == "model"
    (mv,) = versions(store)
    assert (mv.run_id, mv.source) == (rid, logged.model_uri) and len(mv.tags[MODEL_TAG]) == 64
    assert champion(store) == str(mv.version)
    assert float(mv.tags[BITS_TAG]) == pytest.approx(2.5)
    after = store.client.get_run(rid).info  # the run's duration stays its training's
    assert (after.status, after.end_time) == (before.status, before.end_time)


def test_publishing_again_logs_and_registers_nothing_new(pipeline_copy, caplog):
    store, rid = store_of(pipeline_copy), model_run_id(pipeline_copy)
    write_metrics(pipeline_copy, 2.5)
    first = run_publish(pipeline_copy)
    caplog.set_level("INFO")
    second = run_publish(pipeline_copy)
    assert (second["model_uri"], second["version"], second["promoted"]) == (first["model_uri"], "1", True)
    assert len(logged_models(store, rid)) == 1 and len(versions(store)) == 1
    assert "the model was logged before" in caplog.text and "already the champion" in caplog.text


def test_a_retry_after_a_failed_registration_registers_once(pipeline_copy, monkeypatch):
    store, rid = store_of(pipeline_copy), model_run_id(pipeline_copy)
    write_metrics(pipeline_copy, 2.5)

    def fail(*args, **kwargs):
        raise RuntimeError("the registry went away")

    with monkeypatch.context() as mp:
        mp.setattr(registry, "register_version", fail)
        with pytest.raises(RuntimeError, match="went away"):
            run_publish(pipeline_copy)
    assert len(logged_models(store, rid)) == 1 and versions(store) == []  # half done
    assert store.client.get_run(rid).info.status == "FINISHED"

    record = run_publish(pipeline_copy)
    assert record["version"] == "1" and record["promoted"]
    assert len(logged_models(store, rid)) == 1 and len(versions(store)) == 1


def test_a_worse_model_is_registered_but_the_champion_stays(pipeline_copy):
    """The rule on the stage's own figures: a second model whose val bits/char are not
    lower (a tie) leaves the alias where it is; publish.json says so."""
    store = store_of(pipeline_copy)
    write_metrics(pipeline_copy, 2.5)
    run_publish(pipeline_copy)
    with open(pipeline_copy / "artifacts/model/config.json", "a") as f:
        f.write("\n")  # another model directory, for the registry (the digest differs)
    write_metrics(pipeline_copy, 2.5)
    record = run_publish(pipeline_copy)
    assert (record["version"], record["promoted"]) == ("2", False)
    assert "not promoted" in record["message"]
    assert champion(store) == "1"


def test_without_a_val_figure_the_version_is_registered_and_nothing_compared(pipeline_copy):
    write_metrics(pipeline_copy, None)  # evaluate.splits=[test]
    record = run_publish(pipeline_copy)
    assert record["published"] and record["version"] == "1" and record["promoted"] is None
    assert champion(store_of(pipeline_copy)) is None


def test_registration_off_logs_the_model_only(pipeline_copy):
    write_metrics(pipeline_copy, 2.5)
    record = run_publish(pipeline_copy, "logger.registered_model_name=null")
    assert record["published"] and record["registered_model_name"] is None and record["version"] is None
    assert len(logged_models(store_of(pipeline_copy), model_run_id(pipeline_copy))) == 1


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        (("logger=none",), "tracking is off (logger.enabled=false)"),
        (("logger.tracking_uri=sqlite:///elsewhere.db",), "is not in the MLflow store"),
    ],
)
def test_nothing_is_published_without_tracking_or_the_run_and_publish_json_says_why(pipeline_copy, caplog,
                                                                                     overrides, reason):  # fmt: skip
    write_metrics(pipeline_copy, 2.5)
    record = publish.run(compose(*base_overrides(*overrides)))
    assert record["published"] is False and reason in record["reason"]
    assert json.loads((pipeline_copy / "reports/publish.json").read_text()) == record
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("nothing published")]
    assert len(lines) == 1 and reason in lines[0]
    assert not (pipeline_copy / "elsewhere.db").exists()  # no empty store left behind
    assert versions(store_of(pipeline_copy)) == []


def test_a_model_trained_without_tracking_publishes_nothing(pipeline_copy):
    config = pipeline_copy / "artifacts/model/config.json"
    info = json.loads(config.read_text())
    info.pop("mlflow", None)
    config.write_text(json.dumps(info))
    write_metrics(pipeline_copy, 2.5)
    record = run_publish(pipeline_copy)
    assert record["published"] is False and "records no MLflow run" in record["reason"]


def test_missing_metrics_is_an_error_that_names_the_evaluate_stage(pipeline_copy):
    (pipeline_copy / "reports/metrics.json").unlink(missing_ok=True)
    with pytest.raises(DataError, match=r"metrics.json not found: run the evaluate stage first"):
        run_publish(pipeline_copy)
    assert not (pipeline_copy / "reports/publish.json").exists()


def test_serving_code_is_a_dep_of_the_publish_stage_only():
    """dvc.yaml (whose code deps tests/pipeline/test_dvc_code_deps.py holds equal to the
    import closures): a change under serving/ reruns publish, not train or evaluate."""
    serving = [f.relative_to(REPO) for f in sorted((REPO / "src/gptlab/serving").glob("*.py"))]
    users = {name for name, stage in stages().items() for f in serving if covered(f, code_deps(stage))}
    assert users == {"publish"}
    registry_file = Path("src/gptlab/tracking/registry.py")
    assert {name for name, stage in stages().items() if covered(registry_file, code_deps(stage))} == {"publish"}
    assert {"artifacts/model", "reports/metrics.json"} <= set(stages()["publish"]["deps"])


@pytest.mark.slow
def test_cli_without_metrics_is_one_line_and_exit_code_2(trained_pipeline, tmp_path, subprocess_env):
    root = tmp_path / "pipeline"
    root.mkdir()
    (root / "artifacts").symlink_to(trained_pipeline / "artifacts")  # read only: nothing is written there
    proc = subprocess.run([sys.executable, "-m", "gptlab.publish", *base_overrides("logger=none")],
                          cwd=root, env=subprocess_env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: reports/metrics.json not found: run the evaluate stage first (python -m gptlab.evaluate)"
    ]


@pytest.mark.slow
def test_train_evaluate_publish_moves_the_champion_only_for_a_better_model(pipeline_copy):
    """The stages end to end: evaluate then publish makes the fixture's model the champion;
    a second training publishes v2, and the alias moves only if its whole-split
    validation bits/char are lower."""
    from gptlab import evaluate, train
    from tests.evaluation.pipeline_fixtures import TRAIN_OVERRIDES

    store = store_of(pipeline_copy)
    overrides = base_overrides(*mlflow_overrides(pipeline_copy))
    first = evaluate.run(compose(*overrides))["val"]["bits_per_char"]
    assert run_publish(pipeline_copy)["version"] == "1"
    assert champion(store) == "1"

    # Fewer steps than the fixture's model: almost surely worse, but only the rule is asserted.
    train.run(compose(*overrides, *TRAIN_OVERRIDES, "trainer.max_steps=2", "trainer.val_check_interval=2"))
    assert len(versions(store)) == 1  # training registers nothing
    second = evaluate.run(compose(*overrides))["val"]["bits_per_char"]
    record = run_publish(pipeline_copy)
    assert record["version"] == "2" and record["promoted"] == (second < first)
    assert champion(store) == ("2" if second < first else "1")
    tags = store.client.get_model_version(NAME, "2").tags
    assert float(tags[BITS_TAG]) == pytest.approx(second, abs=1e-6)
    assert float(tags[registry.CHAMPION_BITS_TAG]) == pytest.approx(first, abs=1e-6)


@pytest.mark.slow
def test_dvc_repro_then_a_serving_change_leaves_only_publish_stale(repo_copy, subprocess_env, tmp_path_factory):
    """A real DVC repository: after ``dvc repro publish``, editing a serving module makes
    ``dvc status`` name the publish stage and nothing upstream of it."""
    root = repo_copy
    env = dict(subprocess_env, GPTLAB_CONF_DIR=str(root / "conf"))
    new_mlflow_store(root, tmp_path_factory)  # an empty store: its tables are not what runs here
    # The smoke preset, shorter (one validation, no samples): what is published is not the point.
    _params(root, "experiment=smoke", "data=file", "data.path=corpus.txt", "logger.tracking_uri=sqlite:///mlflow.db",
            "trainer.max_steps=10", "train.sample_every_n_val=0")  # fmt: skip
    _sh(["dvc", "repro", "publish"], root, env)
    assert json.loads((root / "reports/publish.json").read_text())["published"]
    assert json.loads(_sh(["dvc", "status", "--json", "--with-deps", "publish"], root, env).stdout or "{}") == {}

    code = root / "src/gptlab/serving/pyfunc_model.py"
    code.write_text(code.read_text() + "\n# a change to the scoring wrapper\n")
    stale = json.loads(_sh(["dvc", "status", "--json", "--with-deps", "publish"], root, env).stdout)
    assert set(stale) == {"publish"}
