"""Stage ``train``: fit the GPT on the built dataset (Lightning), tracked in MLflow.

    python -m gptlab.train
    python -m gptlab.train experiment=smoke trainer.devices=2 trainer.strategy=ddp trainer.accelerator=cpu
    python -m gptlab.train train.resume=last
    python -m gptlab.train -m model.n_layer=2,4 optim.lr=1e-3,3e-4      # a sweep: one MLflow run per job
    python -m gptlab.train hparams_search=optuna                        # Optuna minimises val_loss

Writes ``artifacts/train/``, ``artifacts/model/``, ``reports/train.json`` and the loss plots
(a sweep job under its own directory: :mod:`gptlab.sweeps`).
"""

from __future__ import annotations

from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import to_dataclass


def run(cfg: Any) -> Any:
    """Train; return the report, or the ``optimized_metric`` value for a sweeper."""
    from gptlab.evaluation import EvalConfig
    from gptlab.sweeps import current_sweep_job, optimized_value, train_sweep_job
    from gptlab.training.fit import fit
    from gptlab.training.settings import fit_settings

    settings = fit_settings(cfg)
    job = current_sweep_job()
    if job is None:
        report = fit(settings)
    else:
        report = train_sweep_job(settings, job, to_dataclass(EvalConfig, cfg.evaluate, "evaluate"))
    return optimized_value(report, cfg.get("optimized_metric"))


def main() -> None:
    import warnings

    # Lightning's own pytree helper trips a torch deprecation no user can act on.
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning)
    hydra_entry(run)


if __name__ == "__main__":
    main()
