"""One rule for the tracking URI: every entry point opens the same store from any subdirectory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gptlab.tracking import normalize_tracking_uri, project_root, redact_uri, sqlite_path
from tests.helpers import new_mlflow_store


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DVC project (``.dvc/`` at its root) and a working directory two levels below it."""
    monkeypatch.delenv("DVC_ROOT", raising=False)
    (tmp_path / ".dvc").mkdir()
    sub = tmp_path / "notebooks" / "scratch"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    return tmp_path


def test_relative_sqlite_anchors_at_the_project_root_from_a_subdirectory(project):
    assert normalize_tracking_uri("sqlite:///mlflow.db") == f"sqlite:///{project.resolve() / 'mlflow.db'}"
    assert normalize_tracking_uri("sqlite:///stores/a.db") == f"sqlite:///{project.resolve() / 'stores/a.db'}"


def test_dvc_root_wins_over_the_working_directory(project, tmp_path_factory, monkeypatch):
    elsewhere = tmp_path_factory.mktemp("dvc_root")
    monkeypatch.setenv("DVC_ROOT", str(elsewhere))
    assert project_root() == elsewhere.resolve()
    assert normalize_tracking_uri("sqlite:///mlflow.db") == f"sqlite:///{elsewhere.resolve() / 'mlflow.db'}"


def test_outside_a_project_the_working_directory_is_the_anchor(tmp_path, monkeypatch):
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    if any((p / ".dvc").is_dir() for p in (tmp_path.resolve(), *tmp_path.resolve().parents)):
        pytest.skip("the temporary directory lies inside a DVC project")
    assert normalize_tracking_uri("sqlite:///m.db") == f"sqlite:///{tmp_path.resolve() / 'm.db'}"


@pytest.mark.parametrize(
    "uri",
    ["sqlite:////abs/path/mlflow.db", "sqlite:///:memory:", "http://127.0.0.1:5000", "https://u:p@host/x", "file:///tmp/mlruns"],
)
def test_absolute_and_remote_uris_are_left_alone(project, uri):
    assert normalize_tracking_uri(uri) == uri


def test_normalizing_is_idempotent(project):
    once = normalize_tracking_uri("sqlite:///mlflow.db")
    assert normalize_tracking_uri(once) == once
    assert sqlite_path(once) == project.resolve() / "mlflow.db"


def test_credentials_are_redacted_and_plain_uris_kept():
    assert redact_uri("https://alice:s3cret@mlflow.example:5000/x") == "https://***@mlflow.example:5000/x"
    assert redact_uri("sqlite:///mlflow.db") == "sqlite:///mlflow.db"


@pytest.fixture
def store_with_a_run(project, tmp_path_factory) -> tuple[Path, str]:
    """``<root>/mlflow.db`` holding experiment ``gptlab`` with one finished run."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(new_mlflow_store(project, tmp_path_factory))
    exp = client.create_experiment("gptlab")
    run = client.create_run(exp, run_name="r1")
    client.log_metric(run.info.run_id, "val/loss", 1.5, step=1)
    client.set_terminated(run.info.run_id)
    return project, run.info.run_id


@pytest.mark.slow
def test_every_entry_point_finds_the_root_store_from_a_subdirectory(store_with_a_run, monkeypatch):
    root, run_id = store_with_a_run
    default = "sqlite:///mlflow.db"

    # train: its settings carry the anchored URI (data paths stay relative to the working directory)
    processed = root / "data"
    processed.mkdir()
    meta = {"vocab_size": 10, "dtype": "uint16", "tokens": {}, "characters": {}, "tokenizer_sha256": "",
            "corpus_sha256": "", "tokenizer_kind": "char"}  # fmt: skip
    (processed / "meta.json").write_text(json.dumps(meta))
    from tests.helpers import compose

    from gptlab.training.settings import fit_settings

    cfg = compose(f"paths.processed_dir={processed}", f"logger.tracking_uri={default}")
    assert fit_settings(cfg).logger.tracking_uri == f"sqlite:///{root.resolve() / 'mlflow.db'}"

    # evaluate and sample: the model's training run is found in the root store
    from gptlab.tracking import LoggerConfig, training_run
    from tests.helpers import conf_section

    link = training_run({"mlflow": {"run_id": run_id}}, conf_section(LoggerConfig, "logger", tracking_uri=default))
    assert link is not None and link.run_id == run_id

    # compare: the root store's experiment and run
    from gptlab.comparison import CompareSettings, compare

    result = compare(CompareSettings(experiment_name="gptlab", tracking_uri=default, out_dir=str(root / "cmp"), sweep=None))
    assert [r.run_id for r in result.runs] == [run_id]

    # ui: the server is started on the root store
    from gptlab.ui import settings as ui_settings

    ui = ui_settings(compose(f"tracking_uri={default}", config_name="ui"))
    assert ui.tracking_uri == f"sqlite:///{root.resolve() / 'mlflow.db'}"
