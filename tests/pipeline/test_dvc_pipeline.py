"""The DVC pipeline end to end, in a temporary copy of the repository.

DVC is run as this interpreter's module, with the interpreter's ``bin/`` first on the
``PATH`` it gets (as gptlab starts its own children: :mod:`gptlab.runtime.programs`),
so that the stages' ``python`` is this environment's whether it is activated or not.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gptlab.params import compose_params
from gptlab.runtime.programs import child_env
from tests.helpers import CONF, REPO, SMALL_CORPUS, new_mlflow_store
from tests.runtime.environment import not_activated


def _sh(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, cwd=cwd, env=child_env(env), capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def _dvc(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return _sh([sys.executable, "-m", "dvc", *args], cwd, env)


@pytest.fixture
def repo_copy(tmp_path: Path, subprocess_env: dict) -> Path:
    """The tracked files of this repo, as a fresh git + DVC repository."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    dst = tmp_path / "repo"
    for rel in files:
        if (REPO / rel).is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dst / rel)
    # Uncommitted stage code (while developing) must be there too: dvc.yaml depends on it.
    shutil.copytree(REPO / "src", dst / "src", dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "conf", dst / "conf", dirs_exist_ok=True)
    shutil.copy2(REPO / "dvc.yaml", dst / "dvc.yaml")
    (dst / "corpus.txt").write_text(SMALL_CORPUS * 4, encoding="utf-8")
    env = dict(subprocess_env, GPTLAB_CONF_DIR=str(dst / "conf"))
    _sh(["git", "init", "-q"], dst, env)
    _sh(["git", "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A"], dst, env)
    _sh(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "copy"], dst, env)
    return dst


def _params(dst: Path, *overrides: str) -> None:
    (dst / "params.yaml").write_text(compose_params(list(overrides), config_dir=CONF))


def _ran(res: subprocess.CompletedProcess) -> list[str]:
    return [s for s in ("prepare", "tokenize", "build", "train", "evaluate", "sample") if f"Running stage '{s}'" in res.stdout]


@pytest.mark.slow
def test_repro_build_runs_the_data_half_and_reruns_only_what_changed(repo_copy, subprocess_env):
    # As from `.venv/bin/python -m pytest`, not activated: the stages' `python` is still this one.
    env = not_activated(dict(subprocess_env, GPTLAB_CONF_DIR=str(repo_copy / "conf")))
    _params(repo_copy, "data=file", "data.path=corpus.txt")
    first = _dvc(["repro", "build"], repo_copy, env)
    assert _ran(first) == ["prepare", "tokenize", "build"]
    for name in ("train.bin", "val.bin", "test.bin", "meta.json"):
        assert (repo_copy / "data/processed" / name).is_file()

    second = _dvc(["repro", "build"], repo_copy, env)
    assert _ran(second) == []

    _params(repo_copy, "data=file", "data.path=corpus.txt", "tokenizer=bpe", "tokenizer.vocab_size=300")
    third = _dvc(["repro", "build"], repo_copy, env)
    assert _ran(third) == ["tokenize", "build"]
    assert json.loads((repo_copy / "data/processed/meta.json").read_text())["tokenizer_kind"] == "bpe"
    # Hydra's flags in dvc.yaml keep each stage to its declared outputs
    assert not (repo_copy / "outputs").exists() and not (repo_copy / ".hydra").exists()
    assert not list(repo_copy.glob("*.log"))


@pytest.mark.slow
def test_dvc_exp_run_composes_conf_and_runs_the_whole_chain(repo_copy, subprocess_env, tmp_path_factory):
    env = dict(subprocess_env, GPTLAB_CONF_DIR=str(repo_copy / "conf"))
    new_mlflow_store(repo_copy, tmp_path_factory)  # an empty store: its tables are not what runs here
    # DDP on two CPU processes, launched by DVC: the trainer flags reach it through params.yaml
    # (the smoke preset's 30 steps shortened: a -S override on top of a preset).
    res = _dvc(
        ["exp", "run", "-S", "experiment=smoke", "-S", "data=file", "-S", "data.path=corpus.txt",
         "-S", "trainer=ddp_cpu", "-S", "trainer.max_steps=10", "-S", "logger.tracking_uri=sqlite:///mlflow.db"],
        repo_copy, env,
    )  # fmt: skip
    assert _ran(res) == ["prepare", "tokenize", "build", "train", "evaluate", "sample"]
    params = (repo_copy / "params.yaml").read_text()
    assert "source: file" in params and "n_layer: 1" in params
    report = json.loads((repo_copy / "reports/train.json").read_text())
    assert report["steps"] == 10 and report["world_size"] == 2
    assert (repo_copy / "artifacts/model/model.safetensors").is_file()
    metrics = json.loads((repo_copy / "reports/metrics.json").read_text())
    assert metrics["val"]["bits_per_char"] > 0
    assert "ROMEO:" in (repo_copy / "reports/samples.md").read_text()
    assert (repo_copy / "reports/plots/loss.png").is_file()

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{repo_copy}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("gptlab").experiment_id])
    assert "eval/val_bits_per_char" in run.data.metrics
    assert run.data.tags["dvc_exp_name"]


@pytest.mark.slow
def test_queued_dvc_grid_runs_and_each_experiment_is_an_mlflow_run(repo_copy, subprocess_env, tmp_path_factory):
    """A ``-S`` grid queued and run by the queue's worker, each experiment in a temporary
    copy of the repository: each is its own MLflow run in the project's store (the default
    ``sqlite:///mlflow.db``), and ``dvc exp show`` has its metrics. Queued up to the train
    stage, which makes the run and reports val_loss: the stages after it are the chain test's."""
    import time

    from mlflow.tracking import MlflowClient

    env = dict(subprocess_env, GPTLAB_CONF_DIR=str(repo_copy / "conf"))
    new_mlflow_store(repo_copy, tmp_path_factory)  # an empty store: its tables are not what runs here
    _dvc(["exp", "run", "--queue", "-S", "experiment=smoke", "-S", "data=file", "-S", "data.path=corpus.txt",
         "-S", "trainer.max_steps=10", "-S", "optim.lr=1e-3,3e-3", "train"], repo_copy, env)  # fmt: skip
    _dvc(["queue", "start", "-j", "1"], repo_copy, env)
    deadline = time.time() + 600
    while time.time() < deadline:
        status = _dvc(["queue", "status"], repo_copy, env).stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(3)
    assert status.count("Success") == 2, status

    shown = json.loads(_dvc(["exp", "show", "--json"], repo_copy, env).stdout)
    text = json.dumps(shown)
    assert text.count('"val_loss"') >= 2

    client = MlflowClient(f"sqlite:///{repo_copy}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("gptlab").experiment_id])
    assert len({r.data.tags.get("dvc_exp_name") for r in runs if r.data.tags.get("dvc_exp_name")}) == 2
