"""Greedy and multinomial decoding of one prompt's ``num_rows`` completions: a finished row
is dropped from the model's batch with ``reorder``, so it costs nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from gptlab.generation.logits_processors import (
    apply_repetition_penalty,
    apply_temperature,
    apply_top_k,
    apply_top_p,
    mark_seen,
    mask_vocab_tail,
)
from gptlab.generation.protocols import IncrementalLMLike

# Called with (row, token_id) for every generated token except the end-of-text one;
# returning True ends that row (e.g. a stop string has appeared in its text).
OnToken = Callable[[int, int], bool]

# Picks the next token of every row: logits (B,V) -> tokens (B,).
Picker = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TokenSequence:
    """One generated completion.

    Attributes:
        tokens: generated ids, without the prompt and without the end-of-text token.
        finish_reason: ``"eot"``, ``"stop"`` (on_token asked to stop) or ``"length"``.
    """

    tokens: list[int]
    finish_reason: str


def make_generator(seed: int | None, device: torch.device) -> torch.Generator:
    """A private RNG on ``device``: reproducible for a seed, and the global RNG is left alone."""
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()  # non-deterministic, still without touching the global RNG
    else:
        generator.manual_seed(seed)
    return generator


def greedy_decode(lm: IncrementalLMLike, prompt: torch.Tensor, **loop: Any) -> list[TokenSequence]:
    """Always take the most likely token (the lowest id among exact ties); ``loop``:
    :func:`decode_loop`'s keywords."""
    return decode_loop(lm, prompt, lambda logits: logits.argmax(dim=-1), **loop)


def sample_decode(
    lm: IncrementalLMLike,
    prompt: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    **loop: Any,
) -> list[TokenSequence]:
    """Draw each token from softmax(logits / temperature), restricted by top-k then top-p;
    ``loop``: :func:`decode_loop`'s keywords."""
    generators: dict[torch.device, torch.Generator] = {}

    def pick(logits: torch.Tensor) -> torch.Tensor:
        # The generator must live on the logits' device, which is known only now.
        if logits.device not in generators:
            generators[logits.device] = make_generator(seed, logits.device)
        logits = apply_temperature(logits.float(), temperature)
        if top_k is not None:
            logits = apply_top_k(logits, top_k)
        if top_p is not None:
            logits = apply_top_p(logits, top_p)
        probs = torch.softmax(logits, dim=-1)  # (B,V)
        return torch.multinomial(probs, 1, generator=generators[logits.device]).squeeze(-1)  # (B,)

    return decode_loop(lm, prompt, pick, **loop)


def decode_loop(
    lm: IncrementalLMLike,
    prompt: torch.Tensor,
    pick: Picker,
    *,
    max_new_tokens: int,
    num_rows: int = 1,
    repetition_penalty: float = 1.0,
    eot_id: int | None = None,
    vocab_size: int | None = None,
    on_token: OnToken | None = None,
) -> list[TokenSequence]:
    """Generate ``num_rows`` completions of ``prompt`` (T,), choosing tokens with ``pick``.

    Args:
        eot_id: a row ends when it picks this id (None: only length or on_token end it).
        vocab_size: ids at or above it are never picked (the tokenizer cannot decode them).
    """
    if prompt.dim() != 1 or prompt.numel() == 0:
        raise ValueError(f"prompt must be a non-empty 1-D tensor of ids, got shape {tuple(prompt.shape)}")
    logits = lm.prefill(prompt[None, :])  # (1,V)
    device = logits.device
    if num_rows > 1:
        copies = torch.zeros(num_rows, dtype=torch.long, device=device)
        lm.reorder(copies)
        logits = logits[copies]  # (R,V)
    use_penalty = repetition_penalty != 1.0
    seen = torch.zeros(num_rows, logits.size(-1), dtype=torch.bool, device=device)  # (R,V)
    if use_penalty:
        seen = mark_seen(seen, prompt.to(device)[None, :].expand(num_rows, -1))

    tokens: list[list[int]] = [[] for _ in range(num_rows)]
    reasons: list[str | None] = [None] * num_rows
    live = list(range(num_rows))  # live[i] = output row held in batch row i
    for step in range(max_new_tokens):
        if use_penalty:
            logits = apply_repetition_penalty(logits, seen, repetition_penalty)
        if vocab_size is not None:
            logits = mask_vocab_tail(logits, vocab_size)
        chosen = pick(logits)  # (A,)
        keep: list[int] = []
        for i, token in enumerate(chosen.tolist()):
            row = live[i]
            if token == eot_id:
                reasons[row] = "eot"
                continue
            tokens[row].append(token)
            if on_token is not None and on_token(row, token):
                reasons[row] = "stop"
                continue
            keep.append(i)
        if not keep or step == max_new_tokens - 1:
            break  # no forward pass for logits nobody will use
        if len(keep) < len(live):
            index = torch.tensor(keep, dtype=torch.long, device=device)
            lm.reorder(index)
            chosen, seen = chosen[index], seen[index]
            live = [live[i] for i in keep]
        if use_penalty:
            seen = mark_seen(seen, chosen)
        logits = lm.step(chosen)  # (A,V)
    return [TokenSequence(t, r or "length") for t, r in zip(tokens, reasons)]
