from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gptlab.dataset import SplitConfig, read_split_text, split_bounds
from gptlab.dataset.split import iter_text_chunks
from gptlab.errors import ConfigError


def test_nanogpt_split_is_exact():
    n = 1_115_394
    b = split_bounds(n, SplitConfig(train=0.9, val=0.1, test=0.0))
    assert b["train"] == (0, int(n * 0.9))
    assert b["val"] == (int(n * 0.9), n)
    assert b["test"] == (n, n)


@given(st.integers(0, 10**9), st.sampled_from([(0.9, 0.05, 0.05), (0.8, 0.1, 0.1), (0.5, 0.5, 0.0)]))
def test_split_bounds_partition_the_corpus(n, fracs):
    b = split_bounds(n, SplitConfig(*fracs))
    assert b["train"][0] == 0 and b["test"][1] == n
    assert b["train"][1] == b["val"][0] and b["val"][1] == b["test"][0]
    assert all(start <= end for start, end in b.values())


@pytest.mark.parametrize("fracs", [(0.9, 0.2, 0.0), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0), (1.2, -0.1, -0.1)])
def test_bad_split_is_a_config_error(fracs):
    with pytest.raises(ConfigError):
        SplitConfig(*fracs)


def test_chunks_count_characters_not_bytes(tmp_path):
    text = "héllo wörld ✓ " * 100
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    assert "".join(iter_text_chunks(path, 7, 901, chunk_chars=13)) == text[7:901]
    cfg = SplitConfig(0.5, 0.25, 0.25)
    parts = [read_split_text(path, len(text), cfg, s) for s in ("train", "val", "test")]
    assert "".join(parts) == text
