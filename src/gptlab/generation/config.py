"""How to decode: the knobs of every strategy, checked once when the config is built.

One flat dataclass, so that a Hydra section such as ``{strategy: sample, top_k: 40}`` maps
onto it; a strategy ignores the fields it does not use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gptlab.errors import ConfigError

STRATEGIES = ("greedy", "sample", "beam")
# Window policies of gptlab.model.IncrementalLM (repeated here so that this package does
# not import the model code).
CACHE_WINDOWS = ("exact", "chunked")


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding settings.

    Attributes:
        strategy: ``"greedy"`` (arg-max), ``"sample"`` (multinomial, shaped by
            temperature / top_k / top_p) or ``"beam"`` (beam search).
        max_new_tokens: most tokens generated per completion.
        temperature: logits are divided by it before sampling (<1 sharper, >1 flatter).
        top_k: sample only among the k most likely tokens (ties at the k-th value kept).
        top_p: nucleus sampling: the smallest set of most likely tokens whose
            probability sums to at least top_p.
        repetition_penalty: CTRL-style penalty on tokens already in the prompt or
            generated (1.0 = off, >1 discourages repeats).
        num_beams: beams kept by beam search.
        length_penalty: beam score is ``sum(logprob) / length ** length_penalty``;
            larger values favour longer hypotheses.
        num_samples: completions per prompt (for beam: the best ``num_samples``
            hypotheses, so it must not exceed ``num_beams``).
        seed: seed of the local random generator used for sampling; None = random.
        stop_strings: a completion is cut before the first occurrence of any of them.
        stop_at_eot: end a completion at the tokenizer's end-of-text token.
        use_cache: run the model with its key/value cache (same output, faster).
        cache_window: what the model sees past its context, ``"exact"`` or ``"chunked"``
            (the window policies of :mod:`gptlab.model.incremental`).
    """

    strategy: str = "sample"
    max_new_tokens: int = 200
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float = 1.0
    num_beams: int = 4
    length_penalty: float = 1.0
    num_samples: int = 1
    seed: int | None = 1337
    stop_strings: tuple[str, ...] = ()
    stop_at_eot: bool = True
    use_cache: bool = True
    cache_window: str = "exact"

    def __post_init__(self) -> None:
        # Types are OmegaConf's to check (gptlab.config.to_dataclass builds this class from
        # config sections and request params); the ranges and rules it cannot say are here.
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"generation.strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        _check_min("max_new_tokens", self.max_new_tokens, 1)
        if not math.isfinite(self.temperature):
            raise ConfigError(f"generation.temperature must be finite, got {self.temperature}")
        if self.strategy == "sample" and self.temperature <= 0:
            raise ConfigError(
                f"generation.temperature must be > 0 for strategy=sample, got {self.temperature}; "
                "use strategy=greedy for deterministic decoding"
            )
        if self.top_k is not None:
            _check_min("top_k", self.top_k, 1)
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"generation.top_p must be in (0, 1], got {self.top_p}")
        if not self.repetition_penalty > 0:
            raise ConfigError(
                f"generation.repetition_penalty must be > 0 (1.0 = off), got {self.repetition_penalty}"
            )
        _check_min("num_beams", self.num_beams, 1)
        if not math.isfinite(self.length_penalty):
            raise ConfigError(f"generation.length_penalty must be finite, got {self.length_penalty}")
        _check_min("num_samples", self.num_samples, 1)
        if self.strategy == "beam" and self.num_samples > self.num_beams:
            raise ConfigError(
                f"generation.num_samples ({self.num_samples}) must not exceed num_beams ({self.num_beams}) "
                "for strategy=beam: beam search returns at most num_beams hypotheses"
            )
        if self.seed is not None:
            _check_min("seed", self.seed, 0)
            if self.seed >= 2**63:
                raise ConfigError(f"generation.seed must be < 2**63, got {self.seed}")
        # Frozen, so normalised through object.__setattr__: lists become tuples.
        object.__setattr__(self, "stop_strings", tuple(self.stop_strings))
        if not all(isinstance(s, str) and s for s in self.stop_strings):  # OmegaConf lets a nested list through
            raise ConfigError(f"generation.stop_strings must hold non-empty strings, got {list(self.stop_strings)!r}")
        if self.cache_window not in CACHE_WINDOWS:
            raise ConfigError(
                f"generation.cache_window must be one of {', '.join(CACHE_WINDOWS)}, got {self.cache_window!r}"
            )


def _check_min(name: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise ConfigError(f"generation.{name} must be >= {minimum}, got {value}")
