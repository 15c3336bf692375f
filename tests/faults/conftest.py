"""Shared by the fault-injection suite: CLI runs in subprocesses and what each fault test asserts.

Every test of a failure checks the same things: the exit code, exactly one ``error:``
line on stderr and no traceback, the previous outputs byte-identical, and no temporary
file left behind.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, copy_built, run_stage

HERE = Path(__file__).resolve().parent
# Hydra writes nothing besides the stage's own outputs (no outputs/<date>/, no log file),
# as under `dvc repro` (dvc.yaml's ${with_params}).
QUIET = ("hydra.output_subdir=null", "hydra.run.dir=.", "hydra/job_logging=stdout")
DATA = ("data=file", "data.path=corpus.txt")
SMOKE = ("experiment=smoke", *DATA, "train.sample_every_n_val=0", "trainer.enable_progress_bar=false",
         "trainer.max_steps=30", "trainer.val_check_interval=10")  # fmt: skip


@pytest.fixture(scope="session")
def fault_env(subprocess_env) -> dict[str, str]:
    """The CLI environment, with this folder importable (``fault_callbacks``)."""
    env = dict(subprocess_env)
    env["PYTHONPATH"] = str(HERE) + os.pathsep + env["PYTHONPATH"]
    for name in ("GPTLAB_DEBUG", "HYDRA_FULL_ERROR"):
        env.pop(name, None)
    return env


def cli(module: str, *args: str, cwd: Path, env: dict, timeout: float = 300, max_file_bytes: int | None = None,
        extra_env: dict | None = None) -> subprocess.CompletedProcess:  # fmt: skip
    """``python -m gptlab.<module> ARGS`` in ``cwd``; optionally no file may grow past ``max_file_bytes``."""

    def limit() -> None:
        if max_file_bytes is not None:
            sys.path.insert(0, str(HERE))
            from fault_callbacks import limit_file_size

            limit_file_size(max_file_bytes)

    return subprocess.run(
        [sys.executable, "-m", f"gptlab.{module}", *args],
        cwd=cwd, env={**env, **(extra_env or {})}, capture_output=True, text=True, timeout=timeout, preexec_fn=limit,
    )  # fmt: skip


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_one_line_failure(res: subprocess.CompletedProcess, exit_code: int, *words: str) -> str:
    """Exit ``exit_code``, one ``error:`` line (the last thing on stderr), no traceback; the line."""
    assert res.returncode == exit_code, (res.returncode, res.stderr[-3000:])
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    lines = error_lines(res.stderr)
    assert len(lines) == 1, res.stderr[-3000:]
    assert res.stderr.rstrip().splitlines()[-1] == lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def snapshot(root: Path, *dirs: str) -> dict[str, str]:
    """sha256 of every file under ``root/<dirs>``: outputs must stay byte-identical."""
    out = {}
    for d in dirs:
        base = root / d
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for p in files:
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def temporaries(root: Path) -> list[str]:
    """Files or folders an atomic write would leave behind if it did not clean up."""
    return sorted(str(p.relative_to(root)) for p in root.rglob(".*") if p.name.endswith((".tmp", ".old")))


@pytest.fixture(scope="session")
def trained(built_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only: built data, a trained model (tracking off), checkpoints and reports, the
    previous outputs; made once per session (tests damage a :func:`project` copy)."""
    root = copy_built(built_data, tmp_path_factory.mktemp("trained"))
    old = Path.cwd()
    os.chdir(root)
    try:
        run_stage("train", *SMOKE, "logger=none")
        run_stage("evaluate", *DATA, "logger=none")
    finally:
        os.chdir(old)
    return root


@pytest.fixture
def project(trained: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`trained` for one test to damage."""
    return copy_built(trained, tmp_path / "project")


__all__ = ["REPO", "assert_one_line_failure", "cli", "snapshot", "temporaries"]
