"""The train stage's edge: the composed config -> the typed :class:`FitSettings` of a fit,
with the data keys following the built dataset (what the run records and registers)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

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
