"""Generation with the real model: the KV cache must not change what is generated."""

from __future__ import annotations

import pytest
import torch

from gptlab.generation import GenerationConfig, generate
from gptlab.model import GPT, IncrementalLM
from tests.helpers import model_config
from tests.generation.generation_fakes import CharTokenizer

TOK = CharTokenizer("abcdefghijklmnopqrstuv")  # 22 characters + eot = 23 ids


def tiny_gpt(pos_encoding: str, vocab_size: int = 23) -> GPT:
    config = model_config("tiny", vocab_size=vocab_size, context_size=12, n_layer=2, n_head=2, n_embd=16, pos_encoding=pos_encoding)
    model = GPT(config).eval()
    # GPT-2 init gives near-uniform logits; larger weight matrices make every token
    # matter, so a caching bug changes the arg-max (norm gains and biases stay as they
    # are: randomising those too makes greedy collapse onto one repeated token). A local
    # generator leaves the global RNG alone.
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return model


def reference_greedy(model: GPT, prompt: list[int], n: int) -> list[int]:
    """Arg-max with a full forward over the last context_size tokens at every step."""
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(n):
            window = torch.tensor([ids[-model.config.context_size :]])
            logits, _ = model(window)
            ids.append(int(logits[0, -1, : TOK.vocab_size].argmax()))
    return ids[len(prompt) :]


@pytest.mark.parametrize("pos_encoding", ["learned", "rope"])
def test_cached_and_uncached_greedy_agree_past_the_context(pos_encoding: str) -> None:
    model = tiny_gpt(pos_encoding)
    prompts = ["abc", "hello", "q"]
    # 30 new tokens on a 12-token context: the window slides for most of the run.
    outputs = {
        use_cache: generate(
            model,
            TOK,
            prompts,
            GenerationConfig(strategy="greedy", max_new_tokens=30, stop_at_eot=False, use_cache=use_cache),
        )
        for use_cache in (True, False)
    }
    assert outputs[True] == outputs[False]
    for prompt, (text,) in zip(prompts, outputs[True]):
        assert text == TOK.decode(reference_greedy(model, TOK.encode(prompt), 30))
    assert len({t for (t,) in outputs[True]}) > 1  # the model is not degenerate


def test_cached_and_uncached_beam_and_sampling_agree() -> None:
    model = tiny_gpt("learned")
    for cfg in (
        GenerationConfig(strategy="beam", num_beams=3, num_samples=3, max_new_tokens=8),
        GenerationConfig(strategy="sample", num_samples=4, max_new_tokens=20, top_k=5, seed=3),
    ):
        cached = generate(None, TOK, ["abc"], cfg, lm=IncrementalLM(model, use_cache=True))
        uncached = generate(None, TOK, ["abc"], cfg, lm=IncrementalLM(model, use_cache=False))
        assert cached == uncached


def test_a_wider_model_vocab_is_masked() -> None:
    model = tiny_gpt("learned", vocab_size=32)  # padded beyond the tokenizer's 23 ids
    (texts,) = generate(model, TOK, ["ab"], GenerationConfig(max_new_tokens=40, stop_at_eot=False, num_samples=3))
    assert all(len(t.replace("<eot>", "#")) == 40 for t in texts)
