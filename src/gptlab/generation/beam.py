"""Beam search: keep the ``num_beams`` most likely partial sequences at every step.

Each live beam's end-of-text extension becomes a finished hypothesis (the eot token counted
in its length, its log-probability being in the sum); a pool keeps the ``num_beams`` best.
The search ends at ``max_new_tokens``, when no beam is left, or when no live beam can beat
a full pool's worst: an exact bound, so that early stop never changes the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from gptlab.generation.logits_processors import apply_repetition_penalty, mark_seen, mask_vocab_tail
from gptlab.generation.protocols import IncrementalLMLike


@dataclass(frozen=True)
class Hypothesis:
    """A finished beam.

    Attributes:
        tokens: generated ids, without the prompt and without the end-of-text token.
        logprob: sum of the log-probabilities of the scored tokens.
        length: number of scored tokens (``len(tokens)``, plus 1 if ended by eot).
        score: ``logprob / length ** length_penalty``; higher is better.
        finish_reason: ``"eot"``, ``"stop"`` (is_stopped said so) or ``"length"``.
    """

    tokens: tuple[int, ...]
    logprob: float
    length: int
    score: float
    finish_reason: str


def length_normalized(logprob: float, length: int, length_penalty: float) -> float:
    return logprob / (length**length_penalty)


def beam_search(
    lm: IncrementalLMLike,
    prompt: torch.Tensor,
    *,
    num_beams: int,
    max_new_tokens: int,
    length_penalty: float = 1.0,
    repetition_penalty: float = 1.0,
    eot_id: int | None = None,
    vocab_size: int | None = None,
    is_stopped: Callable[[Sequence[int]], bool] | None = None,
) -> list[Hypothesis]:
    """Best hypotheses continuing ``prompt`` (T,), best first (at most ``num_beams``).

    Args:
        eot_id: the end-of-text id, which ends a hypothesis (None: only length does).
        vocab_size: ids at or above it are never chosen.
        is_stopped: called with a beam's tokens after each step; True finishes it
            (used for stop strings, which need the decoded text).
    """
    # One function on purpose: every step reads and rewrites the same five pieces of
    # state (beams, their log-probs, the seen-token mask, the pool, the KV cache order);
    # split into steps, each would pass all five back and forth.
    if num_beams < 1 or max_new_tokens < 1:
        raise ValueError("num_beams and max_new_tokens must be >= 1")
    if prompt.dim() != 1 or prompt.numel() == 0:
        raise ValueError(f"prompt must be a non-empty 1-D tensor of ids, got shape {tuple(prompt.shape)}")
    pool: list[Hypothesis] = []  # the num_beams best finished hypotheses, best first

    def finish(tokens: Sequence[int], logprob: float, length: int, reason: str) -> None:
        score = length_normalized(logprob, length, length_penalty)
        if len(pool) < num_beams or score > pool[-1].score:
            pool.append(Hypothesis(tuple(tokens), logprob, length, score, reason))
            pool.sort(key=lambda h: -h.score)  # stable: of equal scores, the one found first stays ahead
            del pool[num_beams:]

    logits = lm.prefill(prompt[None, :])  # (1,V): one beam to start with
    device = logits.device
    beams: list[list[int]] = [[]]
    beam_logprob = torch.zeros(1, dtype=torch.float64, device=device)  # (A,)
    use_penalty = repetition_penalty != 1.0
    seen = torch.zeros(1, logits.size(-1), dtype=torch.bool, device=device)  # (A,V)
    if use_penalty:
        seen = mark_seen(seen, prompt.to(device)[None, :])

    for step in range(max_new_tokens):
        length = step + 1  # tokens scored by any hypothesis made in this step
        if use_penalty:
            logits = apply_repetition_penalty(logits, seen, repetition_penalty)
        if vocab_size is not None:
            logits = mask_vocab_tail(logits, vocab_size)
        # float64 so sums over hundreds of steps rank exactly as the exhaustive search does
        logprobs = torch.log_softmax(logits.double(), dim=-1)  # (A,V)
        candidates = beam_logprob[:, None] + logprobs  # (A,V)
        if eot_id is not None:
            for beam, logprob in zip(beams, candidates[:, eot_id].tolist()):
                if logprob > -math.inf:
                    finish(beam, logprob, length, "eot")
            candidates[:, eot_id] = -math.inf
        vocab = candidates.size(-1)
        flat = candidates.reshape(-1)  # (A*V,)
        n_finite = int(torch.isfinite(flat).sum())
        top_logprob, top_index = flat.topk(min(num_beams, n_finite))  # (K,), best first
        origins = (top_index // vocab).tolist()
        chosen = (top_index % vocab).tolist()

        keep: list[int] = []
        next_beams: list[list[int]] = []
        last_step = step == max_new_tokens - 1
        for k, (origin, token, logprob) in enumerate(zip(origins, chosen, top_logprob.tolist())):
            tokens = beams[origin] + [token]
            if is_stopped is not None and is_stopped(tokens):
                finish(tokens, logprob, length, "stop")
            elif last_step:
                finish(tokens, logprob, length, "length")
            else:
                keep.append(k)
                next_beams.append(tokens)
        if not next_beams:
            break
        keep_t = torch.tensor(keep, dtype=torch.long, device=device)
        beam_logprob = top_logprob[keep_t]  # (A',)
        if len(pool) == num_beams and _best_reachable_score(
            float(beam_logprob.max()), length, max_new_tokens, length_penalty
        ) <= pool[-1].score:
            break
        origin_t = torch.tensor(origins, dtype=torch.long, device=device)[keep_t]  # (A',)
        token_t = torch.tensor(chosen, dtype=torch.long, device=device)[keep_t]  # (A',)
        lm.reorder(origin_t)
        if use_penalty:
            seen = mark_seen(seen[origin_t], token_t)
        beams = next_beams
        logits = lm.step(token_t)  # (A',V)
    return pool


def _best_reachable_score(logprob: float, length: int, max_length: int, length_penalty: float) -> float:
    """Upper bound on the score of any extension of a live beam (``length`` tokens,
    ``logprob`` <= 0): it has logprob' <= logprob and length' in (length, max_length], so
    for a > 0 its score is at most logprob / max_length**a (a larger divisor makes a
    negative number less negative), for a <= 0 at most logprob * (length+1)**|a|."""
    if length_penalty > 0:
        return logprob / (max_length**length_penalty)
    return logprob * ((length + 1) ** (-length_penalty))

