"""Generation speed with and without the KV cache, against a memory-bandwidth bound.

Builds a randomly initialised GPT (no checkpoint needed), generates ``--new-tokens``
tokens greedily at batch 1 through ``gptlab.generation.greedy_decode`` -- the same loop
``generate`` uses -- with ``IncrementalLM(use_cache=True)`` and ``use_cache=False`` for
each window policy (``--windows``, default both), and prints tokens/s for each: end to
end (wall clock, decode loop included) and per phase of model calls:

* in context: the history still fits in ``context_size``, so the cache turns each step
  into one token's work (rate from the median call; the two policies run the same code
  here);
* past context (rate from the mean call, so chunked's re-prefills are paid for):
  with ``window="exact"`` the window slides and ``IncrementalLM`` runs a full forward
  over it per step with or without the cache (every cached key/value was computed with
  a left context that is now gone; see ``gptlab/model/incremental.py``), so the two
  modes cost the same there by design; with ``window="chunked"`` the window is cut to
  its last half when full and the cache re-filled from it once, so most steps stay one
  token's work -- at the price of a shorter window (between half and all of the
  context). Its no-cache baseline recomputes that same, shorter, window each step.

Decoding one token with the cache is memory-bound at batch 1: it must read every weight
and the cached keys/values once, and does ~2 FLOPs per weight read. The bound printed is
``bandwidth / bytes read per token``, with the bandwidth measured here by timing a large
tensor copy (``dst.copy_(src)`` reads and writes each byte once).

    python bench/bench_generate.py                 # 6 layers x 384, context 256, vocab 65
    python bench/bench_generate.py --device cuda --dtype bfloat16 --n-layer 12 --n-embd 768
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.helpers: configs from conf/


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-layer", type=int, default=6)
    p.add_argument("--n-head", type=int, default=6)
    p.add_argument("--n-embd", type=int, default=384)
    p.add_argument("--context-size", type=int, default=256)
    p.add_argument("--vocab-size", type=int, default=65, help="65 = the char-level Shakespeare vocabulary")
    p.add_argument("--pos-encoding", default="learned", choices=["learned", "sinusoidal", "rope"])
    p.add_argument("--new-tokens", type=int, default=500)
    p.add_argument("--prompt-tokens", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2, help="runs per mode; the fastest is reported")
    p.add_argument(
        "--windows",
        nargs="+",
        default=["exact", "chunked"],
        choices=["exact", "chunked"],
        help="IncrementalLM window policies to measure",
    )
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice); 1 gives steadier figures on a busy machine",
    )
    p.add_argument("--copy-mib", type=int, default=512, help="size of the tensor copied to measure bandwidth")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


# ------------------------------------------------------------------ timing


def synchronizer(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


class TimedLM:
    """Wraps an IncrementalLM and records the seconds of every call that returns logits."""

    def __init__(self, lm, sync: Callable[[], None]) -> None:
        self.lm = lm
        self.sync = sync
        self.context_size = lm.context_size
        self.vocab_size = lm.vocab_size
        self.seconds: list[float] = []  # seconds[i] = the call giving the logits of new token i+1

    def _timed(self, fn, arg):
        self.sync()
        t0 = time.perf_counter()
        out = fn(arg)
        self.sync()
        self.seconds.append(time.perf_counter() - t0)
        return out

    def prefill(self, tokens: torch.Tensor) -> torch.Tensor:
        return self._timed(self.lm.prefill, tokens)

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        return self._timed(self.lm.step, tokens)

    def reorder(self, index: torch.Tensor) -> None:
        self.lm.reorder(index)


@dataclass
class Run:
    total_s: float  # wall time of the whole generation, decode loop included
    call_s: list[float]  # model time per new token
    tokens: list[int]  # what was generated


Mode = tuple[str, bool]  # (window policy, use_cache)


def generate_once(model, prompt: torch.Tensor, new_tokens: int, mode: Mode, sync) -> Run:
    from gptlab.generation import greedy_decode
    from gptlab.model import IncrementalLM

    window, use_cache = mode
    lm = TimedLM(IncrementalLM(model, use_cache=use_cache, window=window), sync)
    sync()
    t0 = time.perf_counter()
    (seq,) = greedy_decode(lm, prompt, max_new_tokens=new_tokens)
    sync()
    total = time.perf_counter() - t0
    assert len(seq.tokens) == new_tokens, "no end-of-text id is set, so every run is full length"
    return Run(total, lm.seconds, list(seq.tokens))


def best_runs(model, prompt, new_tokens: int, repeats: int, windows: list[str], sync) -> dict[Mode, Run]:
    """The fastest of ``repeats`` runs per (window, use_cache) mode.

    The modes alternate run by run, so a slow spell on a shared machine hits all of
    them rather than deciding a speedup.
    """
    runs: dict[Mode, list[Run]] = {(w, c): [] for w in windows for c in (False, True)}
    for mode in runs:
        generate_once(model, prompt, min(new_tokens, 16), mode, sync)  # warm-up: allocator, threads
    for _ in range(repeats):
        for mode in runs:
            runs[mode].append(generate_once(model, prompt, new_tokens, mode, sync))
    return {mode: min(rs, key=lambda r: r.total_s) for mode, rs in runs.items()}


def copy_bandwidth(device: torch.device, mib: int, sync) -> float:
    """Bytes per second moved by a large device-to-same-device copy (read + write)."""
    n = mib * 2**20 // 4
    src = torch.ones(n, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    times = []
    for _ in range(6):
        sync()
        t0 = time.perf_counter()
        dst.copy_(src)
        sync()
        times.append(time.perf_counter() - t0)
    return 2 * n * 4 / min(times[1:])  # the first copy pays for page faults


# ------------------------------------------------------------------ report


def rate(tokens: int, seconds: float) -> float:
    return tokens / seconds if seconds > 0 else float("nan")


def phase_rate(call_seconds: list[float]) -> float:
    # Median rather than mean call time: on a shared machine another process's burst
    # can stall a few calls, and those should not decide the figure.
    return 1.0 / statistics.median(call_seconds)


def amortised_rate(call_seconds: list[float]) -> float:
    # Mean call time: calls past the context are not all alike with window="chunked"
    # (a re-prefill now and then, one-token steps in between), and the median would
    # leave the re-prefills out.
    return len(call_seconds) / sum(call_seconds)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from gptlab.model import GPT
    from tests.helpers import model_config

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    sync = synchronizer(device)
    torch.manual_seed(args.seed)
    # The rest of the architecture (bias, norm, ...) is conf/model/gpt_mini.yaml's.
    config = model_config(
        "gpt_mini",
        vocab_size=args.vocab_size,
        context_size=args.context_size,
        n_layer=args.n_layer,
        n_head=args.n_head,
        n_embd=args.n_embd,
        pos_encoding=args.pos_encoding,
    )
    model = GPT(config).to(device=device, dtype=dtype).eval()
    prompt = torch.randint(0, args.vocab_size, (args.prompt_tokens,), device=device)  # (T,)

    runs = best_runs(model, prompt, args.new_tokens, args.repeats, args.windows, sync)

    # New token i (1-based) comes from call i-1; call j >= 1 sees a window of
    # prompt + j tokens, which fits the context (cache usable) while <= context_size.
    n_in = min(args.new_tokens, args.context_size - args.prompt_tokens + 1)
    phases = [
        ("in context (model calls, median)", slice(0, n_in), phase_rate),
        ("past context (model calls, mean)", slice(n_in, args.new_tokens), amortised_rate),
    ]

    bytes_per_elem = torch.finfo(dtype).bits // 8
    weight_bytes = sum(p.numel() for p in model.parameters()) * bytes_per_elem
    # Average keys+values read per cached step: 2 tensors x n_layer x window x n_embd.
    mean_window = statistics.fmean(range(args.prompt_tokens, args.prompt_tokens + n_in))
    kv_bytes = 2 * args.n_layer * mean_window * args.n_embd * bytes_per_elem
    bandwidth = copy_bandwidth(device, args.copy_mib, sync)
    bound = bandwidth / (weight_bytes + kv_bytes)

    threads = f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""
    print(
        f"GPT {args.n_layer} layers x {args.n_embd} wide, {args.n_head} heads, context {args.context_size}, "
        f"vocab {args.vocab_size}, {args.pos_encoding} positions, {args.dtype} on {device}{threads}"
    )
    print(
        f"batch 1, prompt {args.prompt_tokens} token(s), {args.new_tokens} new tokens (greedy), "
        f"best of {args.repeats}; {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters"
    )
    print()
    baseline = runs.get(("exact", False))
    extra = " | KV cache vs exact no cache |" if baseline is not None and "chunked" in args.windows else " |"
    print(f"| window | phase | new tokens | no cache (tok/s) | KV cache (tok/s) | speedup{extra}")
    print("|---|---|---:|---:|---:|---:|" + ("---:|" if extra != " |" else ""))
    for window in args.windows:
        slow_run, fast_run = runs[(window, False)], runs[(window, True)]
        for name, sl, rate_of in phases:
            n = len(range(args.new_tokens)[sl])
            if n == 0:
                continue
            slow, fast = rate_of(slow_run.call_s[sl]), rate_of(fast_run.call_s[sl])
            cell = ""
            if extra != " |":
                assert baseline is not None
                cell = f" {fast / rate_of(baseline.call_s[sl]):.2f}x |"
            print(f"| {window} | {name} | {n} | {slow:,.1f} | {fast:,.1f} | {fast / slow:.2f}x |{cell}")
        slow = rate(args.new_tokens, slow_run.total_s)
        fast = rate(args.new_tokens, fast_run.total_s)
        cell = ""
        if extra != " |":
            assert baseline is not None
            cell = f" **{fast / rate(args.new_tokens, baseline.total_s):.2f}x** |"
        print(
            f"| {window} | **all, end to end (wall)** | {args.new_tokens} | {slow:,.1f} | {fast:,.1f} "
            f"| **{fast / slow:.2f}x** |{cell}"
        )
    print()
    same = ", ".join(
        f"{w}: {'yes' if runs[(w, False)].tokens == runs[(w, True)].tokens else 'NO'}" for w in args.windows
    )
    print(f"Greedy tokens identical with and without the cache -- {same}.")
    if args.new_tokens > n_in:
        print(
            "Past the context, window=exact slides the window and re-runs it in full with or without "
            "the cache (exact logits), so only its in-context phase can speed up; window=chunked keeps "
            f"the last {args.context_size // 2} tokens when the context is full and re-fills the cache "
            "from them once, so the model sees between half and all of the context."
        )
    print()
    print("| memory-bandwidth bound (cached, in context) | |")
    print("|---|---:|")
    print(f"| measured copy bandwidth (read + write) | {bandwidth / 1e9:,.1f} GB/s |")
    print(f"| weights read per token | {weight_bytes / 1e6:,.1f} MB |")
    print(f"| KV cache read per token (mean window {mean_window:.0f}) | {kv_bytes / 1e6:,.2f} MB |")
    print(f"| bound = bandwidth / bytes per token | {bound:,.0f} tok/s |")
    for window in args.windows:
        in_fast = phase_rate(runs[(window, True)].call_s[:n_in])
        print(
            f"| measured cached in-context rate, {window} | {in_fast:,.0f} tok/s "
            f"({100 * in_fast / bound:.0f}% of bound) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
