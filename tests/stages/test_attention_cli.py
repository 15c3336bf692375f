"""``python -m gptlab.attention``: the picture it writes, and its one-line errors.

The CLI runs once in a subprocess; its error is checked in-process, inside
``user_errors()`` as the CLI runs it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from gptlab import attention
from gptlab.cli.app import user_errors
from tests.helpers import compose
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


def test_bad_model_dir_is_one_line_and_exit_code_2(trained_pipeline, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(trained_pipeline)
    out = tmp_path / "a.png"
    with pytest.raises(SystemExit) as info, user_errors():
        attention.run(compose("model_dir=nowhere", f"out={out}", config_name="attention"))
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: model directory not found: nowhere (train one first: dvc repro train)"
    ]
    assert not out.exists()
