"""Character and byte-level BPE tokenizers; special tokens take ids 0..n-1 in config order
(:mod:`gptlab.tokenizer.config`), and neither kind turns special-token text in the input into special ids."""

from gptlab.tokenizer.base import FORMAT_VERSION, Tokenizer
from gptlab.tokenizer.config import (
    BOS_TOKEN,
    DEFAULT_SPECIAL_TOKENS,
    EOS_TOKEN,
    EOT_TOKEN,
    PAD_TOKEN,
    UNK_TOKEN,
    TokenizerConfig,
)
from gptlab.tokenizer.serialization import load_tokenizer, tokenizer_from_json
from gptlab.tokenizer.stats import tokenizer_stats
from gptlab.tokenizer.train import train_tokenizer

__all__ = [
    "BOS_TOKEN",
    "DEFAULT_SPECIAL_TOKENS",
    "EOS_TOKEN",
    "EOT_TOKEN",
    "FORMAT_VERSION",
    "PAD_TOKEN",
    "UNK_TOKEN",
    "Tokenizer",
    "TokenizerConfig",
    "load_tokenizer",
    "tokenizer_from_json",
    "tokenizer_stats",
    "train_tokenizer",
]
