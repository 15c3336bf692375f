"""Throughput: tokens/s per log interval and over the steady state, validation time
excluded, and MFU against the peak of the precision in use.

A fake clock drives the callback, so every expected number is plain arithmetic on the
times below.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from gptlab.training import callbacks
from gptlab.training.callbacks import Throughput, peak_flops

TOKENS_PER_STEP = 1000
FLOPS_PER_TOKEN = 2e9
H100_BF16 = 989e12


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(callbacks.time, "perf_counter", clock)
    return clock


@pytest.fixture
def on_h100(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)


def _run(clock: Clock, device: str, world_size: int = 1, precision: str = "bf16-mixed") -> tuple[Throughput, list]:
    """Log steps every 10 steps from t=100; a 2 s validation and a 0.5 s checkpoint write after step 10."""
    tp = Throughput(TOKENS_PER_STEP * world_size, FLOPS_PER_TOKEN, skip=5)
    trainer = SimpleNamespace(global_step=0, world_size=world_size, precision=precision, sanity_checking=True)
    module = SimpleNamespace(device=torch.device(device))
    marks = []
    clock.now = 90.0
    tp.on_validation_start(trainer, module)  # Lightning's sanity check, before training starts
    trainer.sanity_checking = False
    clock.now = 100.0
    tp.on_train_start(trainer, module)
    clock.now = 101.0
    marks.append(tp.mark(10))  # 10 steps in 1 s
    clock.now = 102.0
    tp.on_validation_start(trainer, module)
    clock.now = 104.5  # validation, then Lightning's ModelCheckpoint writes after the other callbacks
    tp.on_train_batch_start(trainer, module, None, 0)
    clock.now = 106.0
    marks.append(tp.mark(20))  # 10 steps in 106 - 101 - 2.5 (validation + checkpoint) = 2.5 s
    assert tp.mark(20) == {}  # the same step twice: nothing new
    clock.now = 108.5
    trainer.global_step = 25
    tp.on_train_end(trainer, module)  # 15 steps in 108.5 - 101 - 2.5 = 5 s since the steady state began
    return tp, marks


def test_tokens_per_s_and_mfu_on_a_known_gpu(clock: Clock, on_h100: None) -> None:
    tp, marks = _run(clock, "cuda")
    assert marks == [
        {"train/tokens_per_s": pytest.approx(10_000.0), "train/mfu": pytest.approx(10_000 * 2e9 / H100_BF16)},
        {"train/tokens_per_s": pytest.approx(4_000.0), "train/mfu": pytest.approx(4_000 * 2e9 / H100_BF16)},
    ]
    assert tp.tokens_per_s == pytest.approx(15_000 / 5)
    assert tp.mfu == pytest.approx(15_000 / 5 * 2e9 / H100_BF16)
    clock.now = 110.0
    assert tp.wall_s == pytest.approx(10.0)


def test_ddp_reports_all_ranks_tokens_and_each_devices_mfu(clock: Clock, on_h100: None) -> None:
    tp, marks = _run(clock, "cuda", world_size=2)
    assert marks[1]["train/tokens_per_s"] == pytest.approx(8_000.0)  # two ranks of 4,000
    assert marks[1]["train/mfu"] == pytest.approx(4_000 * 2e9 / H100_BF16)
    assert tp.tokens_per_s == pytest.approx(6_000.0)
    assert tp.mfu == pytest.approx(3_000 * 2e9 / H100_BF16)


def test_mfu_uses_the_peak_of_the_precision_in_use(clock: Clock, on_h100: None) -> None:
    tp, marks = _run(clock, "cuda", precision="32-true")
    assert tp.peak == pytest.approx(66.9e12)  # float32 products are true FP32 unless told otherwise
    assert marks[0]["train/mfu"] == pytest.approx(10_000 * 2e9 / 66.9e12)


def test_no_mfu_without_a_known_peak(clock: Clock) -> None:
    tp, marks = _run(clock, "cpu")
    assert [list(m) for m in marks] == [["train/tokens_per_s"], ["train/tokens_per_s"]]
    assert marks[1]["train/tokens_per_s"] == pytest.approx(4_000.0)
    assert tp.tokens_per_s == pytest.approx(3_000.0)
    assert tp.mfu is None


def test_too_short_a_run_reports_no_steady_rate(clock: Clock) -> None:
    tp = Throughput(TOKENS_PER_STEP, FLOPS_PER_TOKEN, skip=5)
    trainer = SimpleNamespace(global_step=0, world_size=1, precision="32-true", sanity_checking=False)
    module = SimpleNamespace(device=torch.device("cpu"))
    tp.on_train_start(trainer, module)
    clock.now, trainer.global_step = 3.0, 3
    tp.mark(3)  # before `skip`: not the steady state yet
    tp.on_train_end(trainer, module)
    assert tp.tokens_per_s is None and tp.mfu is None


@pytest.mark.parametrize(
    ("name", "peak"),
    [
        ("NVIDIA H100 80GB HBM3", 989e12),
        ("NVIDIA A100-SXM4-80GB", 312e12),
        ("NVIDIA A10G", 125e12),
        ("NVIDIA L4", 121e12),
        ("NVIDIA GeForce RTX 4090", 165e12),
        ("Tesla T4", None),
        ("NVIDIA L40S", None),  # not an L4: no made-up MFU
        ("NVIDIA H200", 989e12),  # the name an H200 reports; dense, not the sparse 2e15
    ],
)
def test_peak_flops_by_device_name(monkeypatch: pytest.MonkeyPatch, name: str, peak: float | None) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    assert peak_flops(torch.device("cuda"), "bf16-mixed") == peak
    assert peak_flops(torch.device("cpu"), "bf16-mixed") is None


def test_peak_flops_by_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA A100-SXM4-80GB")
    cuda = torch.device("cuda")
    assert peak_flops(cuda, "16-mixed") == peak_flops(cuda, "bf16-true") == 312e12
    assert peak_flops(cuda, "32-true") == 19.5e12
    assert peak_flops(cuda, "64-true") is None
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("high")  # TF32 products
        assert peak_flops(cuda, "32-true") == 156e12
    finally:
        torch.set_float32_matmul_precision(before)
