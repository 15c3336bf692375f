from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from gptlab.model import GPT, KVCache
from gptlab.model.config import POS_ENCODINGS

MakeModel = Callable[..., GPT]


def _filled_cache(length: int) -> KVCache:
    cache = KVCache(n_layer=2, batch_size=3, n_head=1, head_size=2, max_len=6)
    for layer in range(2):
        # value = 100*layer + 10*row + position, so moves are easy to read
        vals = torch.arange(length, dtype=torch.float32)[None, None, :, None]
        vals = vals + 10 * torch.arange(3.0)[:, None, None, None] + 100 * layer
        cache.update(layer, vals.expand(3, 1, length, 2), -vals.expand(3, 1, length, 2))
    cache.advance(length)
    return cache


def test_update_returns_all_cached_entries() -> None:
    cache = _filled_cache(4)
    k, v = cache.update(1, torch.full((3, 1, 2, 2), 7.0), torch.zeros(3, 1, 2, 2))
    assert k.shape == (3, 1, 6, 2) and v.shape == (3, 1, 6, 2)
    assert k[0, 0, :, 0].tolist() == [100, 101, 102, 103, 7, 7]
    assert cache.length == 4  # moves only on advance
    with pytest.raises(ValueError, match="overflow"):
        cache.update(0, torch.zeros(3, 1, 3, 2), torch.zeros(3, 1, 3, 2))


def test_reset_and_index_select() -> None:
    cache = _filled_cache(5)
    cache.index_select(torch.tensor([2, 2, 0, 1]))
    assert cache.batch_size == 4
    assert cache.k[0, :, 0, 0, 0].tolist() == [20, 20, 0, 10]
    assert cache.v[1, :, 0, 4, 0].tolist() == [-124, -124, -104, -114]
    assert cache.length == 5
    cache.reset()
    assert cache.length == 0


def test_new_kv_cache_matches_model(make_model: MakeModel) -> None:
    model = make_model().to(torch.float64)
    cache = model.new_kv_cache(batch_size=2)
    assert cache.k.dtype == torch.float64 and cache.k.device == model.tok_emb.weight.device
    assert cache.k.shape == (2, 2, 2, 12, 8)
    assert model.new_kv_cache(1, max_len=5).max_len == 5
    for pos_encoding in POS_ENCODINGS:
        with pytest.raises(ValueError, match="context_size"):
            make_model(pos_encoding=pos_encoding).new_kv_cache(1, max_len=13)


@pytest.mark.parametrize("pos_encoding", POS_ENCODINGS)
def test_chunked_cached_forward_matches_full(make_model: MakeModel, pos_encoding: str) -> None:
    model = make_model(scale=0.3, pos_encoding=pos_encoding)
    idx = torch.randint(0, 23, (2, 12))
    full, _ = model(idx)
    cache = model.new_kv_cache(2)
    pieces = []
    for a, b in [(0, 5), (5, 8), (8, 9), (9, 12)]:  # prefill, chunk with a past, single steps
        logits, _ = model(idx[:, a:b], kv_cache=cache)
        pieces.append(logits)
    assert cache.length == 12
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-5, atol=1e-5)


def test_cache_misuse_raises(make_model: MakeModel) -> None:
    model = make_model()
    cache = model.new_kv_cache(2)
    model(torch.zeros(2, 12, dtype=torch.long), kv_cache=cache)
    with pytest.raises(ValueError, match="overflow"):
        model(torch.zeros(2, 1, dtype=torch.long), kv_cache=cache)
    with pytest.raises(ValueError, match="batch size"):
        model(torch.zeros(3, 1, dtype=torch.long), kv_cache=model.new_kv_cache(2))
    # A cache built by hand may be longer than the context; positions still may not be.
    long_cache = KVCache(2, 1, 2, 8, max_len=20)
    model(torch.zeros(1, 12, dtype=torch.long), kv_cache=long_cache)
    with pytest.raises(ValueError, match="beyond context_size 12"):
        model(torch.zeros(1, 1, dtype=torch.long), kv_cache=long_cache)
