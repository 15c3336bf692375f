"""``python -m gptlab.attention``: the picture it writes, and its one-line errors."""

from __future__ import annotations

import subprocess
import sys

from tests.evaluation.pipeline_fixtures import trained_pipeline  # noqa: F401 - fixture

PNG = b"\x89PNG\r\n\x1a\n"


def test_cli_writes_a_png(trained_pipeline, subprocess_env, tmp_path):
    out = tmp_path / "attn.png"
    proc = subprocess.run(
        [sys.executable, "-m", "gptlab.attention", r"prompt=ROMEO:\nBut soft", f"out={out}"],
        cwd=trained_pipeline,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == PNG


def test_cli_bad_model_dir_is_one_line_and_exit_code_2(trained_pipeline, subprocess_env, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "gptlab.attention", "model_dir=nowhere", f"out={tmp_path / 'a.png'}"],
        cwd=trained_pipeline,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: model directory not found: nowhere (train one first: dvc repro train)"]
