"""The url source against a real HTTP server on 127.0.0.1 (see conftest.py)."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest

from gptlab.corpus import CorpusConfig, load_corpus
from gptlab.errors import DataError
from tests.helpers import corpus_config

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n"
SHA = hashlib.sha256(TEXT.encode("utf-8")).hexdigest()
WRONG_SHA = "0" * 64


def url_config(url: str, cache: Path, **kw) -> CorpusConfig:
    return corpus_config(source="url", url=url, cache_dir=str(cache), **kw)


def test_download_verified_then_served_from_cache(http_server, tmp_path: Path) -> None:
    (http_server.root / "input.txt").write_text(TEXT, encoding="utf-8")
    url = http_server.url("input.txt")
    cache = tmp_path / "cache"
    corpus = load_corpus(url_config(url, cache, sha256=SHA), progress=True)
    assert corpus.text == TEXT
    assert corpus.documents == (url,)
    assert corpus.source == url
    assert [p.name for p in cache.iterdir()] == [f"{SHA}-input.txt"]  # no temp file left
    assert http_server.requests == ["/input.txt"]

    again = load_corpus(url_config(url, cache, sha256=SHA), progress=False)
    assert again == corpus
    assert http_server.requests == ["/input.txt"]  # no second request


def test_without_sha256_cache_is_keyed_by_url(http_server, tmp_path: Path) -> None:
    (http_server.root / "input.txt").write_text(TEXT, encoding="utf-8")
    cfg = url_config(http_server.url("input.txt"), tmp_path / "cache")
    assert load_corpus(cfg, progress=False).text == TEXT
    assert load_corpus(cfg, progress=False).text == TEXT
    assert len(http_server.requests) == 1
    (cached,) = (tmp_path / "cache").iterdir()
    assert cached.name.startswith("url-") and cached.name.endswith("-input.txt")


def test_corrupted_cache_entry_is_downloaded_again(http_server, tmp_path: Path) -> None:
    (http_server.root / "input.txt").write_text(TEXT, encoding="utf-8")
    cfg = url_config(http_server.url("input.txt"), tmp_path / "cache", sha256=SHA)
    load_corpus(cfg, progress=False)
    (tmp_path / "cache" / f"{SHA}-input.txt").write_text("tampered", encoding="utf-8")
    assert load_corpus(cfg, progress=False).text == TEXT
    assert len(http_server.requests) == 2


def test_checksum_mismatch_keeps_nothing(http_server, tmp_path: Path) -> None:
    (http_server.root / "input.txt").write_text(TEXT, encoding="utf-8")
    url = http_server.url("input.txt")
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as e:
        load_corpus(url_config(url, cache, sha256=WRONG_SHA), progress=False)
    message = str(e.value)
    assert url in message and WRONG_SHA in message and SHA in message
    assert "not kept" in message
    assert list(cache.iterdir()) == []


def test_http_404_names_url_and_status(http_server, tmp_path: Path) -> None:
    url = http_server.url("missing.txt")
    with pytest.raises(DataError, match="404") as e:
        load_corpus(url_config(url, tmp_path / "cache"), progress=False)
    assert url in str(e.value)
    assert not any((tmp_path / "cache").iterdir())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_port_names_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}/input.txt"
    with pytest.raises(DataError, match="cannot download") as e:
        load_corpus(url_config(url, tmp_path / "cache", timeout_s=5), progress=False)
    assert url in str(e.value)


def test_timeout_names_url_and_limit(tmp_path: Path) -> None:
    # A socket that listens but never answers: the connection opens, the response never comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/input.txt"
        with pytest.raises(DataError, match="timed out after 0.2 s") as e:
            load_corpus(url_config(url, tmp_path / "cache", timeout_s=0.2), progress=False)
    assert url in str(e.value)


def test_malformed_url(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot download not-a-url"):
        load_corpus(url_config("not-a-url", tmp_path / "cache"), progress=False)


def test_local_copy_replaces_download(tmp_path: Path) -> None:
    local = tmp_path / "copy.txt"
    local.write_text(TEXT, encoding="utf-8")
    url = "http://127.0.0.1:9/never-contacted.txt"
    corpus = load_corpus(url_config(url, tmp_path / "cache", sha256=SHA, path=str(local)), progress=False)
    assert corpus.text == TEXT
    assert corpus.documents == (url,)
    assert str(local) in corpus.source
    assert not (tmp_path / "cache").exists()


def test_local_copy_with_wrong_sha256(tmp_path: Path) -> None:
    local = tmp_path / "copy.txt"
    local.write_text(TEXT + "tampered", encoding="utf-8")
    with pytest.raises(DataError, match="expected " + SHA) as e:
        load_corpus(url_config("http://x/input.txt", tmp_path / "c", sha256=SHA, path=str(local)), progress=False)
    assert str(local) in str(e.value)


def test_local_copy_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_corpus(url_config("http://x/input.txt", tmp_path / "c", path=str(tmp_path / "no.txt")), progress=False)


def test_empty_download_is_an_error(http_server, tmp_path: Path) -> None:
    (http_server.root / "empty.txt").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_corpus(url_config(http_server.url("empty.txt"), tmp_path / "cache"), progress=False)
