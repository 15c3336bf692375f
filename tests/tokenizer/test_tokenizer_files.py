"""Saving and loading: one JSON file, identical behaviour after a round trip, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gptlab.errors import TokenizerError
from gptlab.tokenizer import (
    FORMAT_VERSION,
    Tokenizer,
    load_tokenizer,
    tokenizer_from_json,
    train_tokenizer,
)
from tests.helpers import tokenizer_config

CONFIGS = {
    "char": tokenizer_config("char", unk_policy="replace"),
    "bpe": tokenizer_config("bpe", vocab_size=300),
}


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def tok(request: pytest.FixtureRequest, corpus: str) -> Tokenizer:
    return train_tokenizer(CONFIGS[request.param], corpus)


def _probe(corpus: str) -> list[str]:
    return [corpus, "<|endoftext|> <unk>", "unseen ☃ ǂ", ""]


def test_save_load_round_trip(tok: Tokenizer, corpus: str, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "tokenizer.json"
    tok.save(path)
    # One file, no temporary left behind.
    assert [p.name for p in path.parent.iterdir()] == ["tokenizer.json"]
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["kind"] == tok.kind
    assert data["version"] == FORMAT_VERSION
    assert data["eot_token"] == "<|endoftext|>"

    loaded = load_tokenizer(path)
    assert type(loaded) is type(tok)
    assert (loaded.kind, loaded.vocab_size, loaded.eot_id) == (tok.kind, tok.vocab_size, tok.eot_id)
    assert loaded.special_tokens == tok.special_tokens
    for text in _probe(corpus):
        assert loaded.encode(text) == tok.encode(text)
        assert loaded.decode(loaded.encode(text)) == tok.decode(tok.encode(text))
    assert loaded.encode_array(_probe(corpus)).tolist() == tok.encode_array(_probe(corpus)).tolist()
    assert loaded.to_json() == tok.to_json()


def test_from_json_round_trip(tok: Tokenizer, corpus: str) -> None:
    again = tokenizer_from_json(tok.to_json())
    assert again.encode(corpus) == tok.encode(corpus)


def test_bpe_file_embeds_full_hf_tokenizer(corpus: str) -> None:
    from tokenizers import Tokenizer as HFTokenizer

    tok = train_tokenizer(CONFIGS["bpe"], corpus)
    inner = json.loads(tok.to_json())["tokenizer"]
    hf = HFTokenizer.from_str(json.dumps(inner))
    assert hf.get_vocab_size() == tok.vocab_size
    assert hf.encode("plain words", add_special_tokens=False).ids == tok.encode("plain words")


def test_save_replaces_existing_file(tok: Tokenizer, tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_text("old", encoding="utf-8")
    tok.save(path)
    assert load_tokenizer(path).vocab_size == tok.vocab_size


def _expect_error(path: Path, match: str) -> None:
    with pytest.raises(TokenizerError, match=match) as info:
        load_tokenizer(path)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message


def test_missing_file(tmp_path: Path) -> None:
    _expect_error(tmp_path / "nope.json", "not found")


def test_directory(tmp_path: Path) -> None:
    _expect_error(tmp_path, "directory")


def test_not_json(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text("this is not json", encoding="utf-8")
    _expect_error(path, "not valid JSON")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    _expect_error(path, "UTF-8")


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.9])
def test_truncated(tok: Tokenizer, tmp_path: Path, fraction: float) -> None:
    path = tmp_path / "t.json"
    text = tok.to_json()
    path.write_text(text[: int(len(text) * fraction)], encoding="utf-8")
    _expect_error(path, "not valid JSON")


@pytest.mark.parametrize("payload", ["[1, 2]", '{"kind": "char"}', '"tokenizer"'])
def test_not_a_gptlab_tokenizer(tmp_path: Path, payload: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(payload, encoding="utf-8")
    _expect_error(path, "not a gptlab tokenizer")


def test_wrong_kind(tok: Tokenizer, tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    data = json.loads(tok.to_json())
    data["kind"] = "wordpiece"
    path.write_text(json.dumps(data), encoding="utf-8")
    _expect_error(path, "unknown tokenizer kind 'wordpiece'.*bpe")


def test_newer_version(tok: Tokenizer, tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    data = json.loads(tok.to_json())
    data["version"] = FORMAT_VERSION + 1
    path.write_text(json.dumps(data), encoding="utf-8")
    _expect_error(path, "upgrade gptlab")


def test_missing_fields(tok: Tokenizer, tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    data = json.loads(tok.to_json())
    data.pop("special_tokens")
    path.write_text(json.dumps(data), encoding="utf-8")
    _expect_error(path, "special_tokens")


def test_corrupt_embedded_bpe(corpus: str, tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    data = json.loads(train_tokenizer(CONFIGS["bpe"], corpus).to_json())
    data["tokenizer"]["model"] = {"type": "NoSuchModel"}
    path.write_text(json.dumps(data), encoding="utf-8")
    _expect_error(path, "Hugging Face tokenizer does not load")


def test_corrupt_char_vocab(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    data = json.loads(train_tokenizer(CONFIGS["char"], "abc").to_json())
    data["chars"] = ["b", "a", "ab"]
    path.write_text(json.dumps(data), encoding="utf-8")
    _expect_error(path, "single characters")


def test_char_vocab_with_surrogate_saves(tmp_path: Path) -> None:
    tok = train_tokenizer(tokenizer_config("char"), "a\udc80")
    path = tmp_path / "t.json"
    tok.save(path)
    assert load_tokenizer(path).encode("\udc80a") == tok.encode("\udc80a")


def test_pickle_keeps_behaviour(tok: Tokenizer, corpus: str) -> None:
    # DataLoader workers receive tokenizers by pickling.
    import pickle

    tok.encode("warm")  # builds the char lookup table, which must not break pickling
    copy = pickle.loads(pickle.dumps(tok))
    for text in _probe(corpus):
        assert copy.encode(text) == tok.encode(text)
    ids = copy.encode("<|endoftext|>")
    assert copy.eot_id not in ids
