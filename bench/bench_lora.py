"""LoRA against full fine-tuning: what trains, the optimizer state, and the memory of training.

The model is the CPU recipe's (``experiment=shakespeare_char_cpu``: conf/model/small.yaml,
4 layers x 128, context 64, rope, no biases, the char vocabulary of tiny-shakespeare, 65)
at its batch size (12). Each variant runs in its own process, on the CPU:

* ``full``: every weight trains (``train.lora.r=null``);
* ``lora``: rank-r adapters through peft on the attention projections (the default
  ``train.lora.target_modules``);
* ``lora-ffn``: on the attention and the feed-forward projections.

Reported per variant: trainable and total parameters; the optimizer state (AdamW's
``exp_avg``/``exp_avg_sq``/``step`` tensors after the first step, summed exactly) and the
gradients' bytes; the activations autograd saves for the backward of one step (each
storage once, weights excluded); and the process's peak resident set size (``ru_maxrss``, Linux: KiB)
before training (model built, adapters injected) and after ``--steps`` training steps
(forward, backward, AdamW as gptlab builds it: ``gptlab.training.optim.make_adamw``).
``peak - before`` is what training added: gradients, optimizer state, activations and the
allocator's caches. RSS, not tracemalloc: torch allocates tensors outside Python's
allocator, which tracemalloc does not see.

    python bench/bench_lora.py                    # r=8, 20 steps
    python bench/bench_lora.py --rank 16 --steps 50 --json bench/results/lora.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {"full": None, "lora": ["qkv", "out_proj"], "lora-ffn": ["qkv", "out_proj", "up_proj", "down_proj"]}
VOCAB = 65  # tiny-shakespeare's characters


def tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def saved_for_backward(model, x) -> int:
    """Bytes autograd keeps from one forward for the backward (the activations), each
    storage once: weights it saves are counted too, as they are no extra memory."""
    import torch

    storages: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        _, loss = model(x[:, :-1], x[:, 1:])
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    del loss
    return sum(n for ptr, n in storages.items() if ptr not in weights)


def measure(variant: str, rank: int, steps: int) -> dict:
    """One variant, in this process: counts, optimizer state, peak RSS before and after training."""
    import torch
    from hydra import compose, initialize_config_dir

    from gptlab.config import to_dataclass
    from gptlab.model import GPT, GPTConfig
    from gptlab.model.lora import LoraConfig
    from gptlab.training.config import OptimConfig
    from gptlab.training.optim import make_adamw

    torch.set_num_threads(1)
    torch.manual_seed(0)
    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["experiment=shakespeare_char_cpu"])
    model = GPT(to_dataclass(GPTConfig, cfg.model, "model", vocab_size=VOCAB)).train()
    if VARIANTS[variant] is not None:
        from gptlab.model.lora import add_lora

        values = {**dict(cfg.train.lora), "r": rank, "target_modules": VARIANTS[variant]}
        add_lora(model, to_dataclass(LoraConfig, values, "train.lora"))
    optimizer = make_adamw(model, to_dataclass(OptimConfig, cfg.optim, "optim"), "cpu")
    batch, context = int(cfg.train.batch_size), int(cfg.model.context_size)
    before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randint(0, VOCAB, (batch, context + 1), generator=generator)
        _, loss = model(x[:, :-1], x[:, 1:])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)  # keep the gradients, to count them
    after_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    saved = saved_for_backward(model, x)
    params = list(model.parameters())
    trainable = [p for p in params if p.requires_grad]
    state = [t for s in optimizer.state.values() for t in s.values() if torch.is_tensor(t)]
    return {
        "variant": variant,
        "rank": rank if VARIANTS[variant] is not None else None,
        "trainable_params": sum(p.numel() for p in trainable),
        "total_params": sum(p.numel() for p in params),
        "optimizer_state_bytes": tensor_bytes(state),
        "gradient_bytes": tensor_bytes(p.grad for p in trainable if p.grad is not None),
        "saved_for_backward_bytes": saved,
        "rss_before_mib": before_kib / 1024,
        "rss_peak_mib": after_kib / 1024,
        "training_mib": (after_kib - before_kib) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--one", choices=list(VARIANTS), help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.rank, args.steps)))
        return
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO / "src"))
    rows = []
    for variant in VARIANTS:
        done = subprocess.run(
            [sys.executable, __file__, "--one", variant, "--rank", str(args.rank), "--steps", str(args.steps)],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"CPU recipe's model (experiment=shakespeare_char_cpu), batch 12 x 64, {args.steps} AdamW steps")
    print("| variant | trains | of | optimizer state | gradients | saved for backward | peak RSS before "
          "| peak RSS after | training added |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        name = r["variant"] if r["rank"] is None else f"{r['variant']} (r={r['rank']})"
        print(
            f"| {name} | {r['trainable_params']:,} | {r['total_params']:,}"
            f" | {r['optimizer_state_bytes'] / 2**10:,.1f} KiB"
            f" | {r['gradient_bytes'] / 2**10:,.1f} KiB | {r['saved_for_backward_bytes'] / 2**20:,.1f} MiB"
            f" | {r['rss_before_mib']:.1f} MiB | {r['rss_peak_mib']:.1f} MiB"
            f" | {r['training_mib']:.1f} MiB |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
