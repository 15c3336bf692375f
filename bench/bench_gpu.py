"""GPU benchmark of issue 21: zero host syncs, the GPU preset's quality and time, and
``fit`` against a plain compiled loop on the GPT-2 small shape.

The command (one H100/H200, from the repository root, about 5 minutes; parts that would
not fit in ``--deadline-s`` are skipped and say so):

    python bench/bench_gpu.py --out bench_gpu_out --corpus ../shared/data/tinyshakespeare.txt

Check it on a CPU first (tiny sizes, no compile, under a minute on 2 cores):

    python bench/bench_gpu.py --quick --out /tmp/bench_gpu_quick

Parts, in this order (``--parts`` picks some), each through gptlab's own code in this
process (``gptlab.<stage>.run(compose(overrides))``, what ``python -m gptlab.<stage>
<overrides>`` runs; the overrides of every run are recorded):

* ``env``: versions, device, the peak FLOP/s MFU is computed against.
* ``quality``: ``experiment=shakespeare_char_gpu`` with a cold compile cache (a fresh
  ``TORCHINDUCTOR_CACHE_DIR``), then the ``evaluate`` stage on the whole validation
  split (target <= 1.47) and the fit's seconds (target <= 45, compilation included),
  split into compilation (first step), validation and steady steps.
* ``quality_warm``: the same again, the compile cache now warm.
* ``syncs``: the preset for 120 steps with ``torch.cuda.set_sync_debug_mode("error")``
  from the end of step 20 to the end of step 100 (log steps every 200, so none falls in
  the window): any host sync there fails the part, naming the operation.
* ``gpt2``: the GPT-2 small shape (12 x 768, context 1024, vocab 50,304, batch 16)
  through ``fit`` with ``trainer=gpu`` (bf16-mixed, compile, the fused AdamW), against the
  same model in a plain compiled loop (tokens on the GPU, fused AdamW, clipping, bf16
  autocast, no host sync): tokens/s of each, the ratio (target >= 95 %) and MFU.
* ``variants``: the plain loop at batch 32, and with SDPA held to the flash kernel.

Results: ``OUT/summary.json`` (rewritten after each part: a killed run keeps what it
finished) and ``OUT/summary.md`` (the figures as a markdown table), ``OUT/log.txt``.
Without CUDA the script refuses to run unless ``--quick`` is given. The char data is
built once at the start from ``--corpus`` (prepare, tokenize, build on the CPU); the
GPT-2 part reuses it with ``meta.json``'s vocabulary raised to 50,304 (GPT-2's padded
size: its embedding and head cost; the ids stay the 65 characters).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
PARTS = ("env", "quality", "quality_warm", "syncs", "gpt2", "variants")
# Rough seconds of each part on one H200 (for --deadline-s).
ESTIMATE_S = {"env": 10, "quality": 75, "quality_warm": 55, "syncs": 30, "gpt2": 150, "variants": 90}

log = logging.getLogger("bench_gpu")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="bench_gpu_out", help="summary.json, summary.md and the log go here")
    p.add_argument("--work", default=None, help="the runs' directories (checkpoints: GBs); default OUT/work")
    p.add_argument("--corpus", default=None, help="tiny-shakespeare (default ../shared/data/tinyshakespeare.txt)")
    p.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    p.add_argument("--quick", action="store_true", help="tiny sizes on the CPU, no compile: checks the script")
    p.add_argument("--deadline-s", type=float, default=330.0, help="skip a part whose estimate no longer fits")
    p.add_argument("--gpt2-steps", type=int, default=200, help="fit steps of the GPT-2 shape (steady from step 50)")
    p.add_argument("--gpt2-batch", type=int, default=16)
    p.add_argument("--plain-steps", type=int, default=100, help="timed steps of the plain loop (after 15 warm-up)")
    p.add_argument("--seed", type=int, default=1337)
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- plumbing


class Summary:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.data: dict = {"parts": {}, "skipped": {}, "errors": {}}

    def write(self) -> None:
        tmp = self.out / "summary.json.tmp"
        tmp.write_text(json.dumps(self.data, indent=2, default=str))
        tmp.replace(self.out / "summary.json")
        (self.out / "summary.md").write_text(markdown(self.data))


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))


def run_stage(stage: str, overrides: list[str]):
    log.info("python -m gptlab.%s %s", stage, " ".join(overrides))
    return importlib.import_module(f"gptlab.{stage}").run(compose(overrides))


@contextlib.contextmanager
def chdir(path: Path):
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def fresh_workdir(ctx: dict, name: str, vocab: int | None = None) -> Path:
    """A new run directory holding the built char data (``vocab``: meta.json's vocabulary raised)."""
    work = ctx["work"] / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for sub in ("data/processed", "artifacts/tokenizer"):
        shutil.copytree(ctx["built"] / sub, work / sub)
    if vocab is not None:
        from gptlab.dataset.meta import meta_checksum

        meta_path = work / "data/processed/meta.json"
        meta = json.loads(meta_path.read_text())
        meta["vocab_size"] = max(vocab, meta["vocab_size"])
        meta["meta_sha256"] = meta_checksum(meta)  # a deliberate edit, re-signed
        meta_path.write_text(json.dumps(meta, indent=2))
    return work


def build_char_data(ctx: dict, corpus: Path) -> Path:
    built = ctx["work"] / "built_char"
    if not (built / "data/processed/meta.json").is_file():
        shutil.rmtree(built, ignore_errors=True)
        built.mkdir(parents=True)
        with chdir(built):
            for stage in ("prepare", "tokenize", "build"):
                run_stage(stage, ["experiment=shakespeare_char_gpu", f"data.path={corpus}"])
    return built


def __getattr__(name: str):
    """The Lightning callbacks below, built on first use so importing this file needs no
    Lightning (``train.extra_callbacks=[{_target_: bench_gpu.PhaseTimer, ...}]``)."""
    if name in ("PhaseTimer", "SyncWindow"):
        return _callbacks()[name]
    raise AttributeError(name)


_CLASSES: dict = {}


def _callbacks() -> dict:
    if _CLASSES:
        return _CLASSES
    import lightning.pytorch as pl

    class PhaseTimer(pl.Callback):
        """Wall-clock marks of a fit: start, first step (compilation), each validation, end.

        Synchronises the GPU only at those points, never inside the steady steps."""

        def __init__(self, path: str):
            self.path = Path(path)
            self.data: dict = {"train_start": None, "first_step": None, "train_end": None, "val": []}
            self._val_start = 0.0

        def on_train_start(self, trainer, pl_module):
            sync()
            self.data["train_start"] = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if self.data["first_step"] is None:
                sync()
                self.data["first_step"] = time.perf_counter()

        def on_validation_start(self, trainer, pl_module):
            if not trainer.sanity_checking:
                sync()
                self._val_start = time.perf_counter()

        def on_validation_end(self, trainer, pl_module):
            if not trainer.sanity_checking:  # runs after gptlab's callbacks: its sample included
                sync()
                self.data["val"].append([self._val_start, time.perf_counter()])

        def on_train_end(self, trainer, pl_module):
            sync()
            self.data["train_end"] = time.perf_counter()
            self.data["steps"] = trainer.global_step
            self.path.write_text(json.dumps(self.data))

    class SyncWindow(pl.Callback):
        """Every host sync between the end of step ``start`` and the end of step ``end`` is
        an error: ``torch.cuda.set_sync_debug_mode("error")`` on a GPU; on a CPU (``--quick``)
        a dispatch mode that fails on any read of a tensor into a Python number (the CPU
        AdamW's step-counter reads left out, as tests/training/test_training_host_syncs.py
        does: on CUDA the fused AdamW keeps them on the device)."""

        def __init__(self, start: int, end: int, path: str):
            self.start, self.end, self.path = start, end, Path(path)
            self._mode = None

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            import torch

            step = trainer.global_step
            if step == self.start:
                if torch.cuda.is_available():
                    torch.cuda.set_sync_debug_mode("error")
                else:
                    self._mode = cpu_read_guard()
                    self._mode.__enter__()
            elif step == self.end:
                self.close()
                self.path.write_text(json.dumps({"clean_steps": [self.start + 1, self.end]}))

        def on_exception(self, trainer, pl_module, exception):
            self.close()

        def close(self) -> None:
            import torch

            if torch.cuda.is_available():
                torch.cuda.set_sync_debug_mode(0)
            if self._mode is not None:
                self._mode.__exit__(None, None, None)
                self._mode = None

    _CLASSES.update(PhaseTimer=PhaseTimer, SyncWindow=SyncWindow)
    return _CLASSES


def cpu_read_guard():
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    class NoReads(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func is torch.ops.aten._local_scalar_dense.default:
                caller = sys._getframe(1)
                while caller is not None and "/torch/" in caller.f_code.co_filename.replace(os.sep, "/") and \
                        "/torch/optim/" not in caller.f_code.co_filename.replace(os.sep, "/"):
                    caller = caller.f_back
                where = f"{caller.f_code.co_filename}:{caller.f_lineno}" if caller else "?"
                if "/torch/optim/" not in where.replace(os.sep, "/"):
                    raise RuntimeError(f"host read of a tensor in the steady state, at {where}")
            return func(*args, **(kwargs or {}))

    return NoReads()


def read_phases(path: Path, report: dict, tokens_per_step: int) -> dict:
    """Split a fit's wall time: compilation (first step), validations, steady steps."""
    t = json.loads(path.read_text())
    val_s = sum(e - s for s, e in t["val"])
    loop_s = t["train_end"] - t["train_start"]
    first = t["first_step"] - t["train_start"]
    steps = t["steps"]
    rest = loop_s - first - val_s  # steps 2..N, checkpoint writes on the training thread included
    return {
        "fit_wall_s": report["wall_s"],
        "before_first_step_and_first_step_s": round(first, 2),
        "validations": len(t["val"]),
        "validation_and_samples_s": round(val_s, 2),
        "other_steps_s": round(rest, 2),
        "other_steps_ms_per_step": round(1000 * rest / max(1, steps - 1), 3),
        "report_tokens_per_s": report["tokens_per_s"],
        "report_mfu": report["mfu"],
        "tokens_per_step": tokens_per_step,
    }


# ----------------------------------------------------------------------------- parts


def part_env(args, ctx) -> dict:
    import lightning
    import torch

    from gptlab.training.callbacks import peak_flops

    info = {"python": sys.version.split()[0], "torch": torch.__version__, "lightning": lightning.__version__,
            "cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available()}  # fmt: skip
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(device=torch.cuda.get_device_name(0), sms=props.multi_processor_count,
                    memory_gib=round(props.total_memory / 2**30, 1),
                    peak_bf16_flops=peak_flops(torch.device("cuda"), "bf16-mixed"))  # fmt: skip
    return info


def preset_overrides(args, ctx) -> list[str]:
    base = ["experiment=shakespeare_char_gpu", f"data.path={ctx['corpus']}", "logger=none"]
    if args.quick:
        base += ["trainer.accelerator=cpu", "trainer.compile=false", "trainer.precision=32-true", "model.n_layer=1",
                 "model.n_head=2", "model.n_embd=32", "model.context_size=32", "train.batch_size=4",
                 "trainer.max_steps=30", "trainer.val_check_interval=10", "trainer.limit_val_batches=2",
                 "train.sample_max_new_tokens=8"]  # fmt: skip
    return base


def quality_run(args, ctx, name: str) -> dict:
    import torch

    overrides = preset_overrides(args, ctx)
    work = fresh_workdir(ctx, name)
    timer = work / "phases.json"
    torch._dynamo.reset()  # each run compiles from a clean dynamo state; the on-disk caches stay
    with chdir(work):
        t0 = time.perf_counter()
        report = run_stage("train", [*overrides, f"train.extra_callbacks=[{{_target_:bench_gpu.PhaseTimer,path:'{timer}'}}]"])
        train_call_s = time.perf_counter() - t0
        metrics = run_stage("evaluate", [*overrides, "evaluate.splits=[val]"])
    cfg = compose(overrides)
    out = {
        "command_train": "python -m gptlab.train " + " ".join(overrides),
        "command_evaluate": "python -m gptlab.evaluate " + " ".join([*overrides, "evaluate.splits=[val]"]),
        "whole_split_val_loss": metrics["val"]["loss"],
        "fit_s": report["wall_s"],
        "train_stage_call_s": round(train_call_s, 2),
        "best_fixed_window_val_loss": report["best_val_loss"],
        "steps": report["steps"],
        "phases": read_phases(timer, report, int(cfg.train.batch_size) * int(cfg.model.context_size)),
    }
    if torch.cuda.is_available():
        out["max_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        torch.cuda.reset_peak_memory_stats()
    log.info("%s: whole-split val loss %.4f, fit %.1f s", name, out["whole_split_val_loss"], out["fit_s"])
    return out


def part_quality(args, ctx) -> dict:
    return quality_run(args, ctx, "quality")


def part_quality_warm(args, ctx) -> dict:
    return quality_run(args, ctx, "quality_warm")


def part_syncs(args, ctx) -> dict:
    import torch

    overrides = [*preset_overrides(args, ctx), "trainer.max_steps=120", "trainer.log_every_n_steps=200",
                 "trainer.val_check_interval=250", "train.sample_every_n_val=0"]  # fmt: skip
    work = fresh_workdir(ctx, "syncs")
    proof = work / "sync_window.json"
    cb = f"train.extra_callbacks=[{{_target_:bench_gpu.SyncWindow,start:20,end:100,path:'{proof}'}}]"
    torch._dynamo.reset()
    out = {"command_train": "python -m gptlab.train " + " ".join(overrides), "window": "end of step 20 -> end of step 100",
           "mode": "torch.cuda.set_sync_debug_mode('error')" if cuda() else "CPU: aten._local_scalar_dense"}  # fmt: skip
    try:
        with chdir(work):
            run_stage("train", [*overrides, cb])
        out["zero_syncs"] = proof.is_file()
    except Exception as exc:  # noqa: BLE001 - the offending operation is the finding
        out["zero_syncs"] = False
        out["first_sync"] = "".join(traceback.format_exception(exc))[-3000:]
    return out


def gpt2_overrides(args, ctx, batch: int, steps: int) -> list[str]:
    model = (["model.n_layer=1", "model.n_head=2", "model.n_embd=32", "model.context_size=64"] if args.quick else
             ["model.n_layer=12", "model.n_head=12", "model.n_embd=768", "model.context_size=1024"])
    # The preset's data and trainer (trainer=gpu: bf16-mixed, compile; optim.fused=auto: the
    # fused AdamW); no validation inside the run (fit validates once at the end), so only
    # last.ckpt (1.5 GB) is written.
    out = [
        "experiment=shakespeare_char_gpu", f"data.path={ctx['corpus']}", *model, "model.dropout=0.0",
        "model.bias=true", "model.pos_encoding=learned", f"train.batch_size={batch}", f"trainer.max_steps={steps}",
        f"trainer.val_check_interval={10 * steps}", "trainer.limit_val_batches=2", "trainer.log_every_n_steps=50",
        "train.sample_every_n_val=0", "optim.warmup_steps=20", "logger=none",
    ]  # fmt: skip
    if args.quick:
        out += ["trainer.accelerator=cpu", "trainer.compile=false", "trainer.precision=32-true"]
    return out


def part_gpt2(args, ctx) -> dict:
    import torch

    from gptlab.model import GPT, GPTConfig

    batch = 2 if args.quick else args.gpt2_batch
    steps = 60 if args.quick else args.gpt2_steps
    overrides = gpt2_overrides(args, ctx, batch, steps)
    work = fresh_workdir(ctx, "gpt2", vocab=50304)
    timer = work / "phases.json"
    torch._dynamo.reset()
    with chdir(work):
        report = run_stage("train", [*overrides, f"train.extra_callbacks=[{{_target_:bench_gpu.PhaseTimer,path:'{timer}'}}]"])
    cfg = compose(overrides)
    mc = {**dict(cfg.model), "vocab_size": 50304}
    tokens_per_step = batch * int(cfg.model.context_size)
    out = {
        "command_train": "python -m gptlab.train " + " ".join(overrides) + "  (meta.json vocab_size 50304)",
        "fit_tokens_per_s": report["tokens_per_s"],
        "fit_mfu": report["mfu"],
        "flops_per_token": GPT(GPTConfig(**mc)).flops_per_token(),
        "fit_phases": read_phases(timer, report, tokens_per_step),
    }
    if torch.cuda.is_available():
        out["fit_max_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        torch.cuda.reset_peak_memory_stats()
    plain = plain_loop(args, ctx, GPTConfig(**mc), work / "data/processed", batch)
    out["plain"] = plain
    out["fit_over_plain_tokens_per_s"] = report["tokens_per_s"] / plain["tokens_per_s"]
    log.info("gpt2: fit %.0f tok/s (MFU %s), plain %.0f tok/s (MFU %s): %.3f", report["tokens_per_s"], report["mfu"],
             plain["tokens_per_s"], plain["mfu"], out["fit_over_plain_tokens_per_s"])  # fmt: skip
    return out


def part_variants(args, ctx) -> dict:
    import torch
    from torch.nn.attention import SDPBackend

    from gptlab.model import GPTConfig

    batch = 2 if args.quick else args.gpt2_batch
    cfg = compose(gpt2_overrides(args, ctx, batch, 10))
    mc = GPTConfig(**{**dict(cfg.model), "vocab_size": 50304})
    processed = ctx["work"] / "gpt2/data/processed"
    if not processed.is_dir():
        processed = fresh_workdir(ctx, "gpt2", vocab=50304) / "data/processed"
    out = {}
    variants = [("batch_x2", {"batch": 2 * batch}), ("sdpa_flash", {"backend": SDPBackend.FLASH_ATTENTION}),
                ("sdpa_efficient", {"backend": SDPBackend.EFFICIENT_ATTENTION})]  # fmt: skip
    for name, v in variants:
        left = ctx["deadline"] - time.perf_counter()
        if not args.quick and left < ESTIMATE_S["variants"] / 2:
            out[name] = f"skipped: {left:.0f} s left"
            continue
        try:
            out[name] = plain_loop(args, ctx, mc, processed, v.get("batch", batch), backend=v.get("backend"))
        except Exception as exc:  # noqa: BLE001 - a backend this device lacks is a result, not a crash
            out[name] = f"failed: {type(exc).__name__}: {str(exc)[:300]}"
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return out


def plain_loop(args, ctx, mcfg, processed: Path, batch: int, backend=None) -> dict:
    """The same model and optimizer as gptlab's fit (fused AdamW with gptlab's groups,
    clipping, bf16 autocast, compile), written as a plain loop with the tokens on the
    device and no host sync inside the timed steps."""
    import numpy as np
    import torch

    from gptlab.config import to_dataclass
    from gptlab.model import GPT
    from gptlab.training.callbacks import peak_flops
    from gptlab.training.config import OptimConfig
    from gptlab.training.optim import make_adamw

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch._dynamo.reset()
    torch.manual_seed(args.seed)
    model = GPT(mcfg).to(dev).train()
    opt = make_adamw(model, to_dataclass(OptimConfig, compose([]).optim, "optim"), dev.type)
    net = model if args.quick else torch.compile(model)
    meta = json.loads((processed / "meta.json").read_text())
    data = torch.from_numpy(np.fromfile(processed / "train.bin", dtype=meta["dtype"]).astype(np.int64)).to(dev)
    T = mcfg.context_size
    offsets = torch.arange(T + 1, device=dev)
    gen = torch.Generator(device=dev)
    gen.manual_seed(args.seed)
    attention = contextlib.nullcontext
    if backend is not None:
        from torch.nn.attention import sdpa_kernel

        attention = lambda: sdpa_kernel([backend])  # noqa: E731

    def step() -> torch.Tensor:
        starts = torch.randint(0, len(data) - T - 1, (batch,), device=dev, generator=gen)
        block = data[starts[:, None] + offsets]
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=not args.quick), attention():
            _, loss = net(block[:, :-1], block[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    warmup, steps = (3, 5) if args.quick else (15, args.plain_steps)
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
    peak = peak_flops(dev, "bf16-mixed")
    out = {"batch": batch, "backend": str(backend) if backend is not None else "default", "warmup_s": round(warm_s, 2),
           "step_ms": round(1000 * dt / steps, 3), "tokens_per_s": tps,
           "mfu": tps * model.flops_per_token() / peak if peak else None, "final_loss": float(loss.detach())}  # fmt: skip
    del net, model, opt, data
    return out


# ----------------------------------------------------------------------------- report


def markdown(data: dict) -> str:
    parts = data["parts"]

    def f(x, spec=".4g"):
        return "-" if x is None else format(x, spec) if isinstance(x, (int, float)) else str(x)

    rows = []
    env = parts.get("env")
    if env:
        rows += [("device", env.get("device", "cpu")), ("torch / lightning", f"{env['torch']} / {env['lightning']}"),
                 ("peak bf16 FLOP/s for MFU", f(env.get("peak_bf16_flops")))]  # fmt: skip
    for name in ("quality", "quality_warm"):
        q = parts.get(name)
        if q:
            ph = q["phases"]
            rows += [
                (f"{name}: whole-split val loss (target <= 1.47)", f(q["whole_split_val_loss"])),
                (f"{name}: fit s (target <= 45)", f(q["fit_s"], ".1f")),
                (f"{name}: start + first step (compile) s", f(ph["before_first_step_and_first_step_s"], ".1f")),
                (f"{name}: {ph['validations']} validations + samples s", f(ph["validation_and_samples_s"], ".1f")),
                (f"{name}: other steps ms/step", f(ph["other_steps_ms_per_step"], ".2f")),
                (f"{name}: steady tokens/s, MFU", f"{f(ph['report_tokens_per_s'], '.0f')}, {f(ph['report_mfu'], '.3f')}"),
            ]
    s = parts.get("syncs")
    if s:
        rows.append((f"syncs in steps 21-100 ({s['mode']})", "none" if s["zero_syncs"] else "FOUND: see summary.json"))
    g = parts.get("gpt2")
    if g:
        rows += [
            ("gpt2: fit tokens/s, MFU", f"{f(g['fit_tokens_per_s'], '.0f')}, {f(g['fit_mfu'], '.3f')}"),
            ("gpt2: plain loop tokens/s, MFU", f"{f(g['plain']['tokens_per_s'], '.0f')}, {f(g['plain']['mfu'], '.3f')}"),
            ("gpt2: fit / plain tokens/s (target >= 0.95)", f(g["fit_over_plain_tokens_per_s"], ".3f")),
        ]
    for name, v in (parts.get("variants") or {}).items():
        if isinstance(v, dict):
            rows.append((f"plain variant {name}: tokens/s, MFU", f"{f(v['tokens_per_s'], '.0f')}, {f(v['mfu'], '.3f')}"))
        elif name != "part_wall_s":
            rows.append((f"plain variant {name}", v))
    for k, v in data.get("skipped", {}).items():
        rows.append((f"SKIPPED {k}", v))
    for k, v in data.get("errors", {}).items():
        rows.append((f"ERROR {k}", v.strip().splitlines()[-1][:200]))
    rows.append(("total wall s", f(data.get("total_wall_s"), ".1f")))
    return "| figure | value |\n|---|---|\n" + "".join(f"| {a} | {b} |\n" for a, b in rows)


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work).resolve() if args.work else out / "work"
    work.mkdir(parents=True, exist_ok=True)
    # A compile cache of this run's own: `quality` starts cold, `quality_warm` finds it warm.
    cache = work / "compile_cache"
    shutil.rmtree(cache, ignore_errors=True)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache / "inductor")
    os.environ["TRITON_CACHE_DIR"] = str(cache / "triton")
    os.environ.setdefault("GPTLAB_CONF_DIR", str(REPO / "conf"))
    sys.path.insert(0, str(BENCH))  # Hydra instantiates bench_gpu.PhaseTimer / SyncWindow
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", force=True,
                        handlers=[logging.StreamHandler(), logging.FileHandler(out / "log.txt")])  # fmt: skip
    logging.getLogger("lightning").setLevel(logging.WARNING)
    import torch

    if args.quick:
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    elif not torch.cuda.is_available():
        print("no CUDA device: use --quick to check the script on a CPU", file=sys.stderr)
        return 2
    corpus = Path(args.corpus) if args.corpus else next(
        (p for p in (REPO.parent / "shared/data/tinyshakespeare.txt", REPO / "shared/data/tinyshakespeare.txt")
         if p.is_file()), REPO.parent / "shared/data/tinyshakespeare.txt")  # fmt: skip
    if not corpus.is_file():
        print(f"corpus not found: {corpus} (--corpus PATH to tiny-shakespeare)", file=sys.stderr)
        return 2
    summary = Summary(out)
    summary.data["argv"] = sys.argv
    ctx = {"work": work, "corpus": corpus.resolve(), "deadline": t_start + args.deadline_s}
    ctx["built"] = build_char_data(ctx, ctx["corpus"])
    fns = {"env": part_env, "quality": part_quality, "quality_warm": part_quality_warm, "syncs": part_syncs,
           "gpt2": part_gpt2, "variants": part_variants}  # fmt: skip
    for part in args.parts:
        left = ctx["deadline"] - time.perf_counter()
        if not args.quick and left < ESTIMATE_S[part]:
            summary.data["skipped"][part] = f"{left:.0f} s left < estimate {ESTIMATE_S[part]} s"
            log.warning("skipping %s: %s", part, summary.data["skipped"][part])
            summary.write()
            continue
        log.info("=== %s (%.0f s elapsed)", part, time.perf_counter() - t_start)
        t0 = time.perf_counter()
        try:
            result = fns[part](args, ctx)
            result["part_wall_s"] = round(time.perf_counter() - t0, 1)
            summary.data["parts"][part] = result
        except Exception as exc:  # noqa: BLE001 - one broken part must not lose the others
            summary.data["errors"][part] = "".join(traceback.format_exception(exc))[-4000:]
            log.error("part %s failed:\n%s", part, summary.data["errors"][part])
        summary.data["total_wall_s"] = round(time.perf_counter() - t_start, 1)
        summary.write()
    print(markdown(summary.data))
    return 1 if summary.data["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
