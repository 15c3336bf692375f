"""Defect 1: a damaged dataset is refused by every reader, in one line, before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.conftest import DATA, QUIET, SMOKE, assert_one_line_failure, cli, snapshot, temporaries

OUTPUTS = ("artifacts", "reports")


def truncate_even(b: bytes) -> bytes:
    return b[: (len(b) // 4) * 2]


def truncate_odd(b: bytes) -> bytes:
    return b[: len(b) // 2 + 1] if (len(b) // 2) % 2 == 0 else b[: len(b) // 2]


def flip_bit(b: bytes) -> bytes:
    return b[:200] + bytes([b[200] ^ 0x10]) + b[201:]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("damage", "found"),
    # (An extended split, and each case for every split, are checked in-process: tests/dataset/test_integrity.py.)
    [(truncate_even, "bytes but"), (truncate_odd, "bytes but"), (flip_bit, "sha256")],
    ids=["truncated-even", "truncated-odd", "bit-flip"],
)
def test_train_refuses_a_damaged_split_and_keeps_the_previous_model(project: Path, fault_env, damage, found):
    train_bin = project / "data/processed/train.bin"
    train_bin.write_bytes(damage(train_bin.read_bytes()))
    before = snapshot(project, *OUTPUTS)

    res = cli("train", *SMOKE, "logger=none", *QUIET, cwd=project, env=fault_env)
    assert_one_line_failure(res, 2, "data/processed/train.bin", found, "meta.json says", "dvc repro build")
    assert snapshot(project, *OUTPUTS) == before
    assert temporaries(project) == []


@pytest.mark.slow
def test_evaluate_refuses_a_bit_flip_in_a_held_out_split(project: Path, fault_env):
    test_bin = project / "data/processed/test.bin"
    test_bin.write_bytes(flip_bit(test_bin.read_bytes()))
    before = snapshot(project, *OUTPUTS)

    res = cli("evaluate", *DATA, "logger=none", *QUIET, cwd=project, env=fault_env)
    assert_one_line_failure(res, 2, "data/processed/test.bin", "sha256", "dvc repro build")
    assert snapshot(project, *OUTPUTS) == before


@pytest.mark.slow
def test_train_refuses_a_damaged_meta_json(project: Path, fault_env):
    # (Truncated, extended and every single-bit flip: in-process, tests/dataset/test_integrity.py.)
    meta = project / "data/processed/meta.json"
    meta.write_bytes(meta.read_bytes().replace(b'"val": 2300', b'"val": 2301', 1))
    before = snapshot(project, *OUTPUTS)

    res = cli("train", *SMOKE, "logger=none", *QUIET, cwd=project, env=fault_env)
    assert_one_line_failure(res, 2, "data/processed/meta.json", "dvc repro build")
    assert snapshot(project, *OUTPUTS) == before
