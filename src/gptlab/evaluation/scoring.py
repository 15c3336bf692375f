"""Summed next-token NLL of a token array: fixed windows, eval mode, summed in float64 (the
batch size changes it only by float32 round-off)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gptlab.errors import DataError
from gptlab.evaluation.windows import Window, count_windows, plan_windows
from gptlab.model.eval_mode import eval_mode


@dataclass(frozen=True)
class TokenScore:
    nll: float  # summed negative log-likelihood, nats
    tokens: int  # targets scored


def _batches(windows: Iterator[Window], batch_size: int) -> Iterator[list[Window]]:
    batch: list[Window] = []
    for w in windows:
        # Windows all share one length (see plan_windows); checked, not assumed.
        if batch and (len(batch) == batch_size or w.length != batch[0].length):
            yield batch
            batch = []
        batch.append(w)
    if batch:
        yield batch


def score_tokens(
    model: Any,
    tokens: np.ndarray,
    *,
    batch_size: int = 32,
    stride: int | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    desc: str = "eval",
) -> TokenScore:
    """Sum of ``-log p(token_t | context)`` over every token after the first."""
    context = int(model.config.context_size)
    vocab = int(model.config.vocab_size)
    n = int(len(tokens))
    total_windows = count_windows(n, context, stride)
    nll = 0.0
    scored = 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=max(0, n - 1), unit="tok", unit_scale=True, desc=desc, mininterval=0.5)
    try:
        with eval_mode(model), torch.no_grad():
            for batch in _batches(plan_windows(n, context, stride), batch_size):
                length = batch[0].length
                block = np.stack([np.asarray(tokens[w.start : w.start + length + 1], dtype=np.int64) for w in batch])
                if block.max() >= vocab:
                    raise DataError(
                        f"token id {int(block.max())} is outside the model's vocabulary ({vocab}): "
                        "the dataset was not built with this model's tokenizer"
                    )
                block_t = torch.from_numpy(block).to(device)
                x, y = block_t[:, :-1], block_t[:, 1:].clone()
                for row, w in enumerate(batch):
                    y[row, : w.score_from] = -1  # context only: scored by an earlier window
                logits, _ = model(x)
                per_token = F.cross_entropy(
                    logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1), ignore_index=-1, reduction="none"
                )  # 0 at ignored positions
                nll += float(per_token.double().sum())
                got = sum(w.scored for w in batch)
                scored += got
                if bar is not None:
                    bar.update(got)
    finally:
        if bar is not None:
            bar.close()
    assert scored == max(0, n - 1), (scored, n, total_windows)
    return TokenScore(nll=nll, tokens=scored)
