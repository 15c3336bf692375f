"""evaluate_dataset on pipelines built by the real stages: char and BPE, lineage, empty splits."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from gptlab.checkpoint import load_model_dir
from gptlab.dataset import load_meta
from gptlab.errors import CheckpointError
from gptlab.dataset.tokens import open_tokens
from gptlab.evaluation import evaluate_dataset, score_tokens
from tests.evaluation.pipeline_fixtures import (  # noqa: F401 - fixtures
    base_overrides,
    bpe_pipeline,
    run_stages,
    trained_pipeline,
)


def evaluate(root: Path, model_dir: Path | None = None, **kwargs):
    meta = load_meta(root / "data/processed/meta.json")
    loaded = load_model_dir(model_dir or root / "artifacts/model")
    return loaded, meta, evaluate_dataset(loaded, root / "data/processed", meta, progress=False, **kwargs)


def test_char_model_scores_every_token_after_the_first_of_each_split(trained_pipeline):
    loaded, meta, results = evaluate(trained_pipeline)
    assert set(results) == {"val", "test"}
    for split, m in results.items():
        assert m.tokens == meta.tokens[split] - 1
        assert m.characters == meta.characters[split] - 1  # one character per token
        assert m.bits_per_char == pytest.approx(m.bits_per_token)
        assert m.perplexity == pytest.approx(math.exp(m.loss))
        # Trained a few steps: better than a uniform guess over the vocabulary.
        assert m.loss < math.log(meta.vocab_size)


def test_split_result_equals_scoring_the_token_file_directly(trained_pipeline):
    loaded, meta, results = evaluate(trained_pipeline, splits=("val",))
    tokens = open_tokens(trained_pipeline / "data/processed/val.bin", meta.dtype)
    direct = score_tokens(loaded.model, tokens, progress=False)
    assert results["val"].loss == pytest.approx(direct.nll / direct.tokens, rel=1e-9)


def test_bpe_model_reports_bits_per_char_on_the_characters_it_scored(bpe_pipeline):
    loaded, meta, results = evaluate(bpe_pipeline)
    for split, m in results.items():
        tokens = open_tokens(bpe_pipeline / f"data/processed/{split}.bin", meta.dtype)
        first_chars = len(loaded.tokenizer.decode([int(tokens[0])]))
        assert m.tokens == meta.tokens[split] - 1
        assert m.characters == meta.characters[split] - first_chars
        assert meta.tokens[split] < meta.characters[split]  # BPE tokens span several characters
        assert m.bits_per_char == pytest.approx(m.loss * m.tokens / math.log(2) / m.characters)
        assert m.bits_per_char < m.bits_per_token


def test_model_with_another_tokenizer_is_refused(trained_pipeline, bpe_pipeline):
    with pytest.raises(CheckpointError, match="different tokenizer"):
        evaluate(trained_pipeline, model_dir=bpe_pipeline / "artifacts/model")


def test_empty_test_split_is_skipped(trained_pipeline, tmp_path):
    root = tmp_path / "no_test"
    shutil.copytree(trained_pipeline, root)
    # Same training split, so the same tokenizer: the trained model still fits the data.
    run_stages(root, ["build"], base_overrides("data.split.val=0.1", "data.split.test=0.0"))
    meta = load_meta(root / "data/processed/meta.json")
    assert meta.tokens["test"] == 0
    _, _, results = evaluate(root)
    assert set(results) == {"val"}
    assert results["val"].tokens == meta.tokens["val"] - 1
