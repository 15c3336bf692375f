"""How to decode: one flat dataclass, so that a Hydra section such as ``{strategy: sample, top_k: 40}`` maps onto
it (a strategy ignores the fields it does not use), checked once when it is built."""

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
    """Decoding settings (docs/generate.md points here for their meanings)."""

    strategy: str = "sample"  # "greedy" (arg-max), "sample" (multinomial) or "beam"
    max_new_tokens: int = 200  # per completion
    temperature: float = 1.0  # logits are divided by it before sampling (<1 sharper)
    top_k: int | None = None  # sample among the k most likely tokens (ties at the k-th kept)
    top_p: float | None = None  # nucleus: the fewest most likely tokens with probability >= top_p
    repetition_penalty: float = 1.0  # CTRL-style, on tokens of the prompt or generated (1.0 = off)
    num_beams: int = 4
    length_penalty: float = 1.0  # beam score: sum(logprob) / length ** length_penalty
    num_samples: int = 1  # completions per prompt (beam: the best num_samples hypotheses)
    seed: int | None = 1337  # of the local generator used for sampling; None = random
    stop_strings: tuple[str, ...] = ()  # a completion is cut before the first of them
    stop_at_eot: bool = True  # end a completion at the tokenizer's end-of-text token
    use_cache: bool = True  # the model's key/value cache: same output, faster
    cache_window: str = "exact"  # what the model sees past its context: gptlab.model.incremental

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
