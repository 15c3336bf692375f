"""The tiny-shakespeare preset, offline: only where a local copy exists (never in a fresh clone)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gptlab.corpus import load_corpus
from tests.helpers import corpus_config

LOCAL_COPY = Path("/work/shared/data/tinyshakespeare.txt")


@pytest.mark.skipif(not LOCAL_COPY.is_file(), reason=f"no local copy at {LOCAL_COPY}")
def test_tinyshakespeare_local_copy(tmp_path: Path) -> None:
    # conf/data/tinyshakespeare.yaml's url and sha256, with the local copy instead of a download.
    cfg = corpus_config("tinyshakespeare", path=str(LOCAL_COPY), cache_dir=str(tmp_path))
    corpus = load_corpus(cfg, progress=False)
    assert len(corpus.text) == 1_115_394
    assert corpus.text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.")
