from __future__ import annotations

import logging
from collections import defaultdict

import pytest
import torch

from gptlab.errors import ConfigError
from gptlab.generation import GenerationConfig, generate, generate_detailed
from tests.generation.generation_fakes import (
    ByteTokenizer,
    CharTokenizer,
    FakeLM,
    fixed_logits,
    random_logits,
    scripted_logits,
)

CHARS = "abcdefgh \n"
TOK = CharTokenizer(CHARS)  # eot id 10, vocab 11


def char_lm(seed: int = 0, context_size: int = 64) -> FakeLM:
    return FakeLM(random_logits(TOK.vocab_size, seed=seed, scale=1.0), TOK.vocab_size, context_size)


def test_returns_num_samples_completions_per_prompt_without_the_prompt() -> None:
    tok = CharTokenizer(CHARS, eot=False)  # one character per token, nothing ends early
    lm = FakeLM(random_logits(tok.vocab_size, seed=0), tok.vocab_size)
    cfg = GenerationConfig(strategy="sample", max_new_tokens=8, num_samples=3)
    out = generate(None, tok, ["abc", "hh"], cfg, lm=lm)
    assert len(out) == 2 and all(len(r) == 3 for r in out)
    assert all(len(c) == 8 for r in out for c in r)


def test_greedy_text_is_the_decoded_argmax_path() -> None:
    fn = random_logits(TOK.vocab_size, seed=1)
    cfg = GenerationConfig(strategy="greedy", max_new_tokens=10, stop_at_eot=False)
    (out,) = generate(None, TOK, ["ab"], cfg, lm=FakeLM(fn, TOK.vocab_size))
    history = TOK.encode("ab")
    for _ in range(10):
        row = fn(tuple(history))
        history.append(max(range(len(row)), key=row.__getitem__))
    assert out == [TOK.decode(history[2:])]


def test_sampling_is_seeded_per_prompt_and_leaves_the_global_rng_alone() -> None:
    cfg = GenerationConfig(max_new_tokens=12, num_samples=2, seed=5)
    state = torch.get_rng_state()
    a = generate(None, TOK, ["ab", "cd"], cfg, lm=char_lm())
    b = generate(None, TOK, ["ab", "cd"], cfg, lm=char_lm())
    other = generate(None, TOK, ["gh", "cd"], cfg, lm=char_lm())
    reseeded = generate(None, TOK, ["ab", "cd"], GenerationConfig(max_new_tokens=12, num_samples=2, seed=6), lm=char_lm())
    assert torch.equal(state, torch.get_rng_state())
    assert a == b
    assert other[1] == a[1]  # prompt 1's samples do not depend on prompt 0
    assert reseeded != a


def test_eot_ends_the_completion_and_is_not_in_the_text() -> None:
    lm = FakeLM(scripted_logits([0, 1, TOK.eot_id, 2], prompt_len=1, vocab_size=11), 11)
    cfg = GenerationConfig(strategy="greedy", max_new_tokens=10)
    (result,) = generate_detailed(None, TOK, ["a"], cfg, lm=lm)
    assert result.completions == ["ab"] and result.finish_reasons == ["eot"]
    # With stop_at_eot off the token is ordinary text.
    lm = FakeLM(scripted_logits([0, 1, TOK.eot_id, 2], prompt_len=1, vocab_size=11), 11)
    cfg = GenerationConfig(strategy="greedy", max_new_tokens=4, stop_at_eot=False)
    assert generate(None, TOK, ["a"], cfg, lm=lm) == [["ab<eot>c"]]


def test_stop_strings_cut_the_completion() -> None:
    script = TOK.encode("ab\n\ncd")
    lm = FakeLM(scripted_logits(script, prompt_len=1, vocab_size=11), 11)
    cfg = GenerationConfig(strategy="greedy", max_new_tokens=10, stop_strings=("\n\n", "zz"))
    (result,) = generate_detailed(None, TOK, ["a"], cfg, lm=lm)
    assert result.completions == ["ab"] and result.finish_reasons == ["stop"]
    assert lm.step_calls == 3  # stopped as soon as the stop string appeared


@pytest.mark.parametrize("strategy", ["greedy", "sample", "beam"])
def test_streamed_pieces_concatenate_to_the_returned_texts(strategy: str) -> None:
    pieces: dict[tuple[int, int], list[str]] = defaultdict(list)

    def on_text(prompt: int, sample: int, piece: str) -> None:
        assert piece
        pieces[prompt, sample].append(piece)

    cfg = GenerationConfig(strategy=strategy, max_new_tokens=30, num_samples=3, stop_strings=("e\n", "hh"))
    out = generate(None, TOK, ["ab", "c"], cfg, on_text, lm=char_lm(seed=2))
    for p, completions in enumerate(out):
        for s, text in enumerate(completions):
            assert "".join(pieces[p, s]) == text
            assert "e\n" not in text and "hh" not in text


def test_streaming_bytes_never_shows_replacement_characters() -> None:
    tok = ByteTokenizer()
    target = "¡héllo, wörld ☃!"
    lm = FakeLM(scripted_logits(tok.encode(target) + [256], prompt_len=1, vocab_size=257), 257)
    pieces: list[str] = []
    cfg = GenerationConfig(strategy="greedy", max_new_tokens=100)
    out = generate(None, tok, [">"], cfg, lambda p, s, piece: pieces.append(piece), lm=lm)
    assert out == [[target]]
    assert "".join(pieces) == target and all("\ufffd" not in p for p in pieces)


def test_long_prompts_are_cropped_from_the_left_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    lm = char_lm(context_size=8)
    prompt = "abcdefgh" * 3  # 24 tokens
    cfg = GenerationConfig(strategy="greedy", max_new_tokens=3)
    with caplog.at_level(logging.WARNING, logger="gptlab.generation"):
        (result,) = generate_detailed(None, TOK, [prompt], cfg, lm=lm)
    assert lm.prefill_inputs[0] == [TOK.encode(prompt[-8:])]
    assert result.cropped_tokens == 16 and result.prompt_tokens == 8
    assert "prompt 0" in caplog.text and "last 8 tokens" in caplog.text


def test_an_empty_prompt_starts_from_eot() -> None:
    lm = char_lm()
    cfg = GenerationConfig(strategy="greedy", max_new_tokens=3)
    generate(None, TOK, [""], cfg, lm=lm)
    assert lm.prefill_inputs[0] == [[TOK.eot_id]]


def test_an_empty_prompt_without_eot_is_a_config_error() -> None:
    tok = CharTokenizer(CHARS, eot=False)
    lm = FakeLM(random_logits(tok.vocab_size, seed=0), tok.vocab_size)
    with pytest.raises(ConfigError, match="prompt 1 is empty"):
        generate(None, tok, ["a", ""], GenerationConfig(max_new_tokens=3), lm=lm)


def test_beam_returns_the_best_hypotheses() -> None:
    cfg = GenerationConfig(strategy="beam", num_beams=4, num_samples=2, max_new_tokens=6)
    (result,) = generate_detailed(None, TOK, ["ab"], cfg, lm=char_lm(seed=3))
    assert len(result.completions) == 2 and result.completions[0] != result.completions[1]


def test_padded_model_vocab_is_never_decoded() -> None:
    # The model has 16 outputs, the tokenizer 10 ids, and the padding ids look best.
    tok = CharTokenizer(CHARS, eot=False)
    lm = FakeLM(fixed_logits([0.0] * 10 + [9.0] * 6), vocab_size=16)
    for strategy in ("greedy", "sample", "beam"):
        out = generate(None, tok, ["a"], GenerationConfig(strategy=strategy, max_new_tokens=20), lm=lm)
        assert len(out[0][0]) == 20  # every token decoded to one character


def test_argument_errors() -> None:
    cfg = GenerationConfig(max_new_tokens=2)
    with pytest.raises(TypeError, match="exactly one"):
        generate(None, TOK, ["a"], cfg)
    with pytest.raises(TypeError, match="exactly one"):
        generate(object(), TOK, ["a"], cfg, lm=char_lm())
    with pytest.raises(TypeError, match="list of strings"):
        generate(None, TOK, "abc", cfg, lm=char_lm())  # type: ignore[arg-type]
    small = FakeLM(random_logits(5, seed=0), vocab_size=5)
    with pytest.raises(ConfigError, match="tokenizer has 11 tokens"):
        generate(None, TOK, ["a"], cfg, lm=small)
