"""Crashes and interruptions: exact resume after SIGKILL, SIGTERM, NaN, a kill during build.

(Moved from tests/stages/test_faults.py; torn checkpoint writes: test_checkpoint_io.py.)
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gptlab.errors import GptlabError
from tests.helpers import copy_built, run_stage

RUN = ("experiment=smoke", "data=file", "data.path=corpus.txt", "logger=none", "train.sample_every_n_val=0",
       "trainer.enable_progress_bar=false", "trainer.deterministic=true", "model.dropout=0.1",
       "trainer.max_steps=30", "trainer.val_check_interval=10")


@pytest.fixture
def env(fault_env):
    return fault_env


def _default_sigint() -> None:
    # A shell starts background jobs with SIGINT ignored, and the child would inherit
    # that (Python then installs no KeyboardInterrupt handler): give it the default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _train(cwd: Path, env: dict, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gptlab.train", *RUN, *extra], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600, preexec_fn=_default_sigint)


def _val_loss(root: Path) -> float:
    return json.loads((root / "reports/train.json").read_text())["val_loss"]


@pytest.mark.slow
def test_sigkill_then_resume_gives_the_bitwise_same_val_loss(built_data, tmp_path, env):
    clean = copy_built(built_data, tmp_path / "clean")
    crashed = copy_built(built_data, tmp_path / "crashed")

    res = _train(clean, env)
    assert res.returncode == 0, res.stderr[-3000:]

    # Killed at step 15: after the step-10 checkpoint, before the step-20 one.
    res = _train(crashed, env, "train.extra_callbacks=[{_target_:fault_callbacks.SignalAtStep,step:15}]")
    assert res.returncode == -signal.SIGKILL
    assert not (crashed / "reports/train.json").exists()
    ckpt = torch.load(crashed / "artifacts/train/checkpoints/last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 10

    res = _train(crashed, env, "train.resume=last")
    assert res.returncode == 0, res.stderr[-3000:]
    assert _val_loss(crashed) == _val_loss(clean)  # bitwise, not approximately


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])  # SIGINT is what Ctrl-C sends
def test_an_interrupt_saves_a_last_checkpoint_before_exiting(built_data, tmp_path, env, sig, mlflow_store):
    from mlflow.tracking import MlflowClient

    root = copy_built(built_data, tmp_path)
    res = _train(root, env, f"train.extra_callbacks=[{{_target_:fault_callbacks.SignalAtStep,step:13,sig:{sig}}}]",
                 "logger=mlflow", f"logger.tracking_uri={mlflow_store}", "logger.experiment_name=faults",
                 "logger.system_metrics_interval_s=0")
    # Non-zero, so neither a scheduler nor `dvc repro` takes it for a finished run.
    assert res.returncode == (143 if sig == "SIGTERM" else 1)
    assert "saved" in res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    ckpt = torch.load(root / "artifacts/train/checkpoints/last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 13
    assert not (root / "reports/train.json").exists()
    client = MlflowClient(mlflow_store)
    (run,) = client.search_runs([client.get_experiment_by_name("faults").experiment_id])
    assert run.info.status == "KILLED"  # stopped, not failed: a resume finishes it


def test_nan_loss_keeps_the_last_good_checkpoint(built_data, workdir):
    copy_built(built_data, workdir)
    with pytest.raises(GptlabError, match="loss is"):
        run_stage("train", *RUN, "optim.lr=1e9", "optim.min_lr=0", "optim.warmup_steps=0",
                  "trainer.gradient_clip_val=null", "trainer.max_steps=200", "trainer.val_check_interval=1",
                  "model.dropout=0.0")
    last = workdir / "artifacts/train/checkpoints/last.ckpt"
    if last.exists():  # the first step may already diverge: then no checkpoint was ever good
        state = torch.load(last, weights_only=True)["state_dict"]
        assert all(torch.isfinite(t).all() for t in state.values())


@pytest.mark.slow
def test_kill_during_build_never_leaves_a_torn_bin(workdir, subprocess_env):
    text = "".join(f"line {i}: the quick brown fox jumps over the lazy dog\n" for i in range(400_000))
    (workdir / "big.txt").write_text(text)
    args = ["data=file", "data.path=big.txt", "build.chunk_chars=65536"]
    for stage in ("prepare", "tokenize", "build"):
        run_stage(stage, *args)
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (workdir / "data/processed").glob("*.bin")}

    for delay in (0.3, 0.8, 1.5):
        proc = subprocess.Popen([sys.executable, "-m", "gptlab.build", *args], cwd=workdir, env=subprocess_env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        for p in (workdir / "data/processed").glob("*.bin"):
            assert hashlib.sha256(p.read_bytes()).hexdigest() == digests[p.name], f"{p.name} is torn"
