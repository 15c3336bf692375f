from __future__ import annotations

from pathlib import Path

import pytest

from gptlab.corpus import load_corpus
from gptlab.errors import DataError
from tests.helpers import corpus_config


def load(path: Path | str):
    return load_corpus(corpus_config("file", path=str(path)), progress=False)


def test_single_file_is_read_verbatim(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("First Citizen:\nBefore we proceed.\n", encoding="utf-8")
    corpus = load(f)
    assert corpus.text == "First Citizen:\nBefore we proceed.\n"
    assert corpus.documents == (str(f),)
    assert corpus.source == str(f)


def test_glob_reads_files_sorted_and_joined(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("bee\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("ay", encoding="utf-8")  # no final newline
    (tmp_path / "c.txt").write_text("sea", encoding="utf-8")
    (tmp_path / "skip.md").write_text("not matched", encoding="utf-8")
    corpus = load(tmp_path / "*.txt")
    assert corpus.documents == tuple(str(tmp_path / n) for n in ("a.txt", "b.txt", "c.txt"))
    assert corpus.text == "ay\nbee\nsea"


def test_recursive_glob_skips_directories(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.txt").write_text("x\n", encoding="utf-8")
    (tmp_path / "dir.txt").mkdir()  # a directory that matches the pattern
    assert load(tmp_path / "**" / "*.txt").text == "x\n"


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(DataError, match="not found") as e:
        load(missing)
    assert str(missing) in str(e.value)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a directory"):
        load(tmp_path)


def test_glob_without_match_names_the_pattern(tmp_path: Path) -> None:
    pattern = str(tmp_path / "*.txt")
    with pytest.raises(DataError, match="matched no files") as e:
        load(pattern)
    assert pattern in str(e.value)


def test_non_utf8_names_file_and_byte_offset(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("fine\n", encoding="utf-8")
    bad = tmp_path / "b.txt"
    bad.write_bytes("caf\u00e9 ".encode("utf-8") + b"na\xefve\xff")  # 0xef starts a bad sequence
    with pytest.raises(DataError) as e:
        load(tmp_path / "*.txt")
    message = str(e.value)
    assert str(bad) in message
    assert "byte offset 8" in message
    assert "0xef" in message
    assert "\n" not in message


@pytest.mark.parametrize("content", ["", " \n\t\n"])
def test_empty_or_whitespace_file_is_an_error(tmp_path: Path, content: str) -> None:
    f = tmp_path / "empty.txt"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        load(f)


def test_bom_is_stripped_and_crlf_normalised(tmp_path: Path) -> None:
    f = tmp_path / "win.txt"
    f.write_bytes(b"\xef\xbb\xbfROMEO:\r\nBut soft!\r\n")
    assert load(f).text == "ROMEO:\nBut soft!\n"
