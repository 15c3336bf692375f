"""gptlab.reporting.attention_plot: the layers x heads grid and its token labels."""

from __future__ import annotations

import numpy as np
import pytest

from gptlab.reporting.attention_plot import attention_figure, plot_attention, visible_token


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
