from __future__ import annotations

import pytest

from gptlab.errors import ConfigError
from gptlab.tokenizer import DEFAULT_SPECIAL_TOKENS, TokenizerConfig


def test_defaults() -> None:
    cfg = TokenizerConfig()
    assert cfg.kind == "char"
    assert cfg.unk_policy == "error"
    assert cfg.special_tokens == DEFAULT_SPECIAL_TOKENS == ("<|endoftext|>", "<unk>", "<pad>", "<bos>", "<eos>")


def test_list_of_specials_becomes_tuple() -> None:
    # Hydra passes lists; a frozen config must stay hashable.
    cfg = TokenizerConfig(special_tokens=["<|endoftext|>", "<unk>"])  # type: ignore[arg-type]
    assert cfg.special_tokens == ("<|endoftext|>", "<unk>")
    hash(cfg)


def test_unknown_kind_lists_valid_kinds() -> None:
    with pytest.raises(ConfigError, match="char, bpe"):
        TokenizerConfig(kind="wordpiece")


@pytest.mark.parametrize("bad", [0, -3, True, 2.5, "512"])
def test_vocab_size_must_be_positive_int(bad: object) -> None:
    with pytest.raises(ConfigError, match="vocab_size"):
        TokenizerConfig(vocab_size=bad)  # type: ignore[arg-type]


def test_bpe_vocab_size_must_cover_bytes_and_specials() -> None:
    TokenizerConfig(kind="bpe", vocab_size=261)
    with pytest.raises(ConfigError, match="at least 261"):
        TokenizerConfig(kind="bpe", vocab_size=260)


def test_char_ignores_vocab_size() -> None:
    TokenizerConfig(kind="char", vocab_size=10)


@pytest.mark.parametrize("bad", [0, -1, 1.0])
def test_min_frequency(bad: object) -> None:
    with pytest.raises(ConfigError, match="min_frequency"):
        TokenizerConfig(min_frequency=bad)  # type: ignore[arg-type]


def test_unk_policy_values() -> None:
    TokenizerConfig(unk_policy="replace")
    with pytest.raises(ConfigError, match="error, replace"):
        TokenizerConfig(unk_policy="ignore")


def test_replace_needs_unk_token() -> None:
    with pytest.raises(ConfigError, match="<unk>"):
        TokenizerConfig(unk_policy="replace", special_tokens=("<|endoftext|>",))


@pytest.mark.parametrize("bad", ["<unk>", ("<unk>", ""), ("<a>", "<a>"), ("<a>", 3), None])
def test_special_tokens_validated(bad: object) -> None:
    with pytest.raises(ConfigError, match="special_tokens"):
        TokenizerConfig(special_tokens=bad)  # type: ignore[arg-type]


def test_errors_are_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        TokenizerConfig(kind="bpe", vocab_size=10)
    assert "\n" not in str(info.value)
