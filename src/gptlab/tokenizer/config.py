"""What kind of tokenizer to train, and the special tokens it reserves.

Special tokens take the lowest ids, in the order of ``special_tokens``, for *both*
kinds. With the defaults that is::

    0 <|endoftext|>   end of text: separates documents; ``Tokenizer.eot_id``
    1 <unk>           unseen character (char tokenizer with unk_policy="replace")
    2 <pad>           padding for batched inference
    3 <bos>           beginning of sequence
    4 <eos>           end of sequence

Fixed low ids mean a config change that adds characters or merges never moves a
special token, and code that pads or stops on end-of-text can rely on the same ids
whichever kind of tokenizer produced them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gptlab.errors import ConfigError

EOT_TOKEN = "<|endoftext|>"
UNK_TOKEN = "<unk>"
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
    """Settings for :func:`gptlab.tokenizer.train_tokenizer`.

    ``vocab_size`` and ``min_frequency`` only apply to ``kind="bpe"`` (a char
    tokenizer's vocabulary is whatever characters the training text holds);
    ``unk_policy`` only applies to ``kind="char"`` (byte-level BPE can encode anything).
    ``kind="pretrained"`` trains nothing: the tokenize stage copies the tokenizer of
    ``path`` (a gptlab or Hugging Face model directory, or its tokenizer.json), and only
    ``path`` applies.
    The keys conf/tokenizer/*.yaml sets have their defaults there only (no default here);
    ``special_tokens``, which no option sets, defaults to :data:`DEFAULT_SPECIAL_TOKENS`.
    """

    kind: str
    vocab_size: int
    min_frequency: int
    unk_policy: str
    path: str | None  # kind="pretrained" only
    special_tokens: tuple[str, ...] = DEFAULT_SPECIAL_TOKENS

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
