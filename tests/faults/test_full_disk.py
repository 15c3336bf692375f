"""A full disk at each writer: one line naming the file, exit 74, the previous file intact, no temporary.

Without root there is no small filesystem to fill; ``RLIMIT_FSIZE`` makes the kernel
refuse to grow any file of the process past a size (``EFBIG``), which is what a writer
sees on a full disk (``ENOSPC``) in every way that matters here: the write fails part
way through. The limit is set in the CLI subprocess before it starts (prepare, tokenize,
build, evaluate), or by a callback at a chosen point of training (checkpoints, the loss
picture, the model directory).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers import SMALL_CORPUS
from tests.faults.conftest import DATA, QUIET, SMOKE, assert_one_line_failure, cli, snapshot, temporaries

pytestmark = pytest.mark.slow


def limit_at(max_bytes: int, at: str) -> str:
    return f"train.extra_callbacks=[{{_target_:fault_callbacks.FileSizeLimit,max_bytes:{max_bytes},at:{at}}}]"


def test_prepare_corpus(project: Path, fault_env):
    (project / "corpus.txt").write_text(SMALL_CORPUS * 5, encoding="utf-8")  # a new corpus, 57 kB
    before = snapshot(project, "data/raw")
    res = cli("prepare", *DATA, *QUIET, cwd=project, env=fault_env, max_file_bytes=16_000)
    assert_one_line_failure(res, 74, "data/raw/corpus.txt", "file too large", "previous file is untouched")
    assert snapshot(project, "data/raw") == before
    assert temporaries(project) == []


def test_tokenize_tokenizer(project: Path, fault_env):
    (project / "corpus.txt").write_text(SMALL_CORPUS, encoding="utf-8")
    before = snapshot(project, "artifacts/tokenizer", "reports/tokenizer.json")
    res = cli("tokenize", *DATA, *QUIET, cwd=project, env=fault_env, max_file_bytes=300)
    assert_one_line_failure(res, 74, "artifacts/tokenizer/tokenizer.json", "file too large")
    assert snapshot(project, "artifacts/tokenizer", "reports/tokenizer.json") == before
    assert temporaries(project) == []


def test_build_shards(project: Path, fault_env):
    before = snapshot(project, "data/processed")
    res = cli("build", *DATA, *QUIET, cwd=project, env=fault_env, max_file_bytes=40_000)
    assert_one_line_failure(res, 74, "data/processed/train.bin", "file too large")
    assert snapshot(project, "data/processed") == before  # all three splits and meta.json
    assert temporaries(project) == []


def test_train_checkpoint(project: Path, fault_env):
    """Defect 2: the checkpoint a full disk interrupts is not left torn; the previous one loads."""
    ckpts = project / "artifacts/train/checkpoints"
    # (The loss CSVs are rewritten at each validation of the new run, as its progress.)
    kept = ("artifacts", "reports/train.json", "reports/plots/train_loss.png", "reports/metrics.json")
    before = snapshot(project, *kept)
    res = cli("train", *SMOKE, "logger=none", *QUIET, limit_at(100_000, "train_start"), cwd=project, env=fault_env)
    assert_one_line_failure(res, 74, str(Path("artifacts/train/checkpoints/best.ckpt")), "needs about")
    assert snapshot(project, *kept) == before
    assert torch.load(ckpts / "best.ckpt", weights_only=True)["global_step"] == 30  # the previous run's
    assert temporaries(project) == []


def test_train_model_dir(project: Path, fault_env):
    """At the end of training, the model directory (its weights are written by safetensors, in Rust).
    (Pictures: the evaluate test below; the train stage's own is written just before.)"""
    before = snapshot(project, "artifacts/model", "reports/train.json")
    # A wider model: weights (~800 kB) far larger than the loss picture written before them (~45 kB).
    res = cli("train", *SMOKE, "logger=none", *QUIET, "model.n_embd=128", "model.n_head=4",
              limit_at(200_000, "train_end"), cwd=project, env=fault_env)  # fmt: skip
    assert_one_line_failure(res, 74, "artifacts/model", "file too large")
    assert snapshot(project, "artifacts/model", "reports/train.json") == before
    assert temporaries(project) == []


def test_evaluate_report_and_plot(project: Path, fault_env):
    before = snapshot(project, "reports")
    res = cli("evaluate", *DATA, "logger=none", *QUIET, cwd=project, env=fault_env, max_file_bytes=200)
    assert_one_line_failure(res, 74, "reports/metrics.json", "file too large")
    res = cli("evaluate", *DATA, "logger=none", *QUIET, cwd=project, env=fault_env, max_file_bytes=4_000)
    assert_one_line_failure(res, 74, "reports/plots/loss.png", "file too large")
    # metrics.json was rewritten (same numbers) before the picture failed; the picture is the old one.
    assert snapshot(project, "reports/plots/loss.png") == {"reports/plots/loss.png": before["reports/plots/loss.png"]}
    assert temporaries(project) == []
