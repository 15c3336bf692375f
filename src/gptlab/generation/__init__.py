"""Text generation: greedy, sampling (temperature, top-k, top-p) and beam search; the entry
point is :func:`generate`, the building blocks are exported for experiments and tests."""

from gptlab.generation.beam import Hypothesis, beam_search
from gptlab.generation.config import STRATEGIES, GenerationConfig
from gptlab.generation.generate import OnText, PromptResult, generate, generate_detailed
from gptlab.generation.logits_processors import (
    apply_repetition_penalty,
    apply_temperature,
    apply_top_k,
    apply_top_p,
    mark_seen,
    mask_vocab_tail,
)
from gptlab.generation.protocols import IncrementalLMLike, TokenizerLike
from gptlab.generation.sampling import TokenSequence, greedy_decode, make_generator, sample_decode
from gptlab.generation.text_stream import CompletionText

__all__ = [
    "STRATEGIES",
    "CompletionText",
    "GenerationConfig",
    "Hypothesis",
    "IncrementalLMLike",
    "OnText",
    "PromptResult",
    "TokenSequence",
    "TokenizerLike",
    "apply_repetition_penalty",
    "apply_temperature",
    "apply_top_k",
    "apply_top_p",
    "beam_search",
    "generate",
    "generate_detailed",
    "greedy_decode",
    "make_generator",
    "mark_seen",
    "mask_vocab_tail",
    "sample_decode",
]
