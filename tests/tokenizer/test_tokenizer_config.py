from __future__ import annotations

import pytest

from gptlab.errors import ConfigError
from gptlab.tokenizer import DEFAULT_SPECIAL_TOKENS
from tests.helpers import tokenizer_config


def test_special_tokens_default_where_conf_sets_none() -> None:
    # conf/tokenizer/*.yaml owns the other defaults; special_tokens is the dataclass's own.
    cfg = tokenizer_config("char")
    assert cfg.kind == "char"
    assert cfg.special_tokens == DEFAULT_SPECIAL_TOKENS == ("<|endoftext|>", "<unk>", "<pad>", "<bos>", "<eos>")


def test_list_of_specials_becomes_tuple() -> None:
    # Hydra passes lists; a frozen config must stay hashable.
    cfg = tokenizer_config("char", special_tokens=["<|endoftext|>", "<unk>"])  # type: ignore[arg-type]
    assert cfg.special_tokens == ("<|endoftext|>", "<unk>")
    hash(cfg)


def test_unknown_kind_lists_valid_kinds() -> None:
    with pytest.raises(ConfigError, match="char, bpe"):
        tokenizer_config("char", kind="wordpiece")


@pytest.mark.parametrize("bad", [0, -3, True, 2.5, "5l2"])
def test_vocab_size_must_be_positive_int(bad: object) -> None:
    with pytest.raises(ConfigError, match="vocab_size"):
        tokenizer_config("char", vocab_size=bad)  # type: ignore[arg-type]


def test_bpe_vocab_size_must_cover_bytes_and_specials() -> None:
    tokenizer_config("bpe", vocab_size=261)
    with pytest.raises(ConfigError, match="at least 261"):
        tokenizer_config("bpe", vocab_size=260)


def test_char_ignores_vocab_size() -> None:
    # A vocab_size smaller than the text's characters (and than BPE's floor) is accepted for
    # kind=char, and the vocabulary is the text's characters whatever vocab_size says.
    from gptlab.tokenizer import train_tokenizer

    text = "abcdefghijklmnopqrstuvwxyz ROMEO, JULIET!"
    small = train_tokenizer(tokenizer_config("char", vocab_size=10), text)
    large = train_tokenizer(tokenizer_config("char", vocab_size=512), text)
    assert small.vocab_size == large.vocab_size == len(DEFAULT_SPECIAL_TOKENS) + len(set(text))


@pytest.mark.parametrize("bad", [0, -1, 1.0])
def test_min_frequency(bad: object) -> None:
    with pytest.raises(ConfigError, match="min_frequency"):
        tokenizer_config("char", min_frequency=bad)  # type: ignore[arg-type]


def test_unk_policy_values() -> None:
    tokenizer_config("char", unk_policy="replace")
    tokenizer_config("char", unk_policy="error")
    with pytest.raises(ConfigError, match="error, replace"):
        tokenizer_config("char", unk_policy="ignore")


def test_replace_needs_unk_token() -> None:
    with pytest.raises(ConfigError, match="<unk>"):
        tokenizer_config("char", unk_policy="replace", special_tokens=("<|endoftext|>",))


def test_a_bare_string_is_one_special_token() -> None:
    # Not one "special token" per character.
    assert tokenizer_config("char", special_tokens="<unk>").special_tokens == ("<unk>",)


@pytest.mark.parametrize("bad", [("<unk>", ""), ("<a>", "<a>"), ("<unk>", {"a": 3}), None, 3])
def test_special_tokens_validated(bad: object) -> None:
    with pytest.raises(ConfigError, match="special_tokens"):
        tokenizer_config("char", special_tokens=bad)  # type: ignore[arg-type]


def test_errors_are_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        tokenizer_config("bpe", vocab_size=10)
    assert "\n" not in str(info.value)
