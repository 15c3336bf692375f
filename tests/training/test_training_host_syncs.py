"""A steady-state training step never waits on the host: at most one read per log interval.

Every ``.item()``, ``bool()``, ``float()`` of a tensor reaches the dispatcher as
``aten._local_scalar_dense``; on a GPU each one waits for the device to finish all the
work queued so far, so the host can no longer run ahead. They are counted here on the
CPU, over two fits that differ only in ``max_steps``: whatever set-up, validation and
end-of-run reads a fit makes are the same in both, so the difference is what the extra
steps cost.

Left out: the foreach AdamW's reads of its own step counters on the CPU
(``optim.fused=false``: ``torch.optim`` calls ``.item()`` on them in every step; the
fused AdamW, which ``optim.fused=auto`` picks on the CPU and on CUDA, keeps them in its
kernel, and on CUDA ``bench/bench_gpu.py`` checks the whole step with
``torch.cuda.set_sync_debug_mode("error")``). A read is the optimizer's when the code
that asked for it, the innermost Python frame outside the dispatch machinery, is in
``torch/optim/``; a read made by ``training_step``, which Lightning runs inside
``optimizer.step`` as a closure, is still counted.
"""

from __future__ import annotations

import collections
import os
import sys
from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from tests.helpers import copy_built, run_stage

LOG_EVERY = 50
STEPS = (60, 160)  # 100 steps apart: two log intervals
RUN = ("experiment=smoke", "data=file", "data.path=corpus.txt", "train.sample_every_n_val=0",
       f"trainer.log_every_n_steps={LOG_EVERY}", "trainer.val_check_interval=1000",
       "trainer.enable_progress_bar=true")  # fmt: skip

# Frames between a read and the code that asked for it: the dispatcher, and torch's
# decorators (``torch._disable_dynamo`` wraps the optimizer's step-counter reads).
_PLUMBING = tuple(os.sep + os.path.join("torch", *p.split("/")) for p in (
    "_ops.py", "utils/_python_dispatch.py", "_tensor.py", "_dynamo/eval_frame.py", "_compile.py"))  # fmt: skip
_OPTIM = os.sep + os.path.join("torch", "optim") + os.sep


class HostReads(TorchDispatchMode):
    """Counts reads of tensor values into Python numbers, by the code that asked for them."""

    def __init__(self) -> None:
        super().__init__()
        self.sites: collections.Counter[str] = collections.Counter()
        self.optimizer_reads = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default or func is torch.ops.aten.item.default:
            site = self._caller()
            if _OPTIM in site:
                self.optimizer_reads += 1
            else:
                self.sites[site] += 1
        return func(*args, **(kwargs or {}))

    @staticmethod
    def _caller() -> str:
        frame = sys._getframe(2)
        while frame is not None and (frame.f_code.co_filename == __file__ or
                                     frame.f_code.co_filename.endswith(_PLUMBING)):  # fmt: skip
            frame = frame.f_back
        return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else "?"

    @property
    def count(self) -> int:
        return sum(self.sites.values())


def count_reads(root: Path, steps: int, *extra: str) -> HostReads:
    reads = HostReads()
    with reads:
        run_stage("train", *RUN, f"trainer.max_steps={steps}", *extra)
    return reads


@pytest.mark.parametrize("extra", [("logger=mlflow",), ("logger=none", "optim.fused=false")])
def test_at_most_one_host_read_per_log_interval(built_data, workdir, extra):
    root = copy_built(built_data, workdir)
    extra = (*extra, f"logger.tracking_uri=sqlite:///{root}/mlflow.db")
    short, long = (count_reads(root, steps, *extra) for steps in STEPS)
    extra_reads = long.count - short.count
    intervals = (STEPS[1] - STEPS[0]) // LOG_EVERY
    diff = long.sites - short.sites
    assert extra_reads <= intervals, (
        f"{extra_reads} host reads in {STEPS[1] - STEPS[0]} more steps (at most {intervals}): {diff.most_common(8)}"
    )
    # The counter sees reads at all: the log-interval reads (and the foreach AdamW's own).
    assert extra_reads == intervals
    if "optim.fused=false" in extra:
        assert long.optimizer_reads > short.optimizer_reads


def test_the_counter_sees_item_bool_and_float():
    reads = HostReads()
    x = torch.tensor([1.5])
    with reads:
        x.item(), bool(x), float(x), x.sum().item()
    assert reads.count == 4
