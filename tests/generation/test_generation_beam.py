from __future__ import annotations

import math

import pytest
import torch
from tests.generation.generation_fakes import FakeLM, log_probs, random_logits
from hypothesis import given
from hypothesis import strategies as st

import gptlab.generation.beam as beam_module
from gptlab.generation import beam_search, greedy_decode
from gptlab.generation.beam import length_normalized

PROMPT = torch.tensor([0, 1])


def exhaustive(next_logits, prompt: list[int], vocab_size: int, max_new: int, eot: int | None, alpha: float):
    """Every complete hypothesis with its score, best first (same rules as beam_search)."""
    out: list[tuple[float, tuple[int, ...], float]] = []

    def expand(tokens: tuple[int, ...], logprob: float) -> None:
        logp = torch.log_softmax(torch.tensor(next_logits(tuple(prompt) + tokens), dtype=torch.float64), 0)
        for t in range(vocab_size):
            total = logprob + float(logp[t])
            length = len(tokens) + 1
            if t == eot:
                out.append((length_normalized(total, length, alpha), tokens, total))
            elif length == max_new:
                out.append((length_normalized(total, length, alpha), tokens + (t,), total))
            else:
                expand(tokens + (t,), total)

    expand((), 0.0)
    out.sort(key=lambda h: -h[0])
    return out


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 2.0, -0.5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wide_beam_equals_exhaustive_search(alpha: float, seed: int) -> None:
    vocab, eot, max_new = 4, 3, 4
    fn = random_logits(vocab, seed=seed, scale=1.5)
    truth = exhaustive(fn, [0, 1], vocab, max_new, eot, alpha)
    assert len(truth) == 1 + 3 + 9 + 27 + 81  # eot after 0..3 tokens, or 4 tokens
    num_beams = 128  # >= every sequence: nothing can be pruned
    hyps = beam_search(FakeLM(fn, vocab), PROMPT, num_beams=num_beams, max_new_tokens=max_new, length_penalty=alpha, eot_id=eot)
    assert len(hyps) == len(truth)
    for hyp, (score, tokens, logprob) in zip(hyps, truth):
        assert hyp.tokens == tokens
        assert hyp.score == pytest.approx(score, abs=1e-9)
        assert hyp.logprob == pytest.approx(logprob, abs=1e-9)
        assert hyp.finish_reason == ("length" if len(tokens) == max_new else "eot")
    assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)


def test_wide_beam_without_eot_equals_exhaustive_search() -> None:
    vocab, max_new = 3, 4
    fn = random_logits(vocab, seed=9)
    truth = exhaustive(fn, [0, 1], vocab, max_new, None, 1.0)
    hyps = beam_search(FakeLM(fn, vocab), PROMPT, num_beams=81, max_new_tokens=max_new)
    assert [h.tokens for h in hyps] == [t for _, t, _ in truth]


def branching_logits(history: tuple[int, ...]) -> list[float]:
    """Token 0 looks best first (0.6 vs 0.4) but leads to a flat 3-way split;
    token 1 leads to a near-certain continuation: beam finds 1,2 (0.38), greedy 0,0 (0.2)."""
    generated = history[len(PROMPT) :]
    if not generated:
        return log_probs([0.6, 0.4, 0.0])
    if generated[0] == 0:
        return log_probs([1 / 3 + 1e-3, 1 / 3, 1 / 3 - 1e-3])
    return log_probs([0.025, 0.025, 0.95])


def test_beam_finds_a_better_sequence_than_greedy() -> None:
    greedy = greedy_decode(FakeLM(branching_logits, 3), PROMPT, max_new_tokens=2)[0].tokens
    best = beam_search(FakeLM(branching_logits, 3), PROMPT, num_beams=2, max_new_tokens=2, length_penalty=0.0)[0]
    assert greedy == [0, 0]
    assert best.tokens == (1, 2)
    assert best.logprob == pytest.approx(math.log(0.4 * 0.95))
    truth = exhaustive(branching_logits, [0, 1], 3, 2, None, 0.0)
    assert truth[0][1] == best.tokens


def test_one_beam_without_eot_is_greedy() -> None:
    fn = random_logits(5, seed=4)
    greedy = greedy_decode(FakeLM(fn, 5), PROMPT, max_new_tokens=10)[0].tokens
    (hyp,) = beam_search(FakeLM(fn, 5), PROMPT, num_beams=1, max_new_tokens=10)
    assert list(hyp.tokens) == greedy


@pytest.mark.parametrize("alpha", [0.0, 1.0, 2.0, -1.0])
def test_early_stopping_never_changes_the_result(alpha: float, monkeypatch: pytest.MonkeyPatch) -> None:
    # eot is likely, so the pool fills fast and the bound can cut the search short.
    vocab, eot = 5, 4

    def fn(history: tuple[int, ...]) -> list[float]:
        logits = random_logits(vocab, seed=11)(history)
        logits[eot] += 2.0
        return logits

    def run() -> tuple[list, int]:
        lm = FakeLM(fn, vocab)
        hyps = beam_search(lm, PROMPT, num_beams=3, max_new_tokens=12, length_penalty=alpha, eot_id=eot)
        return hyps, lm.step_calls

    early, early_steps = run()
    monkeypatch.setattr(beam_module, "_best_reachable_score", lambda *args: math.inf)
    full, full_steps = run()
    assert early == full
    if alpha <= 1.0:
        assert early_steps < full_steps  # the bound did prune


@given(
    logprob=st.floats(-50, 0),
    extra=st.lists(st.floats(-10, 0), min_size=1, max_size=8),
    length=st.integers(1, 10),
    alpha=st.floats(-2, 3),
)
def test_reachable_score_bound_holds(logprob: float, extra: list[float], length: int, alpha: float) -> None:
    max_length = length + 8
    bound = beam_module._best_reachable_score(logprob, length, max_length, alpha)
    total = logprob
    for n, x in enumerate(extra, start=1):
        total += x
        assert length_normalized(total, length + n, alpha) <= bound + 1e-9


def test_is_stopped_finishes_a_hypothesis() -> None:
    fn = random_logits(4, seed=2)
    hyps = beam_search(FakeLM(fn, 4), PROMPT, num_beams=4, max_new_tokens=5, is_stopped=lambda t: t[-1] == 2)
    for h in hyps:
        assert (h.finish_reason == "stop") == (2 in h.tokens)
        assert 2 not in h.tokens[:-1]


def test_masked_vocab_and_repetition_penalty() -> None:
    fn = random_logits(6, seed=3)
    hyps = beam_search(FakeLM(fn, 6), PROMPT, num_beams=3, max_new_tokens=4, vocab_size=4, repetition_penalty=1.3)
    assert len(hyps) == 3
    assert all(t < 4 for h in hyps for t in h.tokens)


def test_fewer_sequences_than_beams() -> None:
    # Two tokens, one step: only two hypotheses exist.
    hyps = beam_search(FakeLM(random_logits(2, seed=0), 2), PROMPT, num_beams=5, max_new_tokens=1)
    assert sorted(h.tokens for h in hyps) == [(0,), (1,)]
