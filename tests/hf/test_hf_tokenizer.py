"""Exported tokenizers: AutoTokenizer encodes and decodes exactly as gptlab does."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from gptlab.hf.tokenizer import tokenizer_files
from gptlab.tokenizer import Tokenizer
from gptlab.tokenizer.char import CharTokenizer
from gptlab.tokenizer.pretrained import load_pretrained_tokenizer, tokenizer_from_hf_json
from tests.hf.conftest import CORPUS, UNSEEN


def _auto(tokenizer: Tokenizer, out: Path):
    from transformers import AutoTokenizer

    out.mkdir()
    for name, text in tokenizer_files(tokenizer, context_size=64).items():
        (out / name).write_text(text, encoding="utf-8")
    return AutoTokenizer.from_pretrained(out)


@pytest.fixture(params=["char", "bpe"])
def tokenizer(request, char_tokenizer, bpe_tokenizer) -> Tokenizer:
    return char_tokenizer if request.param == "char" else bpe_tokenizer


@pytest.mark.parametrize("text", [CORPUS, UNSEEN, "", "\n\n  ROMEO:  \t", "<pad><bos> <|endoftext|>"])
def test_encode_and_decode_match_gptlab(tokenizer, tmp_path, text):
    hf = _auto(tokenizer, tmp_path / "tok")
    ids = tokenizer.encode(text)
    assert hf.encode(text, add_special_tokens=True) == ids  # nothing added around the text
    assert hf.decode(ids) == tokenizer.decode(ids)


def test_special_ids_decode_to_their_text_and_keep_their_roles(tokenizer, tmp_path):
    hf = _auto(tokenizer, tmp_path / "tok")
    specials = tokenizer.special_tokens
    assert hf.eos_token == hf.bos_token == "<|endoftext|>" and hf.eos_token_id == tokenizer.eot_id
    assert hf.pad_token_id == specials["<pad>"] and hf.unk_token_id == specials["<unk>"]
    ids = [specials["<|endoftext|>"], specials["<bos>"], *tokenizer.encode("ab"), specials["<pad>"]]
    assert hf.decode(ids) == tokenizer.decode(ids)
    assert set(hf.all_special_ids) >= {specials["<|endoftext|>"], specials["<pad>"], specials["<unk>"]}


def test_char_unseen_characters_become_unk_which_decodes_to_the_replacement_character(char_tokenizer, tmp_path):
    assert char_tokenizer.unk_policy == "replace"
    hf = _auto(char_tokenizer, tmp_path / "tok")
    ids = hf.encode("Z日")
    assert ids == [char_tokenizer.special_tokens["<unk>"]] * 2
    assert hf.decode(ids) == "\ufffd\ufffd" == char_tokenizer.decode(ids)


def test_char_with_unk_policy_error_exports_as_replace(char_tokenizer, tmp_path):
    # gptlab refuses unseen characters; a Hugging Face tokenizer cannot raise, so it gives <unk>.
    strict = CharTokenizer(char_tokenizer.chars, list(char_tokenizer.special_tokens), "error")
    hf = _auto(strict, tmp_path / "tok")
    assert hf.encode(CORPUS) == strict.encode(CORPUS)
    assert hf.encode("Z") == [strict.special_tokens["<unk>"]]


def test_char_without_unk_warns_that_unseen_characters_are_dropped(caplog):
    caplog.set_level(logging.WARNING)
    tokenizer = CharTokenizer(list("ab"), ["<|endoftext|>"], "error")
    data = json.loads(tokenizer_files(tokenizer, 8)["tokenizer.json"])
    assert data["model"]["unk_token"] is None
    assert "drops characters" in caplog.text


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_exported_tokenizer_imports_back_to_the_same_tokenizer(kind, char_tokenizer, bpe_tokenizer, tmp_path):
    tokenizer = char_tokenizer if kind == "char" else bpe_tokenizer
    files = tokenizer_files(tokenizer, 64)
    back = tokenizer_from_hf_json(json.loads(files["tokenizer.json"]))
    assert back.kind == kind and back.special_tokens == tokenizer.special_tokens
    assert back.encode(CORPUS + UNSEEN) == tokenizer.encode(CORPUS + UNSEEN)
    assert tokenizer_files(back, 64) == files


def test_a_gpt2_style_tokenizer_imports_as_byte_level_bpe(tmp_path):
    from tests.hf.conftest import hf_bpe_tokenizer

    hf = hf_bpe_tokenizer()
    hf.save_pretrained(tmp_path)
    ours = load_pretrained_tokenizer(tmp_path)
    assert ours.kind == "bpe" and ours.vocab_size == len(hf)
    assert ours.eot_id == hf.convert_tokens_to_ids("<|endoftext|>") == ours.vocab_size - 1
    text = CORPUS + UNSEEN
    # gptlab never turns special-token text in the input into a special id (Hugging Face's
    # split_special_tokens=True); GPT-2's own tokenizer does by default.
    assert ours.encode(text) == hf.encode(text, split_special_tokens=True)
    assert ours.encode(CORPUS) == hf.encode(CORPUS)
    assert ours.decode(ours.encode(text)) == text


def test_tokenizers_that_would_not_give_the_text_back_are_refused():
    from gptlab.errors import TokenizerError

    with pytest.raises(TokenizerError, match="'WordPiece'"):
        tokenizer_from_hf_json({"model": {"type": "WordPiece", "vocab": {}}})
    with pytest.raises(TokenizerError, match="normalizer"):
        tokenizer_from_hf_json({"model": {"type": "BPE"}, "normalizer": {"type": "Lowercase"}})


def test_tokenize_copies_a_gptlab_model_directorys_tokenizer_as_is(make_model_dir, char_tokenizer, tmp_path):
    from gptlab.tokenizer.pretrained import copy_pretrained_tokenizer

    model_dir = make_model_dir(char_tokenizer)
    copy_pretrained_tokenizer(model_dir, tmp_path / "copy.json")
    assert (tmp_path / "copy.json").read_bytes() == (model_dir / "tokenizer.json").read_bytes()


def test_pretrained_tokenizer_must_match_its_models_vocabulary(hf_gpt2_dir, tmp_path):
    from gptlab.errors import TokenizerError
    from gptlab.tokenizer.pretrained import copy_pretrained_tokenizer

    config = json.loads((hf_gpt2_dir / "config.json").read_text())
    (hf_gpt2_dir / "config.json").write_text(json.dumps({**config, "vocab_size": 512}))
    with pytest.raises(TokenizerError, match="has 300 tokens but the model in .* has a vocabulary of 512"):
        copy_pretrained_tokenizer(hf_gpt2_dir, tmp_path / "copy.json")
    assert not (tmp_path / "copy.json").exists()


def test_pretrained_tokenizer_path_is_required_and_must_exist(tmp_path):
    from gptlab.errors import ConfigError, TokenizerError
    from tests.helpers import tokenizer_config

    with pytest.raises(ConfigError, match="tokenizer=pretrained needs tokenizer.path"):
        tokenizer_config("pretrained")
    assert tokenizer_config("pretrained", path="x").path == "x"
    with pytest.raises(TokenizerError, match="pretrained tokenizer not found: .*nope"):
        load_pretrained_tokenizer(tmp_path / "nope")
    with pytest.raises(TokenizerError, match="has no tokenizer.json"):
        load_pretrained_tokenizer(tmp_path)
