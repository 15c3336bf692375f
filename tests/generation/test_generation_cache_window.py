"""GenerationConfig.cache_window: validated, passed to IncrementalLM, and cache-neutral."""

from __future__ import annotations

import pytest
import torch

from gptlab.errors import ConfigError
from gptlab.generation import GenerationConfig, generate
from gptlab.model import GPT, IncrementalLM
from gptlab.model.config import POS_ENCODINGS
from tests.generation.test_generation_with_gpt import TOK, tiny_gpt


def reference_chunked_greedy(model: GPT, prompt: list[int], n: int) -> list[int]:
    """Arg-max with a full forward per step over the chunked window, tracked by hand."""
    ctx = model.config.context_size
    ids = list(prompt)
    length = min(len(ids), ctx)
    with torch.no_grad():
        for _ in range(n):
            logits, _ = model(torch.tensor([ids[-length:]]))
            ids.append(int(logits[0, -1, : TOK.vocab_size].argmax()))
            length = length + 1 if length < ctx else ctx // 2
    return ids[len(prompt) :]


def test_default_is_exact_and_bad_values_raise() -> None:
    assert GenerationConfig().cache_window == "exact"
    assert GenerationConfig(cache_window="chunked").cache_window == "chunked"
    for bad in ("sliding", "", None, 1):
        with pytest.raises(ConfigError, match="cache_window") as info:
            GenerationConfig(cache_window=bad)  # type: ignore[arg-type]
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("pos_encoding", POS_ENCODINGS)
def test_chunked_cached_and_uncached_greedy_agree_past_the_context(pos_encoding: str) -> None:
    model = tiny_gpt(pos_encoding)
    prompts = ["abc", "hello", "q"]
    n = 40  # on a 12-token context: several cut-and-refill cycles
    outputs = {
        use_cache: generate(
            model,
            TOK,
            prompts,
            GenerationConfig(
                strategy="greedy", max_new_tokens=n, stop_at_eot=False, use_cache=use_cache, cache_window="chunked"
            ),
        )
        for use_cache in (True, False)
    }
    assert outputs[True] == outputs[False]
    for prompt, (text,) in zip(prompts, outputs[True]):
        assert text == TOK.decode(reference_chunked_greedy(model, TOK.encode(prompt), n))
    assert len({t for (t,) in outputs[True]}) > 1  # the model is not degenerate


def test_generate_builds_the_lm_with_the_configured_window(monkeypatch: pytest.MonkeyPatch) -> None:
    import gptlab.model.incremental

    built: list[tuple[bool, str]] = []

    class Recording(IncrementalLM):
        def __init__(self, model: GPT, use_cache: bool = True, window: str = "exact", **kw: object) -> None:
            built.append((use_cache, window))
            super().__init__(model, use_cache=use_cache, window=window, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(gptlab.model.incremental, "IncrementalLM", Recording)  # what the family builds
    model = tiny_gpt("learned")
    for window in ("exact", "chunked"):
        generate(model, TOK, ["ab"], GenerationConfig(strategy="greedy", max_new_tokens=3, cache_window=window))
    assert built == [(True, "exact"), (True, "chunked")]


def test_chunked_beam_and_sampling_cached_and_uncached_agree() -> None:
    model = tiny_gpt("rope")
    for cfg in (
        GenerationConfig(strategy="beam", num_beams=3, num_samples=3, max_new_tokens=20, cache_window="chunked"),
        GenerationConfig(strategy="sample", num_samples=4, max_new_tokens=30, top_k=5, seed=3, cache_window="chunked"),
    ):
        cached = generate(None, TOK, ["abc"], cfg, lm=IncrementalLM(model, use_cache=True, window="chunked"))
        uncached = generate(None, TOK, ["abc"], cfg, lm=IncrementalLM(model, use_cache=False, window="chunked"))
        assert cached == uncached


def test_chunked_differs_from_exact_only_past_the_context() -> None:
    model = tiny_gpt("learned")
    ids = TOK.encode("abc")
    chunked = reference_chunked_greedy(model, ids, 40)
    exact_cfg = GenerationConfig(strategy="greedy", max_new_tokens=40, stop_at_eot=False)
    ((exact,),) = generate(model, TOK, ["abc"], exact_cfg)
    fits = model.config.context_size - len(ids) + 1  # new tokens predicted from a window that fits
    assert TOK.decode(chunked[:fits]) == exact[:fits]  # one character per token
    assert TOK.decode(chunked) != exact  # the shorter windows past the context show
