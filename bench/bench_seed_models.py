"""The seed-course comparison's figures, from a finished ``experiment=seed_models`` sweep.

For each job of the sweep directory: the model's kind and parameters, its training
tokens/s (``reports/train.json``), whole-split validation bits/char (``reports/metrics.json``,
written by the sweep job), and its validation loss by position in the context window
(:mod:`gptlab.evaluation.position_loss`), written as ``<out>/loss_by_position.csv`` (mean
nats per position, a column per model) and printed as a Markdown table in bits/char.
The count-based bigram (train-split counts, add-one smoothing) is printed as the exact
optimum a bigram model can reach.

    python -m gptlab.train experiment=seed_models data.path=tinyshakespeare.txt trainer.max_steps=1000
    python bench/bench_seed_models.py --sweep multirun/train/<time> --out reports/seed_models
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

POSITIONS = (0, 1, 2, 3, 7, 15, 31, 63)


def bigram_optimum_bits(processed: Path, meta) -> float:
    """Validation bits/token of the add-one-smoothed bigram counted on the train split."""
    from gptlab.dataset.integrity import open_split

    train, val = open_split(processed, meta, "train"), open_split(processed, meta, "val")
    V = meta.vocab_size
    counts = np.ones((V, V))
    np.add.at(counts, (train[:-1].astype(np.int64), train[1:].astype(np.int64)), 1)
    logp = np.log(counts / counts.sum(axis=1, keepdims=True))
    return float(-logp[val[:-1].astype(np.int64), val[1:].astype(np.int64)].mean() / math.log(2))


def main() -> None:
    import torch

    from gptlab.checkpoint import load_model_dir
    from gptlab.dataset import load_meta
    from gptlab.dataset.integrity import open_split
    from gptlab.evaluation.position_loss import loss_by_position, write_position_losses

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", required=True, help="the sweep directory (multirun/train/<time>)")
    parser.add_argument("--processed", default="data/processed", help="the build stage's output directory")
    parser.add_argument("--out", default="reports/seed_models")
    args = parser.parse_args()
    torch.set_num_threads(1)

    processed = Path(args.processed)
    meta = load_meta(processed / "meta.json")
    val = open_split(processed, meta, "val")
    rows, losses = [], {}
    for job in sorted((p for p in Path(args.sweep).iterdir() if (p / "model").is_dir()), key=lambda p: int(p.name)):
        loaded = load_model_dir(job / "model")
        kind = loaded.model.config.kind
        train = json.loads((job / "reports/train.json").read_text())
        metrics = json.loads((job / "reports/metrics.json").read_text())["val"]
        losses[kind] = loss_by_position(loaded.model, val, batch_size=64)
        rows.append((kind, train["params"], train["steps"], train["tokens_seen"], train["tokens_per_s"], metrics["bits_per_char"]))
    out = write_position_losses(Path(args.out) / "loss_by_position.csv", losses)

    print("| model | parameters | steps | tokens | training tokens/s | val bits/char (whole split) |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, params, steps, seen, tps, bpc in sorted(rows, key=lambda r: r[-1]):
        print(f"| {kind} | {params:,} | {steps:,} | {seen:,} | {tps:,.0f} | {bpc:.3f} |")
    print(f"\nbigram optimum (train-split counts, add-one): {bigram_optimum_bits(processed, meta):.3f} bits/char\n")
    kinds = sorted(losses, key=lambda k: sum(losses[k].loss))
    print("| position (tokens of context - 1) | " + " | ".join(kinds) + " |")
    print("|---:|" + "---:|" * len(kinds))
    for p in POSITIONS:
        if p < len(losses[kinds[0]].loss):
            print(f"| {p} | " + " | ".join(f"{losses[k].loss[p] / math.log(2):.3f}" for k in kinds) + " |")
    print(f"\n({losses[kinds[0]].windows:,} windows per position; nats per position in {out})")


if __name__ == "__main__":
    main()
