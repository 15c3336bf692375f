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

import dataclasses
import os
from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import PathsConfig, to_dataclass
from gptlab.config.sections import plain


def fit_settings(cfg: Any):
    """The typed settings of a fit, from the composed config."""
    from gptlab.dataset import load_meta
    from gptlab.tracking import LoggerConfig, normalize_tracking_uri
    from gptlab.training.config import OptimConfig, SeedConfig, TrainConfig, TrainerConfig
    from gptlab.training.fit import FitSettings
    from gptlab.training.init_from import model_config

    paths = to_dataclass(PathsConfig, cfg.paths, "paths")
    train = to_dataclass(TrainConfig, cfg.train, "train")
    # Checked before the dataset is read: a bad value is named even where there is none.
    trainer = to_dataclass(TrainerConfig, cfg.trainer, "trainer")
    optim = to_dataclass(OptimConfig, cfg.optim, "optim")
    seed = to_dataclass(SeedConfig, {"seed": cfg.seed}, "").seed
    meta = load_meta(paths.dataset_meta)
    cfg = follow_dataset(cfg, meta, train.data_from_dataset, str(paths.processed_dir))
    # With train.init_from, the pretrained model's config (gptlab.training.init_from).
    model = model_config(cfg.model, train.init_from, meta.vocab_size)
    resolved = plain(cfg)
    if train.init_from:  # the run records the model that trained, not the model section's
        resolved["model"] = model.to_dict()
    logger = to_dataclass(LoggerConfig, cfg.logger, "logger")
    dvc_exp = os.environ.get("DVC_EXP_NAME")
    return FitSettings(
        paths=paths,
        model=model,
        trainer=trainer,
        optim=optim,
        train=train,
        logger=dataclasses.replace(logger, tracking_uri=normalize_tracking_uri(logger.tracking_uri)),
        seed=seed,
        resolved_config=resolved,
        tags={"dvc_exp_name": dvc_exp} if dvc_exp else {},
    )


def follow_dataset(cfg: Any, meta: Any, from_dataset: bool, where: str) -> Any:
    """A copy of ``cfg`` whose data keys are the dataset's own, so that what is recorded
    and the registered model name (``${data.source}``) follow the data that trains."""
    import copy

    from omegaconf import OmegaConf, open_dict

    from gptlab.training.lineage import dataset_data_config

    data = {k: OmegaConf.select(cfg, f"data.{k}", default=None, throw_on_missing=False) for k in ("source", "path", "url")}
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        for key, value in dataset_data_config(meta, data, str(cfg.tokenizer.kind), from_dataset, where).items():
            OmegaConf.update(cfg, key, value)
    return cfg


def run(cfg: Any) -> Any:
    """Train; return the report, or the ``optimized_metric`` value for a sweeper."""
    from gptlab.evaluation import EvalConfig
    from gptlab.sweeps import current_sweep_job, optimized_value, train_sweep_job
    from gptlab.training.fit import fit

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
