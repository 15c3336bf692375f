"""The log step: one read of the loss per interval, the divergence guard kept on the
device, and what the loggers, the loss curve and the checkpoints get from it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from gptlab.errors import TrainingDiverged
from gptlab.model import GPTConfig
from gptlab.training.callbacks import LossHistory, StepLog, Throughput
from gptlab.training.config import OptimConfig
from gptlab.training.module import GPTLightningModule
from tests.helpers import conf_section, model_config


def make_module() -> GPTLightningModule:
    optim = conf_section(OptimConfig, "optim")
    module = GPTLightningModule(model_config("tiny", vocab_size=11), optim, max_steps=100)
    module.on_train_start()
    return module


def _step(module: GPTLightningModule, loss: float) -> None:
    """One ``training_step`` whose model computes ``loss``."""
    module.model.forward = lambda idx, targets: (None, torch.tensor(loss, requires_grad=True))
    x = torch.randint(0, 11, (2, 8))
    assert float(module.training_step((x, x), 0)) == pytest.approx(loss, nan_ok=True)


def test_a_training_step_keeps_its_loss_on_the_device() -> None:
    module = make_module()
    x = torch.randint(0, 11, (2, 8))
    loss = module.training_step((x, x), 0)
    assert module._last_loss is not None and not module._last_loss.requires_grad
    assert module.read_train_loss() == pytest.approx(float(loss.detach()))


def test_a_nan_between_two_reads_is_caught_at_the_next_one() -> None:
    module = make_module()
    _step(module, 2.0)
    assert module.read_train_loss() == 2.0
    for loss in (1.9, float("nan"), 1.8):  # the last loss is fine again: the sum remembers
        _step(module, loss)
    with pytest.raises(TrainingDiverged, match=r"^loss is nan at step 0 or before"):
        module.read_train_loss()


def test_inf_is_caught_too_and_nothing_is_saved() -> None:
    module = make_module()
    _step(module, float("inf"))
    with pytest.raises(TrainingDiverged, match="loss is inf"):
        module.on_save_checkpoint({})  # Lightning calls it before a checkpoint is written
    with pytest.raises(TrainingDiverged):
        module.raise_if_diverged()


def test_a_finite_run_saves_and_reads_nothing_extra() -> None:
    module = make_module()
    _step(module, 1.5)
    module.on_save_checkpoint({})
    module.raise_if_diverged()
    assert module.read_train_loss() == 1.5  # the sum was not reset by the checks


class FakeModule:
    def __init__(self, losses: list[float]) -> None:
        self.losses = losses
        self.reads = 0
        self.device = torch.device("cpu")

    def read_train_loss(self) -> float:
        self.reads += 1
        value = self.losses.pop(0)
        if value != value:
            raise TrainingDiverged("loss is nan")
        return value

    def lr_at(self, step: int) -> float:
        return 1e-3 * (step + 1)


class FakeLogger:
    def __init__(self) -> None:
        self.rows: list[tuple[int, dict]] = []

    def log_metrics(self, metrics: dict, step: int) -> None:
        self.rows.append((step, dict(metrics)))


def _fit(module: FakeModule, steps: list[int], every: int = 5, tmp_path=None):
    history = LossHistory(tmp_path)
    throughput = Throughput(tokens_per_step=100, flops_per_token=1.0)
    log = StepLog(every, history, throughput)
    waits = []
    logger = FakeLogger()
    trainer = SimpleNamespace(global_step=0, world_size=1, precision="32-true", is_global_zero=True, loggers=[logger],
                              strategy=SimpleNamespace(checkpoint_io=SimpleNamespace(wait=lambda: waits.append(1))))
    throughput.on_train_start(trainer, module)
    log.on_train_start(trainer, module)
    for step in steps:  # global_step after each training batch
        trainer.global_step = step
        log.on_train_batch_end(trainer, module, None, None, 0)
    return log, history, logger, waits


def test_log_steps_read_once_and_feed_the_curve_the_loggers_and_the_bar(tmp_path) -> None:
    module = FakeModule([2.0, 1.5])
    # Gradient accumulation: several batch ends per step; only steps 5 and 10 are log steps.
    log, history, logger, waits = _fit(module, [1, 2, 3, 4, 5, 5, 6, 7, 8, 9, 10, 10, 11], tmp_path=tmp_path)
    assert module.reads == 2
    assert history.train == [(5, 2.0), (10, 1.5)]
    assert [step for step, _ in logger.rows] == [5, 10]
    step, row = logger.rows[1]
    assert row["train/loss"] == 1.5 and row["train/lr"] == pytest.approx(1e-3 * 10)  # the lr step 10 used
    assert row["train/tokens_per_s"] > 0
    assert all(isinstance(v, float) for v in row.values())  # plain numbers, never tensors
    assert log.latest == row
    assert len(waits) == 2  # pending checkpoint writes are waited for at each log step


def test_a_diverged_loss_stops_at_the_log_step(tmp_path) -> None:
    module = FakeModule([2.0, float("nan")])
    with pytest.raises(TrainingDiverged):
        _fit(module, list(range(1, 11)), tmp_path=tmp_path)
