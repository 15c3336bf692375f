"""The Optuna sweeper's custom search space (conf/experiment/seed_models.yaml), on a real
Optuna study: the grid point sampled first, then ``min_lr_tenth`` on the same trial."""

from __future__ import annotations

import pytest

from gptlab.sweeps.search_space import min_lr_tenth

GRID = [0.000316, 0.00316, 0.0178]


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_every_grid_trial_gets_a_tenth_of_its_rate_as_min_lr():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.GridSampler({"optim.lr": GRID}))
    seen = []

    def objective(trial):
        lr = trial.suggest_categorical("optim.lr", GRID)  # the sweeper's choice(...)
        min_lr_tenth(None, trial)
        seen.append((lr, trial.params["optim.min_lr"]))
        return lr

    study.optimize(objective, n_trials=len(GRID))
    # printed as typed: 3.16e-05, not 3.1600000000000004e-05 (the override the job gets)
    assert sorted(seen) == [(0.000316, 3.16e-05), (0.00316, 0.000316), (0.0178, 0.00178)]
    assert [str(m) for _, m in sorted(seen)] == ["3.16e-05", "0.000316", "0.00178"]
    assert study.best_trial.params == {"optim.lr": 0.000316, "optim.min_lr": 3.16e-05}
