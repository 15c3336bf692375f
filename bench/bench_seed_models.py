"""The count-based bigram on the tuned comparison's splits: what a bigram model can reach.

Counts of the train split with add-one smoothing, scored on the validation and test splits
in bits/token (bits/char for the character tokenizer). The trained bigram of
``python -m gptlab.baselines experiment=seed_models`` is checked against it in
BENCHMARKS.md ("Seed-course baselines"); the comparison's own table comes from
``gptlab.compare``, not from here.

    python -m gptlab.baselines experiment=seed_models data.path=tinyshakespeare.txt
    python bench/bench_seed_models.py --processed data/seed_models/processed
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np


def bigram_optimum_bits(processed: Path, meta, split: str) -> float:
    """``split``'s bits/token under the add-one-smoothed bigram counted on the train split."""
    from gptlab.dataset.integrity import open_split

    train, held = open_split(processed, meta, "train"), open_split(processed, meta, split)
    V = meta.vocab_size
    counts = np.ones((V, V))
    np.add.at(counts, (train[:-1].astype(np.int64), train[1:].astype(np.int64)), 1)
    logp = np.log(counts / counts.sum(axis=1, keepdims=True))
    return float(-logp[held[:-1].astype(np.int64), held[1:].astype(np.int64)].mean() / math.log(2))


def main() -> None:
    from gptlab.dataset import load_meta

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processed", default="data/seed_models/processed", help="the build stage's output directory")
    args = parser.parse_args()
    processed = Path(args.processed)
    meta = load_meta(processed / "meta.json")
    for split in ("val", "test"):
        print(f"{split}: {bigram_optimum_bits(processed, meta, split):.4f} bits/token (train-split counts, add-one)")


if __name__ == "__main__":
    main()
