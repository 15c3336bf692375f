"""Defect 1: a damaged dataset is refused by every reader, in one line, before anything is written.

The stages run in this process, inside ``user_errors()`` as their CLIs run them; the
CLIs themselves are tested elsewhere (tests/faults/test_boundary.py, tests/stages).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import cli_exit_code, one_error_line
from tests.evaluation.pipeline_fixtures import pipeline_copy, trained_pipeline  # noqa: F401 - fixtures
from tests.faults.conftest import DATA, SMOKE, snapshot, temporaries

OUTPUTS = ("artifacts", "reports")


def truncate_even(b: bytes) -> bytes:
    return b[: (len(b) // 4) * 2]


def truncate_odd(b: bytes) -> bytes:
    return b[: len(b) // 2 + 1] if (len(b) // 2) % 2 == 0 else b[: len(b) // 2]


def flip_bit(b: bytes) -> bytes:
    return b[:200] + bytes([b[200] ^ 0x10]) + b[201:]


@pytest.mark.parametrize(
    ("damage", "found"),
    # (An extended split, and each case for every split, are checked in-process: tests/dataset/test_integrity.py.)
    [(truncate_even, "bytes but"), (truncate_odd, "bytes but"), (flip_bit, "sha256")],
    ids=["truncated-even", "truncated-odd", "bit-flip"],
)
def test_train_refuses_a_damaged_split_and_keeps_the_previous_model(pipeline_copy: Path, capsys, damage, found):
    train_bin = pipeline_copy / "data/processed/train.bin"
    train_bin.write_bytes(damage(train_bin.read_bytes()))
    before = snapshot(pipeline_copy, *OUTPUTS)

    assert cli_exit_code("train", *SMOKE, "logger=none") == 2
    one_error_line(capsys.readouterr().err, "data/processed/train.bin", found, "meta.json says", "dvc repro build")
    assert snapshot(pipeline_copy, *OUTPUTS) == before
    assert temporaries(pipeline_copy) == []


def test_evaluate_refuses_a_bit_flip_in_a_held_out_split(pipeline_copy: Path, capsys):
    test_bin = pipeline_copy / "data/processed/test.bin"
    test_bin.write_bytes(flip_bit(test_bin.read_bytes()))
    before = snapshot(pipeline_copy, *OUTPUTS)

    assert cli_exit_code("evaluate", *DATA, "logger=none") == 2
    one_error_line(capsys.readouterr().err, "data/processed/test.bin", "sha256", "dvc repro build")
    assert snapshot(pipeline_copy, *OUTPUTS) == before


def test_train_refuses_a_damaged_meta_json(pipeline_copy: Path, capsys):
    # (Truncated, extended and every single-bit flip: in-process, tests/dataset/test_integrity.py.)
    meta = pipeline_copy / "data/processed/meta.json"
    text = meta.read_text()
    val = json.loads(text)["tokens"]["val"]
    damaged = text.replace(f'"val": {val}', f'"val": {val + 1}', 1)  # one number, the layout kept
    assert damaged != text
    meta.write_text(damaged)
    before = snapshot(pipeline_copy, *OUTPUTS)

    assert cli_exit_code("train", *SMOKE, "logger=none") == 2
    one_error_line(capsys.readouterr().err, "data/processed/meta.json", "dvc repro build")
    assert snapshot(pipeline_copy, *OUTPUTS) == before
