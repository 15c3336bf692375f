"""``python -m gptlab.attention`` and the attention picture it draws."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from gptlab.attention import AttentionPlotConfig, attention_picture
from gptlab.checkpoint import load_model_dir
from gptlab.reporting.attention_plot import attention_figure, plot_attention, visible_token
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


def test_picture_covers_at_most_max_tokens_and_the_context(trained_pipeline, tmp_path, caplog):
    import matplotlib.image

    loaded = load_model_dir(trained_pipeline / "artifacts/model")
    small = attention_picture(loaded, "ROMEO:\nBut", AttentionPlotConfig(out=str(tmp_path / "s.png"), max_tokens=48))
    big = attention_picture(loaded, "ROMEO " * 40, AttentionPlotConfig(out=str(tmp_path / "b.png"), max_tokens=48))
    assert "drawing its first 32" in caplog.text  # the model's context (32) is the tighter limit
    h_small, w_small = matplotlib.image.imread(small).shape[:2]
    h_big, w_big = matplotlib.image.imread(big).shape[:2]
    assert w_big > w_small and h_big > h_small  # panels grow with the number of tokens


@pytest.mark.parametrize(
    "text,label",
    [("\n", "⏎"), (" the", "·the"), ("\t", "⇥"), ("a b\n", "a·b⏎"), ("", "∅"), ("\x00", "\\x00"),
     ("abcdefghijklmnop", "abcdefghijk…")],
)  # fmt: skip
def test_whitespace_and_control_characters_are_visible_in_labels(text, label):
    assert visible_token(text) == label


def test_grid_is_layers_by_heads_with_the_future_masked_white():
    import matplotlib.pyplot as plt

    n_layer, n_head, T = 2, 3, 5
    maps = np.tril(np.random.default_rng(0).random((n_layer, n_head, T, T))).astype(np.float32)
    maps /= maps.sum(-1, keepdims=True)
    fig = attention_figure(maps, list("abcde"), title="t")
    try:
        panels = [ax for ax in fig.axes if ax.images]  # the colorbar has no image
        assert len(panels) == n_layer * n_head
        image = panels[0].images[0]
        assert (np.ma.getmaskarray(image.get_array()) == np.triu(np.ones((T, T), dtype=bool), k=1)).all()
        assert tuple(image.get_cmap().get_bad()[:3]) == (1.0, 1.0, 1.0)  # masked cells drawn white
        assert [t.get_text() for t in panels[-1].get_xticklabels()] == list("abcde")
        assert panels[-1].get_title() == "layer 1 · head 2"
    finally:
        plt.close(fig)


def test_shape_mismatch_is_refused(tmp_path):
    with pytest.raises(ValueError, match="n_layer, n_head, T, T"):
        plot_attention(np.zeros((1, 1, 3, 3)), ["a", "b"], tmp_path / "x.png")
