"""Stage ``prepare``: the raw corpus -> ``data/raw/corpus.txt`` + ``corpus.json``.

    python -m gptlab.prepare                       # the embedded Shakespeare plays
    python -m gptlab.prepare data=file data.path=notes/*.txt
    python -m gptlab.prepare data=tinyshakespeare  # downloads once, checks sha256
"""

from __future__ import annotations

import logging
from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import PathsConfig, to_dataclass
from gptlab.config.sections import plain

# Named, not __name__: under `python -m` this module is __main__.
log = logging.getLogger("gptlab.prepare")


def corpus_config(cfg: Any):
    from gptlab.corpus import CorpusConfig

    data = {k: v for k, v in plain(cfg.data).items() if k != "split"}  # "???" stays for to_dataclass to name
    return to_dataclass(CorpusConfig, data, "data")


def run(cfg: Any) -> dict:
    from gptlab.corpus import load_corpus, write_corpus

    paths = to_dataclass(PathsConfig, cfg.paths, "paths")
    corpus = load_corpus(corpus_config(cfg), progress=True)
    meta = write_corpus(corpus, paths.corpus_txt, paths.corpus_json)
    log.info(
        "corpus: %s characters from %s -> %s", f"{meta['characters']:,}", meta["source"], paths.corpus_txt
    )
    return meta


def main() -> None:
    hydra_entry(run)


if __name__ == "__main__":
    main()
