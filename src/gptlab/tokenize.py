"""Stage ``tokenize``: train a tokenizer on the training split of the corpus.

    python -m gptlab.tokenize                                  # characters
    python -m gptlab.tokenize tokenizer=bpe tokenizer.vocab_size=512

Writes ``artifacts/tokenizer/tokenizer.json`` and ``reports/tokenizer.json`` (metrics).
"""

from __future__ import annotations

from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import PathsConfig, to_dataclass


def run(cfg: Any) -> dict:
    from gptlab.dataset import SplitConfig
    from gptlab.tokenizer import TokenizerConfig
    from gptlab.tokenizer.from_corpus import tokenize_corpus

    paths = to_dataclass(PathsConfig, cfg.paths, "paths")
    tok_cfg = to_dataclass(TokenizerConfig, cfg.tokenizer, "tokenizer")
    return tokenize_corpus(paths, tok_cfg, to_dataclass(SplitConfig, cfg.data.split, "data.split"))


def main() -> None:
    hydra_entry(run)


if __name__ == "__main__":
    main()
