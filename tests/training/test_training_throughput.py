"""Throughput: tokens/s over a window of steps, validation time excluded, and MFU.

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


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeModule:
    def __init__(self, device: str) -> None:
        self.device = torch.device(device)
        self.logged: list[tuple[str, float]] = []

    def log(self, name: str, value: float, **_: object) -> None:
        self.logged.append((name, value))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(callbacks.time, "perf_counter", clock)
    return clock


@pytest.fixture
def on_h100(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")


def _run(clock: Clock, module: FakeModule) -> Throughput:
    """Steps 1..4 from t=100, with a 2 s validation and a 0.5 s checkpoint write after step 2."""
    tp = Throughput(TOKENS_PER_STEP, FLOPS_PER_TOKEN, window=2, skip=1)
    trainer = SimpleNamespace(global_step=0)

    def step_end(step: int, t: float) -> None:
        clock.now, trainer.global_step = t, step
        tp.on_train_batch_end(trainer, module, None, None, 0)

    clock.now = 100.0
    tp.on_train_start(trainer, module)
    step_end(0, 100.5)  # still accumulating the first step: ignored
    step_end(1, 101.0)  # first step past `skip`: the steady window starts here
    step_end(2, 102.0)  # window of 2 steps: 2000 tokens in 2 s
    clock.now = 103.0
    tp.on_validation_start(trainer, module)
    clock.now = 105.0
    tp.on_validation_end(trainer, module)
    clock.now = 105.5  # Lightning's ModelCheckpoint writes after the other callbacks
    tp.on_train_batch_start(trainer, module, None, 0)
    step_end(3, 106.5)
    step_end(4, 108.5)  # 2000 tokens in 108.5 - 102 - 2.5 (validation + checkpoint) = 4 s
    clock.now = 110.0
    tp.on_train_end(trainer, module)
    return tp


def test_tokens_per_s_and_mfu_on_a_known_gpu(clock: Clock, on_h100: None) -> None:
    module = FakeModule("cuda")
    tp = _run(clock, module)
    h100 = 989e12
    assert module.logged == [
        ("train/tokens_per_s", pytest.approx(1000.0)),
        ("train/mfu", pytest.approx(1000.0 * 2e9 / h100)),
        ("train/tokens_per_s", pytest.approx(500.0)),
        ("train/mfu", pytest.approx(500.0 * 2e9 / h100)),
    ]
    # Steady state: steps 1 -> 4 (3000 tokens) over 110 - 101 - 2.5 s of validation and checkpoint = 6.5 s.
    assert tp.tokens_per_s == pytest.approx(3000 / 6.5)
    assert tp.mfu == pytest.approx(3000 / 6.5 * 2e9 / h100)
    clock.now = 112.0
    assert tp.wall_s == pytest.approx(12.0)


def test_no_mfu_without_a_known_peak(clock: Clock) -> None:
    module = FakeModule("cpu")
    tp = _run(clock, module)
    assert [name for name, _ in module.logged] == ["train/tokens_per_s", "train/tokens_per_s"]
    assert tp.tokens_per_s == pytest.approx(3000 / 6.5)
    assert tp.mfu is None


def test_too_short_a_run_reports_no_steady_rate(clock: Clock) -> None:
    tp = Throughput(TOKENS_PER_STEP, FLOPS_PER_TOKEN, window=10, skip=5)
    module, trainer = FakeModule("cpu"), SimpleNamespace(global_step=0)
    tp.on_train_start(trainer, module)
    for step in range(1, 4):
        clock.now, trainer.global_step = float(step), step
        tp.on_train_batch_end(trainer, module, None, None, 0)
    tp.on_train_end(trainer, module)
    assert module.logged == []
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
        ("NVIDIA H200", 989e12),
    ],
)
def test_peak_flops_by_device_name(monkeypatch: pytest.MonkeyPatch, name: str, peak: float | None) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    assert peak_flops(torch.device("cuda")) == peak
    assert peak_flops(torch.device("cpu")) is None
