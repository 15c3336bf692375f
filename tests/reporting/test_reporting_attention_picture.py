"""gptlab.reporting.attention_picture: a trained model's attention over a text, drawn."""

from __future__ import annotations

import pytest

from gptlab.checkpoint import load_model_dir
from gptlab.errors import ConfigError
from gptlab.reporting.attention_picture import AttentionPlotConfig, attention_picture, describe_model
from tests.helpers import conf_section
from tests.evaluation.pipeline_fixtures import trained_pipeline  # noqa: F401 - fixture


def test_picture_covers_at_most_max_tokens_and_the_context(trained_pipeline, tmp_path, caplog):
    import matplotlib.image

    loaded = load_model_dir(trained_pipeline / "artifacts/model")
    small = attention_picture(loaded, "ROMEO:\nBut", AttentionPlotConfig(out=str(tmp_path / "s.png"), max_tokens=48))
    big = attention_picture(loaded, "ROMEO " * 40, AttentionPlotConfig(out=str(tmp_path / "b.png"), max_tokens=48))
    assert "drawing its first 32" in caplog.text  # the model's context (32) is the tighter limit
    h_small, w_small = matplotlib.image.imread(small).shape[:2]
    h_big, w_big = matplotlib.image.imread(big).shape[:2]
    assert w_big > w_small and h_big > h_small  # panels grow with the number of tokens


def test_the_title_tells_models_apart(trained_pipeline):
    loaded = load_model_dir(trained_pipeline / "artifacts/model")
    m = loaded.model.config
    assert describe_model(loaded).startswith(f"char GPT L{m.n_layer} H{m.n_head} E{m.n_embd} T{m.context_size}, ")
    assert describe_model(loaded).endswith(" steps")


@pytest.mark.parametrize("max_tokens", [0, True, 2.5])
def test_max_tokens_is_a_positive_integer(max_tokens):
    with pytest.raises(ConfigError, match="max_tokens(: .* is not an int| must be an integer >= 1)"):
        conf_section(AttentionPlotConfig, "sample.attention", max_tokens=max_tokens)
