"""Pure functions that reshape next-token logits before a token is picked.

Every function takes logits (B,V) and returns new logits (B,V) without modifying its
input. Removed tokens get ``-inf``, so a softmax afterwards gives them probability 0.
The usual order is: repetition penalty, temperature, top-k, top-p.
"""

from __future__ import annotations

import torch

NEG_INF = float("-inf")


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide by ``temperature``: below 1 sharpens the distribution, above 1 flattens it."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if temperature == 1.0:
        return logits
    return logits / temperature


def apply_top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits per row.

    Tokens tied with the k-th largest value are all kept (so more than ``k`` may
    survive): choosing among equal logits by index would be arbitrary.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if k >= logits.size(-1):
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B,1)
    return logits.masked_fill(logits < kth, NEG_INF)


def apply_top_p(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering: keep the smallest set of most likely tokens with total probability >= ``p``.

    The most likely token is always kept, however small ``p`` is. Among tokens with
    equal probability at the boundary, the lower id is kept first (stable sort).
    """
    if not 0.0 < p <= 1.0:
        raise ValueError(f"p must be in (0, 1], got {p}")
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True, stable=True)  # (B,V)
    # At least float32: half-precision cumulative sums drift far enough to move the cut.
    dtype = torch.promote_types(sorted_logits.dtype, torch.float32)
    probs = torch.softmax(sorted_logits, dim=-1, dtype=dtype)  # (B,V)
    cumulative = probs.cumsum(dim=-1)  # (B,V)
    # Mass of the tokens strictly before each one. A cumsum shifted right, rather than
    # cumsum - probs, so the first token's mass is exactly 0 and rounding cannot drop it.
    mass_before = torch.cat([torch.zeros_like(cumulative[..., :1]), cumulative[..., :-1]], dim=-1)
    drop_sorted = mass_before >= p  # (B,V): the set before this token already reaches p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, NEG_INF)


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL-style penalty on tokens marked in ``seen`` (B,V) bool.

    A positive logit is divided by ``penalty`` and a negative one multiplied by it, so
    for ``penalty > 1`` a seen token always becomes less likely (dividing a negative
    logit would make it *more* likely).
    """
    if penalty <= 0:
        raise ValueError(f"penalty must be > 0, got {penalty}")
    if penalty == 1.0:
        return logits
    penalized = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalized, logits)


def mark_seen(seen: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """``seen`` (B,V) bool with ``tokens`` (B,) or (B,L) also marked; returns a new tensor."""
    if tokens.dim() == 1:
        tokens = tokens[:, None]
    return seen.scatter(1, tokens, True)


def mask_vocab_tail(logits: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Forbid ids >= ``vocab_size``: an output layer wider than the tokenizer's vocabulary
    (padded for speed) has ids that cannot be decoded."""
    if vocab_size >= logits.size(-1):
        return logits
    out = logits.clone()
    out[..., vocab_size:] = NEG_INF
    return out
