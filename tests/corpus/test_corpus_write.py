from __future__ import annotations

import json
from pathlib import Path

import pytest

import gptlab.corpus.write as write_module
from gptlab.corpus import Corpus, write_corpus
from gptlab.io.hashing import sha256_file

CORPUS = Corpus(text="ROMEO:\nBut soft! what light \u2014 it is the east.\n", documents=("a.txt", "b.txt"), source="here")


def test_writes_text_and_meta(tmp_path: Path) -> None:
    text_path, meta_path = tmp_path / "out" / "corpus.txt", tmp_path / "out" / "corpus.json"
    meta = write_corpus(CORPUS, text_path, meta_path)
    assert text_path.read_bytes() == CORPUS.text.encode("utf-8")
    assert json.loads(meta_path.read_text(encoding="utf-8")) == meta
    assert meta == {
        "source": "here",
        "sha256": sha256_file(text_path),
        "characters": len(CORPUS.text),
        "bytes": len(CORPUS.text.encode("utf-8")),
        "documents": ["a.txt", "b.txt"],
        "num_documents": 2,
    }
    assert meta["bytes"] == meta["characters"] + 2  # the em dash is 3 bytes in UTF-8
    assert sorted(p.name for p in text_path.parent.iterdir()) == ["corpus.json", "corpus.txt"]


def test_failure_mid_write_leaves_no_partial_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(path):
        raise OSError("disk full")

    monkeypatch.setattr(write_module, "sha256_file", boom)  # fails after the text is written
    with pytest.raises(OSError, match="disk full"):
        write_corpus(CORPUS, tmp_path / "corpus.txt", tmp_path / "corpus.json")
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_previous_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text_path, meta_path = tmp_path / "corpus.txt", tmp_path / "corpus.json"
    write_corpus(CORPUS, text_path, meta_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def boom(path):
        raise OSError("disk full")

    monkeypatch.setattr(write_module, "sha256_file", boom)
    with pytest.raises(OSError):
        write_corpus(Corpus(text="other\n", documents=(), source="x"), text_path, meta_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
