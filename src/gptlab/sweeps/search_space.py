"""Settings that follow a sampled one in an Optuna sweep (the sweeper's ``custom_search_space``)."""

from __future__ import annotations

from typing import Any


def min_lr_tenth(cfg: Any, trial: Any) -> None:
    """``optim.min_lr`` = ``optim.lr`` / 10 in every trial, the defaults' ratio (1e-3 -> 1e-4).

    A one-point distribution: Optuna records it with the trial and the sweeper passes it on
    as an override, with no sampling of its own.
    """
    min_lr = float(f"{float(trial.params['optim.lr']) / 10:.6g}")  # 3.16e-4, not 3.1600000000000004e-4
    trial.suggest_float("optim.min_lr", min_lr, min_lr)
