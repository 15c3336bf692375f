"""Stage ``tokenize``: train a tokenizer on the training split of the corpus.

    python -m gptlab.tokenize                                  # characters
    python -m gptlab.tokenize tokenizer=bpe tokenizer.vocab_size=512

Writes ``artifacts/tokenizer/tokenizer.json`` and ``reports/tokenizer.json`` (metrics).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import PathsConfig, to_dataclass
from gptlab.errors import DataError
from gptlab.io import atomic_write_json

log = logging.getLogger("gptlab.tokenize")

# Characters-per-token is measured on at most this many characters of the corpus, so
# the statistic costs seconds even on a huge corpus.
STATS_SAMPLE_CHARS = 2_000_000
# The training split is read this many characters at a time (memory: a few pieces).
TRAIN_PIECE_CHARS = 1 << 22


def read_corpus_meta(paths: PathsConfig) -> dict:
    path = paths.corpus_json
    if not path.is_file() or not paths.corpus_txt.is_file():
        raise DataError(f"corpus not found in {paths.raw_dir} (run the prepare stage first: dvc repro prepare)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is malformed ({exc}); rerun the prepare stage") from None


def split_config(cfg: Any):
    from gptlab.dataset import SplitConfig

    return to_dataclass(SplitConfig, cfg.data.split, "data.split")


def _with_progress(pieces: Iterator[str], total_chars: int) -> Iterator[str]:
    """``pieces`` unchanged, with a bar of the characters handed to the trainer so far."""
    from tqdm.auto import tqdm

    with tqdm(total=total_chars, unit="char", unit_scale=True, desc="tokenize", mininterval=0.5) as bar:
        for piece in pieces:
            yield piece
            bar.update(len(piece))


def run(cfg: Any) -> dict:
    from gptlab.dataset import iter_split_text, split_bounds
    from gptlab.tokenizer import TokenizerConfig, tokenizer_stats, train_tokenizer

    paths = to_dataclass(PathsConfig, cfg.paths, "paths")
    tok_cfg = to_dataclass(TokenizerConfig, cfg.tokenizer, "tokenizer")
    split = split_config(cfg)
    corpus = read_corpus_meta(paths)

    # Streamed from the file, twice: once to find any text at all (it stops at the first
    # non-blank piece), once to train. The split is never held in memory whole.
    def train_pieces():
        return iter_split_text(paths.corpus_txt, corpus["characters"], split, "train", TRAIN_PIECE_CHARS)

    if not any(piece.strip() for piece in train_pieces()):
        raise DataError("the training split is empty; use a larger corpus or a larger data.split.train")
    start, end = split_bounds(corpus["characters"], split)["train"]
    log.info("training a %s tokenizer on %s characters", tok_cfg.kind, f"{end - start:,}")
    tokenizer = train_tokenizer(tok_cfg, _with_progress(train_pieces(), end - start))
    tokenizer.save(paths.tokenizer_json)

    with open(paths.corpus_txt, encoding="utf-8") as f:
        sample = f.read(STATS_SAMPLE_CHARS)
    stats = tokenizer_stats(tokenizer, sample)
    atomic_write_json(paths.report("tokenizer.json"), stats)
    log.info("tokenizer: %s", ", ".join(f"{k}={v}" for k, v in stats.items()))
    return stats


def main() -> None:
    hydra_entry(run)


if __name__ == "__main__":
    main()
