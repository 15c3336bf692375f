"""Experiments to compare: hand-made MLflow runs (seconds) and a sweep of real tiny trainings.

Used by tests/comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tests.helpers import run_stage

# The smoke preset, shortened: a run is a few seconds of CPU.
TINY = (
    "experiment=smoke", "data=file", "data.path=corpus.txt", "train.sample_every_n_val=0",
    "trainer.max_steps=20", "trainer.val_check_interval=10",
)  # fmt: skip


def train_sweep(tracking_uri: str, experiment: str, variants: Mapping[str, Sequence[str]]) -> dict[str, dict]:
    """Train one tiny run per variant (run name -> overrides) in the current directory,
    which must hold built data (see ``built_data``); the train reports by run name."""
    reports = {}
    for name, overrides in variants.items():
        reports[name] = run_stage(
            "train", *TINY, f"logger.tracking_uri={tracking_uri}", f"logger.experiment_name={experiment}",
            f"logger.run_name={name}", *overrides,
        )  # fmt: skip
    return reports


def log_run(
    client,
    experiment_id: str,
    name: str,
    params: Mapping[str, object],
    val_curve: Sequence[tuple[int, float]] = (),
    metrics: Mapping[str, float] | None = None,
    finished: bool = True,
) -> str:
    """A run as the train stage leaves it, without training: params, ``val/loss`` per
    step, and other metrics once."""
    run = client.create_run(experiment_id, run_name=name)
    run_id = run.info.run_id
    for key, value in params.items():
        client.log_param(run_id, key, value)
    for step, value in val_curve:
        client.log_metric(run_id, "val/loss", value, step=step)
    for key, value in (metrics or {}).items():
        client.log_metric(run_id, key, value, step=0)
    if finished:
        client.set_terminated(run_id)
    return run_id
