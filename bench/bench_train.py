"""Training benchmark: gptlab's Lightning trainer against a plain PyTorch loop.

Both train the same model on the same batches, in one invocation on one machine:

* the **yardstick**: a hand-written loop (model, AdamW with the same parameter groups,
  warmup + cosine schedule, gradient clipping, periodic validation on the same fixed
  windows), no framework, no tracking;
* **gptlab**: ``gptlab.training.fit`` with everything on (Lightning, progress bar,
  MLflow tracking, checkpoints, validation).

Reported: steady-state training tokens/s of each (validation excluded in both), the end
to end wall time of each, their ratios, and (``--quality``) the validation loss of
gptlab's run over the *whole* validation split.

    python bench/bench_train.py --corpus ../shared/data/tinyshakespeare.txt --steps 300
    python bench/bench_train.py --corpus ../shared/data/tinyshakespeare.txt --quality   # full 2,000 steps
    python bench/bench_train.py --steps 60 --repeats 1 --quality --seeds 1 2 3         # quality, three seeds
    python bench/bench_train.py --steps 60 --repeats 1 --quality --override model.pos_encoding=learned
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def prepare_data(workdir: Path, corpus: Path, preset: str) -> None:
    from tests.conftest import run_stage

    os.chdir(workdir)
    for stage in ("prepare", "tokenize", "build"):
        run_stage(stage, f"experiment={preset}", f"data.path={corpus}")


def plain_loop(workdir: Path, cfg, steps: int, skip: int) -> dict:
    """The yardstick: the same recipe, written out by hand."""
    from gptlab.dataset import load_meta
    from gptlab.model import GPT, GPTConfig
    from gptlab.training.data import FixedWindows, open_tokens, windows_at
    from gptlab.training.optim import param_groups
    from gptlab.training.schedule import lr_at

    meta = load_meta(workdir / "data/processed/meta.json")
    train = open_tokens(workdir / "data/processed/train.bin", meta.dtype)
    val = open_tokens(workdir / "data/processed/val.bin", meta.dtype)
    mc = dict(cfg.model)
    # Seeded before the model is built, as gptlab's fit does: the same initial weights.
    torch.manual_seed(cfg.seed)
    model = GPT(GPTConfig(vocab_size=meta.vocab_size, **mc))
    o = cfg.optim
    opt = torch.optim.AdamW(param_groups(model, o.weight_decay), lr=o.lr, betas=tuple(o.betas), eps=o.eps)
    T, B = cfg.model.context_size, cfg.train.batch_size
    val_ds = FixedWindows(val, T, cfg.trainer.limit_val_batches * B)
    high = len(train) - T - 1

    def validate() -> float:
        model.eval()
        losses = []
        with torch.no_grad():
            for i in range(0, len(val_ds), B):
                x, y = windows_at(val, val_ds.starts[i : i + B], T)
                losses.append(model(x, y)[1].item())
        model.train()
        return sum(losses) / len(losses)

    model.train()
    t_start = time.perf_counter()
    t_steady = None
    val_time = 0.0
    for step in range(steps):
        if step == skip:
            t_steady, val_time = time.perf_counter(), 0.0
        for g in opt.param_groups:
            g["lr"] = lr_at(step, o.lr, o.min_lr, o.warmup_steps, steps)
        rng = np.random.default_rng([cfg.seed, 0, step])
        x, y = windows_at(train, rng.integers(0, high + 1, size=B), T)
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.trainer.gradient_clip_val)
        opt.step()
        if (step + 1) % cfg.trainer.val_check_interval == 0:
            t0 = time.perf_counter()
            validate()
            val_time += time.perf_counter() - t0
    end = time.perf_counter()
    steady = (steps - skip) * B * T / (end - t_steady - val_time)
    return {"tokens_per_s": steady, "wall_s": end - t_start, "final_train_loss": loss.item(), "model": model}


def gptlab_fit(workdir: Path, overrides: list[str]) -> dict:
    from tests.conftest import compose

    from gptlab.train import fit_settings
    from gptlab.training.fit import fit

    os.chdir(workdir)
    t0 = time.perf_counter()
    report = fit(fit_settings(compose(*overrides)))
    report["wall_s_total"] = time.perf_counter() - t0
    return report


def full_val_loss(workdir: Path, context: int, model=None) -> float:
    """Mean next-token loss over the whole validation split (non-overlapping windows)."""
    from gptlab.checkpoint import load_model_dir
    from gptlab.dataset import load_meta
    from gptlab.training.data import open_tokens

    if model is None:
        model = load_model_dir(workdir / "artifacts/model").model
    model.eval()
    meta = load_meta(workdir / "data/processed/meta.json")
    val = np.asarray(open_tokens(workdir / "data/processed/val.bin", meta.dtype), dtype=np.int64)
    total, count = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(val) - 1, context * 64):
            chunk = val[s : s + context * 64 + 1]
            n = (len(chunk) - 1) // context
            if n == 0:
                x = torch.from_numpy(chunk[:-1])[None]
                y = torch.from_numpy(chunk[1:])[None]
            else:
                x = torch.from_numpy(chunk[: n * context]).view(n, context)
                y = torch.from_numpy(chunk[1 : n * context + 1]).view(n, context)
            logits, _ = model(x)
            total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum").item()
            count += y.numel()
    return total / count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared/data/tinyshakespeare.txt")
    ap.add_argument("--preset", default="shakespeare_char_cpu")
    ap.add_argument("--steps", type=int, default=300, help="steps for the speed comparison")
    ap.add_argument("--skip", type=int, default=20, help="warm-up steps left out of the steady state")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repeats of each side (best is reported)")
    ap.add_argument("--quality", action="store_true", help="also run the preset's full schedule and report full-split val loss")
    ap.add_argument("--seeds", type=int, nargs="*", default=None,
                    help="--quality: train both sides once per seed (default: the preset's seed)")
    ap.add_argument("--override", nargs="*", default=[], help="extra Hydra overrides, e.g. model.pos_encoding=learned")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("GPTLAB_CONF_DIR", str(REPO / "conf"))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="gptlab-bench-train-"))
    workdir.mkdir(parents=True, exist_ok=True)
    corpus = args.corpus.resolve()
    prepare_data(workdir, corpus, args.preset)

    from tests.conftest import compose

    base = [f"experiment={args.preset}", f"data.path={corpus}", f"logger.tracking_uri=sqlite:///{workdir}/mlflow.db",
            "logger.experiment_name=bench", *args.override]
    cfg = compose(*base, f"trainer.max_steps={args.steps}")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, workdir {workdir}", flush=True)

    # Interleaved repeats, best of each: a burst of load from elsewhere on the machine
    # then hits one repeat, not one side of the comparison.
    plains, ourss = [], []
    for _ in range(args.repeats):
        plains.append(plain_loop(workdir, cfg, args.steps, args.skip))
        ourss.append(gptlab_fit(workdir, [*base, f"trainer.max_steps={args.steps}", "trainer.enable_progress_bar=true"]))
    for r in plains:
        r.pop("model", None)
    plain = max(plains, key=lambda r: r["tokens_per_s"])
    ours = max(ourss, key=lambda r: r["tokens_per_s"])
    med = lambda rs: sorted(r["tokens_per_s"] for r in rs)[len(rs) // 2]  # noqa: E731
    result = {
        "preset": args.preset,
        "steps": args.steps,
        "plain_tokens_per_s": round(plain["tokens_per_s"], 1),
        "gptlab_tokens_per_s": round(ours["tokens_per_s"], 1),
        "speed_ratio": round(ours["tokens_per_s"] / plain["tokens_per_s"], 4),
        "plain_tokens_per_s_all": [round(r["tokens_per_s"]) for r in plains],
        "gptlab_tokens_per_s_all": [round(r["tokens_per_s"]) for r in ourss],
        "speed_ratio_median": round(med(ourss) / med(plains), 4),
        "plain_wall_s": round(plain["wall_s"], 2),
        "gptlab_fit_wall_s": round(ours["wall_s"], 2),
        "gptlab_total_wall_s": round(ours["wall_s_total"], 2),
    }
    if args.quality:
        seeds = args.seeds or [cfg.seed]
        plain_whole, fixed, whole, walls = [], [], [], []
        for seed in seeds:
            # The yardstick's own quality on the same measure: is a gap gptlab's, or the recipe's?
            cfg_full = compose(*base, f"seed={seed}")
            ref = plain_loop(workdir, cfg_full, cfg_full.trainer.max_steps, args.skip)
            plain_whole.append(round(full_val_loss(workdir, cfg.model.context_size, ref["model"]), 4))
            full = gptlab_fit(workdir, [*base, f"seed={seed}"])
            result["quality_steps"] = full["steps"]
            fixed.append(round(full["val_loss"], 4))
            whole.append(round(full_val_loss(workdir, cfg.model.context_size), 4))
            walls.append(round(full["wall_s"], 1))
        mean = lambda xs: round(sum(xs) / len(xs), 4)  # noqa: E731
        result["quality_seeds"] = seeds
        result["plain_quality_val_loss_full_split"] = plain_whole
        result["plain_quality_val_loss_full_split_mean"] = mean(plain_whole)
        result["quality_val_loss_fixed_windows"] = fixed
        result["quality_val_loss_full_split"] = whole
        result["quality_val_loss_full_split_mean"] = mean(whole)
        result["quality_wall_s"] = walls
    print(json.dumps(result, indent=2))
    print()
    print("| metric | value |\n|---|---|")
    for k, v in result.items():
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
