"""What kind of tokenizer to train, and the special tokens it reserves.

Special tokens take the lowest ids, in ``special_tokens`` order, for both kinds, so adding characters or
merges never moves one and code that pads or stops on end-of-text sees the same ids whatever the kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gptlab.errors import ConfigError

EOT_TOKEN = "<|endoftext|>"  # separates documents: Tokenizer.eot_id
UNK_TOKEN = "<unk>"  # an unseen character (char tokenizer, unk_policy="replace")
PAD_TOKEN = "<pad>"
BOS_TOKEN = "<bos>"
EOS_TOKEN = "<eos>"
DEFAULT_SPECIAL_TOKENS: tuple[str, ...] = (EOT_TOKEN, UNK_TOKEN, PAD_TOKEN, BOS_TOKEN, EOS_TOKEN)

KINDS: tuple[str, ...] = ("char", "bpe")
# What tokenizer.kind may say: a kind to train, or "pretrained" (copy tokenizer.path's).
CONFIG_KINDS: tuple[str, ...] = (*KINDS, "pretrained")
UNK_POLICIES: tuple[str, ...] = ("error", "replace")

# Byte-level BPE starts from one symbol per byte value, so its vocabulary can never be
# smaller than this plus the special tokens.
BYTE_ALPHABET_SIZE = 256


@dataclass(frozen=True)
class TokenizerConfig:
    """Settings for :func:`gptlab.tokenizer.train_tokenizer`; defaults in conf/tokenizer/*.yaml only."""

    kind: str  # "pretrained" trains nothing: the tokenize stage copies path's tokenizer
    vocab_size: int  # bpe only: a char vocabulary is the training text's characters
    min_frequency: int  # bpe only
    unk_policy: str  # char only: byte-level BPE encodes anything
    path: str | None  # kind="pretrained" only: a gptlab or Hugging Face model directory, or its tokenizer.json
    special_tokens: tuple[str, ...] = DEFAULT_SPECIAL_TOKENS  # no option sets it

    def __post_init__(self) -> None:
        # Types are OmegaConf's to check (gptlab.config.to_dataclass); a list becomes a tuple,
        # so the config stays hashable.
        object.__setattr__(self, "special_tokens", _as_token_tuple(self.special_tokens))
        if self.kind not in CONFIG_KINDS:
            raise ConfigError(
                f"tokenizer.kind={self.kind!r} is not a tokenizer kind; choose one of: {', '.join(CONFIG_KINDS)}"
            )
        if self.kind == "pretrained" and not (isinstance(self.path, str) and self.path.strip()):
            raise ConfigError(
                "tokenizer=pretrained needs tokenizer.path (by default train.init_from): a gptlab or Hugging Face "
                "model directory, e.g. tokenizer.path=artifacts/model"
            )
        if self.unk_policy not in UNK_POLICIES:
            raise ConfigError(
                f"tokenizer.unk_policy={self.unk_policy!r} is not valid; choose one of: {', '.join(UNK_POLICIES)}"
            )
        _check_min("vocab_size", self.vocab_size, 1)
        _check_min("min_frequency", self.min_frequency, 1)
        if self.kind == "bpe":
            smallest = BYTE_ALPHABET_SIZE + len(self.special_tokens)
            if self.vocab_size < smallest:
                raise ConfigError(
                    f"tokenizer.vocab_size={self.vocab_size} is too small for kind='bpe': it needs at least "
                    f"{smallest} ({BYTE_ALPHABET_SIZE} byte symbols + {len(self.special_tokens)} special tokens)"
                )
        if self.kind == "char" and self.unk_policy == "replace" and UNK_TOKEN not in self.special_tokens:
            raise ConfigError(
                f"tokenizer.unk_policy='replace' needs {UNK_TOKEN!r} in tokenizer.special_tokens to replace unseen characters with"
            )


def _as_token_tuple(tokens: Iterable[str]) -> tuple[str, ...]:
    result = tuple(tokens)
    # OmegaConf converts list items to str but lets a nested list or mapping through.
    if not all(isinstance(t, str) and t for t in result):
        raise ConfigError(f"tokenizer.special_tokens must hold non-empty strings, got {list(result)!r}")
    duplicates = sorted({t for t in result if result.count(t) > 1})
    if duplicates:
        raise ConfigError(f"tokenizer.special_tokens lists {', '.join(map(repr, duplicates))} more than once")
    return result


def _check_min(name: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise ConfigError(f"tokenizer.{name}={value} must be at least {minimum}")
