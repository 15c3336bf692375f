"""The tokenize stage's routine: train a tokenizer on the corpus's training split, streamed."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from gptlab.config import PathsConfig
from gptlab.corpus.prepared import read_corpus_meta
from gptlab.dataset import SplitConfig
from gptlab.errors import DataError
from gptlab.io import atomic_write_json
from gptlab.tokenizer.config import TokenizerConfig

log = logging.getLogger(__name__)

# Characters-per-token is measured on at most this many characters of the corpus, so
# the statistic costs seconds even on a huge corpus.
STATS_SAMPLE_CHARS = 2_000_000
# The training split is read this many characters at a time (memory: a few pieces).
TRAIN_PIECE_CHARS = 1 << 22


def _with_progress(pieces: Iterator[str], total_chars: int) -> Iterator[str]:
    """``pieces`` unchanged, with a bar of the characters handed to the trainer so far."""
    from tqdm.auto import tqdm

    with tqdm(total=total_chars, unit="char", unit_scale=True, desc="tokenize", mininterval=0.5) as bar:
        for piece in pieces:
            yield piece
            bar.update(len(piece))


def tokenize_corpus(paths: PathsConfig, tok_cfg: TokenizerConfig, split: SplitConfig) -> dict:
    """Train (or, for ``kind="pretrained"``, check and copy ``tok_cfg.path``'s tokenizer), save
    ``tokenizer.json`` and ``reports/tokenizer.json``; return the stats."""
    from gptlab.tokenizer.stats import tokenizer_stats

    corpus = read_corpus_meta(paths.corpus_txt, paths.corpus_json)
    if tok_cfg.kind == "pretrained":
        from gptlab.tokenizer.pretrained import copy_pretrained_tokenizer

        log.info("copying the pretrained tokenizer of %s", tok_cfg.path)
        tokenizer = copy_pretrained_tokenizer(tok_cfg.path, paths.tokenizer_json)
    else:
        tokenizer = _train_on_split(paths, tok_cfg, split, corpus)
        tokenizer.save(paths.tokenizer_json)

    with open(paths.corpus_txt, encoding="utf-8") as f:
        sample = f.read(STATS_SAMPLE_CHARS)
    stats = tokenizer_stats(tokenizer, sample)
    atomic_write_json(paths.report("tokenizer.json"), stats)
    log.info("tokenizer: %s", ", ".join(f"{k}={v}" for k, v in stats.items()))
    return stats


def _train_on_split(paths: PathsConfig, tok_cfg: TokenizerConfig, split: SplitConfig, corpus: dict):
    from gptlab.dataset import iter_split_text, split_bounds
    from gptlab.tokenizer.train import train_tokenizer

    # Streamed from the file, twice: once to find any text at all (it stops at the first
    # non-blank piece), once to train. The split is never held in memory whole.
    def train_pieces():
        return iter_split_text(paths.corpus_txt, corpus["characters"], split, "train", TRAIN_PIECE_CHARS)

    if not any(piece.strip() for piece in train_pieces()):
        raise DataError("the training split is empty; use a larger corpus or a larger data.split.train")
    start, end = split_bounds(corpus["characters"], split)["train"]
    log.info("training a %s tokenizer on %s characters", tok_cfg.kind, f"{end - start:,}")
    return train_tokenizer(tok_cfg, _with_progress(train_pieces(), end - start))
