"""Shared fixtures: a scratch working directory, a small corpus, a new MLflow store, the
built small corpus. The helpers they use are in tests/helpers.py."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import pytest

# One torch thread, here and in the CLI subprocesses (they inherit the environment; set
# before anything imports torch). The tests' models are tiny: a second intra-op thread
# gains nothing, and on the busy 2-core CI runner the threads wait for each other (the
# sample stage took 3.9 s with two, 0.55 s with one). Set OMP_NUM_THREADS to override.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from tests.helpers import CONF, REPO, SMALL_CORPUS, new_mlflow_store, run_stage  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    # A plugin may have imported torch before this file set OMP_NUM_THREADS.
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in a scratch directory; stages resolve their relative paths against it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GPTLAB_CONF_DIR", str(CONF))
    return tmp_path


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    path = tmp_path / "small_corpus.txt"
    path.write_text(SMALL_CORPUS, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def subprocess_env() -> dict[str, str]:
    """Environment for CLI subprocesses: the package importable, no analytics."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["DVC_NO_ANALYTICS"] = "1"
    env["GPTLAB_CONF_DIR"] = str(CONF)
    return env


@pytest.fixture
def mlflow_store(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URI of a new, empty MLflow store, ``tmp_path/mlflow.db`` (see :func:`new_mlflow_store`)."""
    return new_mlflow_store(tmp_path, tmp_path_factory)


@pytest.fixture(autouse=True)
def _no_debug_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see one-line errors whatever the shell sets (the switch prints tracebacks first);
    a test of the switch sets it itself."""
    for name in ("GPTLAB_DEBUG", "HYDRA_FULL_ERROR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def built_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only: a directory where prepare -> tokenize -> build ran on the small corpus
    (char), once per session (copy it with :func:`copy_built` to write)."""
    root = tmp_path_factory.mktemp("built")
    (root / "corpus.txt").write_text(SMALL_CORPUS * 4, encoding="utf-8")
    with contextlib.chdir(root):
        for stage in ("prepare", "tokenize", "build"):
            run_stage(stage, "data=file", "data.path=corpus.txt")
    return root
