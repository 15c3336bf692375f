"""Generation with the bigram and recurrent models: every strategy runs through the same
incremental interface, and the hidden state (the cache) does not change what is generated."""

from __future__ import annotations

import pytest
import torch

from gptlab.generation import GenerationConfig, generate, generate_detailed
from tests.generation.generation_fakes import CharTokenizer
from tests.model.kinds import kind_model

TOK = CharTokenizer("abcdefghijklmnopqrstuv")  # 22 characters + eot = 23 ids


def reference_greedy(model, prompt: list[int], n: int) -> list[int]:
    """Arg-max of a full forward over the last context_size tokens at every step."""
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(n):
            logits, _ = model(torch.tensor([ids[-model.config.context_size :]]))
            ids.append(int(logits[0, -1, : TOK.vocab_size].argmax()))
    return ids[len(prompt) :]


@pytest.mark.parametrize("kind", ["bigram", "rnn", "lstm", "gru"])
def test_greedy_with_and_without_the_state_cache_matches_the_full_forward(kind: str):
    model = kind_model(kind, scale=0.5)
    cfg = dict(strategy="greedy", max_new_tokens=30, stop_at_eot=False)  # 30 tokens on a context of 12
    cached, uncached = (
        generate(model, TOK, ["abc", "q"], GenerationConfig(**cfg, use_cache=use_cache)) for use_cache in (True, False)
    )
    assert cached == uncached
    expected = TOK.decode(reference_greedy(model, TOK.encode("abc"), 30))
    assert cached[0][0] == expected


@pytest.mark.parametrize("kind", ["bigram", "lstm"])
def test_sampling_and_beam_search_run_and_are_seeded(kind: str):
    model = kind_model(kind, scale=0.5)
    sample = GenerationConfig(strategy="sample", max_new_tokens=15, temperature=0.8, top_k=5, top_p=0.9,
                              num_samples=3, seed=7, stop_at_eot=False)  # fmt: skip
    first, again = generate(model, TOK, ["ab"], sample), generate(model, TOK, ["ab"], sample)
    assert first == again and len(first[0]) == 3 and len(set(first[0])) == 3
    beam = GenerationConfig(strategy="beam", num_beams=3, num_samples=3, max_new_tokens=10, stop_at_eot=False)
    result = generate_detailed(model, TOK, ["ab"], beam)[0]
    assert len(result.completions) == 3 and len(set(result.completions)) == 3
    assert all(r == "length" for r in result.finish_reasons)
