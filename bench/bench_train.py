"""Training benchmark: gptlab's whole training process against a plain PyTorch loop.

Both train the same model on the same batches on the CPU, each as a user runs it, in its
own process, timed from spawn to exit:

* the **yardstick**: a hand-written nanoGPT-style loop (this file, ``plain`` mode): the
  model (``gptlab.model.GPT``, seeded the same way), AdamW with the same parameter groups
  as nanoGPT builds it on a CPU (not fused: nanoGPT fuses on CUDA only), warmup +
  cosine schedule, gradient clipping, periodic validation on the same fixed windows and
  a checkpoint (model + optimizer) whenever the validation loss improves; no framework,
  no tracking; it imports torch, numpy and gptlab's model only;
* **gptlab**: ``python -m gptlab.train`` with everything on (Lightning, progress bar,
  MLflow tracking in a SQLite store, checkpoints, validation, progress samples, the
  model directory and the reports at the end).

The default run is issue 21's: nanoGPT's CPU model with learned positions and biases (4
layers x 128, context 64, batch 12) for 1,000 steps on tiny-shakespeare. Reported: the
two processes' wall times and their ratio (plain / gptlab: >= 0.95 is the target), and
the training loop's steady steps/s of each (warm-up steps, validation and checkpoint
writes excluded on both sides) and their ratio. The batches are checked equal before
anything is timed (the same windows for each step).

    python bench/bench_train.py --corpus ../shared/data/tinyshakespeare.txt                 # 1,000 steps
    python bench/bench_train.py --steps 300 --repeats 2 --plain-fused                       # + a plain loop with fused AdamW
    python bench/bench_train.py --quality --seeds 1 2                                       # the preset's 2,000 steps, in-process
    python bench/bench_train.py --quality --override model.pos_encoding=rope model.bias=false

``--quality``: in this process, the preset's full schedule on both sides, each scored on
the *whole* validation split (a gap between them is gptlab's, not the recipe's).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# Issue 21's model: nanoGPT's CPU recipe with learned positions and biases.
DEFAULT_OVERRIDES = ["model.pos_encoding=learned", "model.bias=true"]


def prepare_data(workdir: Path, corpus: Path, preset: str, env: dict) -> None:
    for stage in ("prepare", "tokenize", "build"):
        subprocess.run([sys.executable, "-m", f"gptlab.{stage}", f"experiment={preset}", f"data.path={corpus}"],
                       cwd=workdir, env=env, check=True, capture_output=True)  # fmt: skip


# ----------------------------------------------------------------------------- the yardstick


def plain_starts(seed: int, step: int, high: int, batch: int) -> np.ndarray:
    """Where step ``step``'s windows start: gptlab's rule, (seed, rank 0, step) -> starts."""
    return np.random.default_rng([seed, 0, step]).integers(0, high + 1, size=batch)


def plain_val_starts(n_tokens: int, context: int, n: int) -> np.ndarray:
    """gptlab's fixed validation windows: ``n`` starts spread evenly over the split."""
    return np.unique(np.linspace(0, n_tokens - context - 1, num=n).astype(np.int64))


def plain_loop(spec: dict, keep_model: bool = False) -> dict:
    """The yardstick, written out by hand (``spec``: paths and hyper-parameters, plain values)."""
    import torch

    from gptlab.dataset.tokens import open_tokens
    from gptlab.model import GPT, GPTConfig
    from gptlab.training.optim import param_groups
    from gptlab.training.schedule import lr_at

    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    processed = Path(spec["workdir"]) / "data/processed"
    meta = json.loads((processed / "meta.json").read_text())
    train = open_tokens(processed / "train.bin", meta["dtype"])
    val = open_tokens(processed / "val.bin", meta["dtype"])
    T, B, steps, o = spec["context"], spec["batch"], spec["steps"], spec["optim"]
    torch.manual_seed(spec["seed"])  # before the model, as gptlab's fit: the same initial weights
    model = GPT(GPTConfig(vocab_size=meta["vocab_size"], **spec["model"]))
    opt = torch.optim.AdamW(param_groups(model, o["weight_decay"]), lr=o["lr"], betas=tuple(o["betas"]),
                            eps=o["eps"], fused=spec.get("fused", False))  # fmt: skip
    offsets = np.arange(T + 1)
    val_starts = plain_val_starts(len(val), T, spec["val_batches"] * B)
    high = len(train) - T - 1

    def batch(data: np.ndarray, starts: np.ndarray):
        block = torch.from_numpy(np.asarray(data[starts[:, None] + offsets], dtype=np.int64))
        return block[:, :-1], block[:, 1:]

    def validate() -> float:
        model.eval()
        losses = []
        with torch.no_grad():
            for i in range(0, len(val_starts), B):
                losses.append(model(*batch(val, val_starts[i : i + B]))[1].item())
        model.train()
        return sum(losses) / len(losses)

    ckpt = Path(spec["workdir"]) / "plain_ckpt.pt"
    best = float("inf")
    model.train()
    t_start = time.perf_counter()
    t_steady, paused = None, 0.0
    for step in range(steps):
        if step == spec["skip"]:
            t_steady, paused = time.perf_counter(), 0.0
        for g in opt.param_groups:
            g["lr"] = lr_at(step, o["lr"], o["min_lr"], o["warmup_steps"], steps)
        x, y = batch(train, plain_starts(spec["seed"], step, high, B))
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), spec["clip"])
        opt.step()
        if (step + 1) % spec["val_every"] == 0 or step + 1 == steps:
            t0 = time.perf_counter()
            v = validate()
            if v < best:  # nanoGPT saves when the validation loss improves
                best = v
                torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step + 1}, ckpt)
            paused += time.perf_counter() - t0
    end = time.perf_counter()
    out = {
        "loop_s": end - t_start,
        "steady_steps_per_s": (steps - spec["skip"]) / (end - t_steady - paused),
        "final_train_loss": loss.item(),
        "best_val_loss_fixed_windows": best,
    }
    if keep_model:
        out["model"] = model
    return out


def plain_spec(cfg, workdir: Path, steps: int, skip: int, threads: int, fused: bool) -> dict:
    from omegaconf import OmegaConf

    model = OmegaConf.to_container(cfg.model, resolve=True)
    return {
        "workdir": str(workdir), "steps": steps, "skip": skip, "seed": int(cfg.seed), "threads": threads,
        "context": int(cfg.model.context_size), "batch": int(cfg.train.batch_size), "model": model,
        "optim": OmegaConf.to_container(cfg.optim, resolve=True), "clip": float(cfg.trainer.gradient_clip_val),
        "val_every": int(cfg.trainer.val_check_interval), "val_batches": int(cfg.trainer.limit_val_batches),
        "fused": fused,
    }  # fmt: skip


def check_same_batches(spec: dict) -> None:
    """The yardstick's windows are gptlab's: step by step, and the validation windows too."""
    from gptlab.dataset.tokens import open_tokens
    from gptlab.training.data import BatchCounter, FixedWindows, RandomWindows

    processed = Path(spec["workdir"]) / "data/processed"
    meta = json.loads((processed / "meta.json").read_text())
    train = open_tokens(processed / "train.bin", meta["dtype"])
    val = open_tokens(processed / "val.bin", meta["dtype"])
    T, B = spec["context"], spec["batch"]
    stream = RandomWindows(train, T, B, spec["seed"], 0, BatchCounter())
    for step in (0, 1, 999):
        assert (stream.starts(step) == plain_starts(spec["seed"], step, len(train) - T - 1, B)).all(), step
    fixed = FixedWindows(val, T, spec["val_batches"] * B, B)
    assert (fixed.starts == plain_val_starts(len(val), T, spec["val_batches"] * B)).all()


# ----------------------------------------------------------------------------- processes


def timed(cmd: list[str], cwd: Path, env: dict) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"failed ({res.returncode}): {' '.join(cmd)}\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}")
    return took, res


def run_plain_process(spec: dict, workdir: Path, env: dict) -> dict:
    took, res = timed([sys.executable, str(Path(__file__).resolve()), "plain", json.dumps(spec)], workdir, env)
    return {"process_s": took, **json.loads(res.stdout.strip().splitlines()[-1])}


def run_gptlab_process(overrides: list[str], workdir: Path, env: dict, tokens_per_step: int) -> dict:
    took, _ = timed([sys.executable, "-m", "gptlab.train", *overrides], workdir, env)
    report = json.loads((workdir / "reports/train.json").read_text())
    return {
        "process_s": took,
        "loop_s": report["wall_s"],
        "steady_steps_per_s": report["tokens_per_s"] / tokens_per_step,
        "val_loss_fixed_windows": report["val_loss"],
        "train_loss": report["train_loss"],
    }


# ----------------------------------------------------------------------------- quality (in-process)


def full_val_loss(workdir: Path, context: int, model=None) -> float:
    """Mean next-token loss over the whole validation split (non-overlapping windows)."""
    import torch
    import torch.nn.functional as F

    from gptlab.checkpoint import load_model_dir
    from gptlab.dataset.tokens import open_tokens

    if model is None:
        model = load_model_dir(workdir / "artifacts/model").model
    model.eval()
    meta = json.loads((workdir / "data/processed/meta.json").read_text())
    val = np.asarray(open_tokens(workdir / "data/processed/val.bin", meta["dtype"]), dtype=np.int64)
    total, count = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(val) - 1, context * 64):
            chunk = val[s : s + context * 64 + 1]
            n = (len(chunk) - 1) // context
            if n == 0:
                x, y = torch.from_numpy(chunk[:-1])[None], torch.from_numpy(chunk[1:])[None]
            else:
                x = torch.from_numpy(chunk[: n * context]).view(n, context)
                y = torch.from_numpy(chunk[1 : n * context + 1]).view(n, context)
            logits, _ = model(x)
            total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum").item()
            count += y.numel()
    return total / count


def quality(args, base: list[str], workdir: Path) -> dict:
    sys.path.insert(0, str(REPO))
    from tests.helpers import compose

    from gptlab.training.settings import fit_settings
    from gptlab.training.fit import fit

    os.chdir(workdir)
    seeds = args.seeds or [int(compose(*base).seed)]
    out: dict = {"quality_seeds": seeds, "plain": [], "gptlab": [], "gptlab_fixed_windows": [], "gptlab_fit_s": []}
    for seed in seeds:
        cfg = compose(*base, f"seed={seed}")
        spec = plain_spec(cfg, workdir, int(cfg.trainer.max_steps), args.skip, args.threads, args.plain_fused)
        ref = plain_loop(spec, keep_model=True)
        out["plain"].append(round(full_val_loss(workdir, int(cfg.model.context_size), ref["model"]), 4))
        report = fit(fit_settings(compose(*base, f"seed={seed}")))
        out["quality_steps"] = report["steps"]
        out["gptlab_fixed_windows"].append(round(report["val_loss"], 4))
        out["gptlab"].append(round(full_val_loss(workdir, int(cfg.model.context_size)), 4))
        out["gptlab_fit_s"].append(round(report["wall_s"], 1))
    mean = lambda xs: round(sum(xs) / len(xs), 4)  # noqa: E731
    out["plain_full_split_mean"], out["gptlab_full_split_mean"] = mean(out["plain"]), mean(out["gptlab"])
    return out


# ----------------------------------------------------------------------------- main


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "plain":  # the yardstick's own process
        result = plain_loop(json.loads(sys.argv[2]))
        print(json.dumps(result))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared/data/tinyshakespeare.txt")
    ap.add_argument("--preset", default="shakespeare_char_cpu")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--skip", type=int, default=20, help="warm-up steps left out of the plain loop's steady state")
    ap.add_argument("--repeats", type=int, default=1, help="interleaved repeats of each side (best is reported)")
    ap.add_argument("--plain-fused", action="store_true", help="also time a plain loop with the fused AdamW")
    ap.add_argument("--quality", action="store_true", help="the preset's full schedule in-process, whole-split val loss")
    ap.add_argument("--seeds", type=int, nargs="*", default=None, help="--quality: one run of each side per seed")
    ap.add_argument("--override", nargs="*", default=DEFAULT_OVERRIDES, help="Hydra overrides for both sides")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads of both processes (OMP_NUM_THREADS; 0: torch's default). On a shared "
                         "machine, 1 avoids the stalls of a thread pool whose threads wait for a busy core")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = ap.parse_args()

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["GPTLAB_CONF_DIR"] = str(REPO / "conf")
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    os.environ["GPTLAB_CONF_DIR"] = env["GPTLAB_CONF_DIR"]
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="gptlab-bench-train-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    corpus = args.corpus.resolve()
    prepare_data(workdir, corpus, args.preset, env)
    base = [f"experiment={args.preset}", f"data.path={corpus}", f"logger.tracking_uri=sqlite:///{workdir}/mlflow.db",
            "logger.experiment_name=bench", *args.override]  # fmt: skip
    if args.quality:
        result = quality(args, base, workdir)
    else:
        sys.path.insert(0, str(REPO))
        from tests.helpers import compose

        cfg = compose(*base, f"trainer.max_steps={args.steps}")
        spec = plain_spec(cfg, workdir, args.steps, args.skip, args.threads, False)
        check_same_batches(spec)
        tokens_per_step = spec["batch"] * spec["context"]
        gptlab_cmd = [*base, f"trainer.max_steps={args.steps}"]
        load = [round(os.getloadavg()[0], 2)]
        runs: dict[str, list[dict]] = {"plain": [], "gptlab": [], "plain_fused": []}
        for _ in range(args.repeats):  # interleaved: a burst of load elsewhere hits one repeat, not one side
            runs["plain"].append(run_plain_process(spec, workdir, env))
            runs["gptlab"].append(run_gptlab_process(gptlab_cmd, workdir, env, tokens_per_step))
            if args.plain_fused:
                runs["plain_fused"].append(run_plain_process({**spec, "fused": True}, workdir, env))
        load.append(round(os.getloadavg()[0], 2))
        best = {k: min(v, key=lambda r: r["process_s"]) for k, v in runs.items() if v}
        fastest = {k: max(r["steady_steps_per_s"] for r in v) for k, v in runs.items() if v}
        p, g = best["plain"], best["gptlab"]
        result = {
            "steps": args.steps,
            "overrides": gptlab_cmd,
            "command_gptlab": "python -m gptlab.train " + " ".join(gptlab_cmd),
            "load_avg_1min_before_after": load,
            "threads": args.threads or "torch default",
            "plain_process_s": round(p["process_s"], 2),
            "gptlab_process_s": round(g["process_s"], 2),
            "process_ratio_plain_over_gptlab": round(p["process_s"] / g["process_s"], 4),
            "plain_loop_s": round(p["loop_s"], 2),
            "gptlab_fit_loop_s": round(g["loop_s"], 2),
            "plain_steady_steps_per_s": round(fastest["plain"], 2),
            "gptlab_steady_steps_per_s": round(fastest["gptlab"], 2),
            "steps_per_s_ratio_gptlab_over_plain": round(fastest["gptlab"] / fastest["plain"], 4),
            "plain_final_train_loss": round(p["final_train_loss"], 4),
            "gptlab_train_loss_mean_of_last_10_logged": round(g["train_loss"], 4),
            "all_process_s": {k: [round(r["process_s"], 2) for r in v] for k, v in runs.items() if v},
        }
        if args.plain_fused:
            f = best["plain_fused"]
            result["plain_fused_process_s"] = round(f["process_s"], 2)
            result["plain_fused_steady_steps_per_s"] = round(fastest["plain_fused"], 2)
            result["process_ratio_plain_fused_over_gptlab"] = round(f["process_s"] / g["process_s"], 4)
    print(json.dumps(result, indent=2))
    print("\n| metric | value |\n|---|---|")
    for k, v in result.items():
        print(f"| {k} | {v} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
