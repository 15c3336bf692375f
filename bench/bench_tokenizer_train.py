"""Byte-level BPE training time: gptlab's (``tokenizers``) and ``rustbpe`` side by side.

    python bench/bench_tokenizer_train.py --source FILE --size-mb 100 --vocab-size 2048 32768
    PYTHONPATH=DIR python bench/bench_tokenizer_train.py ...   # DIR: pip install --target DIR rustbpe

Both train on the same text (FILE repeated to ``--size-mb`` MiB, handed over in 1 MiB
pieces) with GPT-2's split, one after the other in this process: wall time and CPU
time (all threads) of each. gptlab's side is ``train_bpe``, what the tokenize stage runs.
``rustbpe`` is not a dependency of gptlab; without it only gptlab's side runs. Its
vocabulary is compared with gptlab's (tokens both have, as bytes): the same kind of BPE
on the same text should learn nearly the same tokens.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.helpers: configs built from conf/, which owns the defaults
MIB = 1 << 20


def pieces(unit: str, size_mb: float) -> list[str]:
    text = (unit * (int(size_mb * MIB) // len(unit.encode("utf-8")) + 1)).encode("utf-8")[: int(size_mb * MIB)]
    text = text.decode("utf-8", errors="ignore")
    return [text[i : i + MIB] for i in range(0, len(text), MIB)]


def timed(train) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = train()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", required=True, help="UTF-8 text file to repeat")
    p.add_argument("--size-mb", type=float, default=100)
    p.add_argument("--vocab-size", type=int, nargs="+", default=[2048, 32768])
    args = p.parse_args()

    from gptlab.tokenizer.bpe import train_bpe
    from gptlab.tokenizer.tiktoken_bpe import BYTE_LEVEL_SPLIT, _byte_symbols
    from tests.helpers import tokenizer_config

    try:
        import rustbpe
    except ImportError:
        rustbpe = None
        print("rustbpe is not importable: gptlab's side only")
    text = pieces(Path(args.source).read_text(encoding="utf-8"), args.size_mb)
    byte_of = {s: b for b, s in _byte_symbols().items()}
    print("| corpus | vocab | trainer | wall (s) | CPU (s) | tokens in common |\n|---:|---:|---|---:|---:|---:|")
    for vocab_size in args.vocab_size:
        wall, cpu, tok = timed(lambda: train_bpe(tokenizer_config("bpe", vocab_size=vocab_size), iter(text)))
        ours = {bytes(byte_of[c] for c in t) for t in tok._tok.get_vocab(with_added_tokens=False)}
        print(f"| {args.size_mb:,.0f} MiB | {vocab_size:,} | tokenizers (gptlab) | {wall:.1f} | {cpu:.1f} | |", flush=True)
        if rustbpe is not None:
            rb = rustbpe.Tokenizer()
            wall, cpu, _ = timed(lambda: rb.train_from_iterator(iter(text), vocab_size, pattern=BYTE_LEVEL_SPLIT))
            theirs = {token for token, _ in rb.get_mergeable_ranks()}
            common = f"{len(ours & theirs):,} of {len(theirs):,}"
            print(f"| {args.size_mb:,.0f} MiB | {vocab_size:,} | rustbpe | {wall:.1f} | {cpu:.1f} | {common} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
