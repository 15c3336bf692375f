"""From a summed NLL to the numbers reported per split; ``bits_per_char`` (of the scored text
only) compares models across tokenizers."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class SplitMetrics:
    loss: float  # mean NLL, nats per token
    perplexity: float  # exp(loss)
    bits_per_token: float  # loss / ln 2
    bits_per_char: float  # total NLL in bits / characters scored
    tokens: int  # tokens scored (all but the split's first)
    characters: int  # characters those tokens cover

    @classmethod
    def from_totals(cls, nll: float, tokens: int, characters: int) -> SplitMetrics:
        if tokens < 1:
            raise ValueError("no tokens were scored")
        loss = nll / tokens
        bits = nll / math.log(2)
        return cls(
            loss=loss,
            perplexity=math.exp(loss) if loss < 700 else math.inf,  # exp overflows a float past ~709
            bits_per_token=loss / math.log(2),
            bits_per_char=bits / characters if characters > 0 else math.nan,
            tokens=tokens,
            characters=characters,
        )

    def to_dict(self) -> dict:
        return asdict(self)
