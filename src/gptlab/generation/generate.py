"""The public entry point: prompts in, completion texts out.

Each prompt is decoded on its own, its completions (or beams) forming the batch: the
incremental interface has no padding. Prompt ``i`` is sampled with seed ``cfg.seed + i``,
so its completions do not depend on how long the earlier prompts' generations ran.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from gptlab.errors import ConfigError
from gptlab.generation.beam import beam_search
from gptlab.generation.config import GenerationConfig
from gptlab.generation.protocols import IncrementalLMLike, TokenizerLike
from gptlab.generation.sampling import greedy_decode, sample_decode
from gptlab.generation.text_stream import CompletionText

log = logging.getLogger(__name__)

# on_text(prompt_index, sample_index, new_text): called as text becomes final.
OnText = Callable[[int, int, str], None]


@dataclass(frozen=True)
class PromptResult:
    """Everything :func:`generate_detailed` knows about one prompt.

    Attributes:
        completions: ``num_samples`` completion texts (the prompt excluded); beam
            search gives fewer only if the model admits fewer distinct sequences.
        finish_reasons: per completion, ``"eot"``, ``"stop"`` or ``"length"``.
        prompt_tokens: prompt tokens fed to the model (after cropping).
        cropped_tokens: tokens dropped from the left of a prompt longer than the
            model's context (0 when it fit).
    """

    completions: list[str]
    finish_reasons: list[str]
    prompt_tokens: int
    cropped_tokens: int


def generate(
    model: Any,
    tokenizer: TokenizerLike,
    prompts: Sequence[str],
    cfg: GenerationConfig,
    on_text: OnText | None = None,
    *,
    lm: IncrementalLMLike | None = None,
) -> list[list[str]]:
    """For each prompt, ``cfg.num_samples`` completion texts (prompt not included).

    Args:
        model: a ``gptlab.model`` model, wrapped by ``incremental_lm`` with ``cfg.use_cache``
            and ``cfg.cache_window``; or None with ``lm``.
        tokenizer: encodes prompts and decodes completions.
        prompts: the prompts; an empty one starts from the end-of-text token.
        cfg: decoding settings.
        on_text: streaming callback ``(prompt_index, sample_index, piece)``; the pieces
            of a completion concatenate to its returned text.
        lm: a ready incremental model (the tests' fakes, a wrapper reused across calls)
            instead of ``model``; its cache and window are then its own.
    """
    results = generate_detailed(model, tokenizer, prompts, cfg, on_text, lm=lm)
    return [r.completions for r in results]


def generate_detailed(
    model: Any,
    tokenizer: TokenizerLike,
    prompts: Sequence[str],
    cfg: GenerationConfig,
    on_text: OnText | None = None,
    *,
    lm: IncrementalLMLike | None = None,
) -> list[PromptResult]:
    """Like :func:`generate`, with finish reasons and prompt cropping reported per prompt."""
    if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
        raise TypeError("prompts must be a list of strings")
    lm = _resolve_lm(model, lm, cfg)
    if tokenizer.vocab_size > lm.vocab_size:
        raise ConfigError(
            f"the tokenizer has {tokenizer.vocab_size} tokens but the model only {lm.vocab_size}; "
            "use the tokenizer the model was trained with"
        )
    device = _device_of(model, lm)
    results = []
    for index, prompt in enumerate(prompts):
        ids, cropped = _encode_prompt(tokenizer, prompt, index, lm.context_size)
        prompt_t = torch.tensor(ids, dtype=torch.long, device=device)  # (T,)
        texts, reasons = _generate_one(lm, tokenizer, prompt_t, index, cfg, on_text)
        results.append(PromptResult(texts, reasons, len(ids), cropped))
    return results


def _generate_one(
    lm: IncrementalLMLike,
    tokenizer: TokenizerLike,
    prompt: torch.Tensor,
    prompt_index: int,
    cfg: GenerationConfig,
    on_text: OnText | None,
) -> tuple[list[str], list[str]]:
    eot_id = tokenizer.eot_id if cfg.stop_at_eot else None
    if cfg.strategy == "beam":
        return _beam_one(lm, tokenizer, prompt, prompt_index, cfg, on_text, eot_id)

    texts = [CompletionText(tokenizer.decode, cfg.stop_strings) for _ in range(cfg.num_samples)]

    def on_token(row: int, token: int) -> bool:
        piece = texts[row].push(token)
        if piece and on_text is not None:
            on_text(prompt_index, row, piece)
        return texts[row].stopped

    common: dict[str, Any] = dict(
        max_new_tokens=cfg.max_new_tokens,
        num_rows=cfg.num_samples,
        repetition_penalty=cfg.repetition_penalty,
        eot_id=eot_id,
        vocab_size=tokenizer.vocab_size,
        on_token=on_token,
    )
    if cfg.strategy == "greedy":
        sequences = greedy_decode(lm, prompt, **common)
    else:
        seed = None if cfg.seed is None else (cfg.seed + prompt_index) % 2**63
        sequences = sample_decode(
            lm, prompt, temperature=cfg.temperature, top_k=cfg.top_k, top_p=cfg.top_p, seed=seed, **common
        )
    for row, text in enumerate(texts):
        piece = text.flush()
        if piece and on_text is not None:
            on_text(prompt_index, row, piece)
    return [t.text for t in texts], [s.finish_reason for s in sequences]


def _beam_one(
    lm: IncrementalLMLike,
    tokenizer: TokenizerLike,
    prompt: torch.Tensor,
    prompt_index: int,
    cfg: GenerationConfig,
    on_text: OnText | None,
    eot_id: int | None,
) -> tuple[list[str], list[str]]:
    def is_stopped(tokens: Sequence[int]) -> bool:
        text = tokenizer.decode(tokens)
        return any(s in text for s in cfg.stop_strings)

    hypotheses = beam_search(
        lm,
        prompt,
        num_beams=cfg.num_beams,
        max_new_tokens=cfg.max_new_tokens,
        length_penalty=cfg.length_penalty,
        repetition_penalty=cfg.repetition_penalty,
        eot_id=eot_id,
        vocab_size=tokenizer.vocab_size,
        is_stopped=is_stopped if cfg.stop_strings else None,
    )[: cfg.num_samples]
    texts = [_cut_at_stop(tokenizer.decode(h.tokens), cfg.stop_strings) for h in hypotheses]
    # Which hypothesis wins is known only at the end, so each text streams as one piece.
    if on_text is not None:
        for row, text in enumerate(texts):
            if text:
                on_text(prompt_index, row, text)
    return texts, [h.finish_reason for h in hypotheses]


def _cut_at_stop(text: str, stop_strings: Sequence[str]) -> str:
    hits = [i for s in stop_strings if (i := text.find(s)) >= 0]
    return text[: min(hits)] if hits else text


def _encode_prompt(tokenizer: TokenizerLike, prompt: str, index: int, context_size: int) -> tuple[list[int], int]:
    ids = list(tokenizer.encode(prompt))
    if not ids:
        if tokenizer.eot_id is None:
            raise ConfigError(
                f"prompt {index} is empty and the tokenizer has no end-of-text token to start from; "
                "give a non-empty prompt"
            )
        # The model saw the end-of-text token before every document in training, so it
        # is the natural "start of a new text" context.
        ids = [tokenizer.eot_id]
    cropped = max(0, len(ids) - context_size)
    if cropped:
        log.warning(
            "prompt %d is %d tokens, longer than the model's context of %d: using its last %d tokens",
            index, len(ids), context_size, context_size,
        )  # fmt: skip
        ids = ids[cropped:]
    return ids, cropped


def _resolve_lm(model: Any, lm: IncrementalLMLike | None, cfg: GenerationConfig) -> IncrementalLMLike:
    if (model is None) == (lm is None):
        raise TypeError("pass exactly one of a model or lm=<incremental model>")
    if lm is not None:
        return lm
    # Imported here: importing gptlab.generation never loads the model code.
    from gptlab.model import incremental_lm

    return incremental_lm(model, use_cache=cfg.use_cache, window=cfg.cache_window)


def _device_of(model: Any, lm: IncrementalLMLike) -> torch.device:
    """Where prompt tensors go: the model's parameters' device, else the wrapper's, else CPU."""
    for owner in (model, getattr(lm, "model", None)):
        parameters = getattr(owner, "parameters", None)
        if callable(parameters):
            first = next(iter(parameters()), None)
            if first is not None:
                return first.device
    device = getattr(lm, "device", None)
    return torch.device(device) if device is not None else torch.device("cpu")
