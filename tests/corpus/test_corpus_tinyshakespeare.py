"""The tiny-shakespeare preset, offline: only where a local copy exists (never in a fresh clone)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gptlab.corpus import CorpusConfig, load_corpus

LOCAL_COPY = Path("/work/shared/data/tinyshakespeare.txt")
URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


@pytest.mark.skipif(not LOCAL_COPY.is_file(), reason=f"no local copy at {LOCAL_COPY}")
def test_tinyshakespeare_local_copy(tmp_path: Path) -> None:
    cfg = CorpusConfig(source="url", url=URL, sha256=SHA256, path=str(LOCAL_COPY), cache_dir=str(tmp_path))
    corpus = load_corpus(cfg, progress=False)
    assert len(corpus.text) == 1_115_394
    assert corpus.text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.")
