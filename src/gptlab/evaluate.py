"""Stage ``evaluate``: score the model on the whole val and test splits.

    python -m gptlab.evaluate
    python -m gptlab.evaluate evaluate.stride=32 evaluate.batch_size=64
    python -m gptlab.evaluate evaluate.model_dir=PATH     # another model, same dataset

Every token after the first of each split is scored exactly once (see
:mod:`gptlab.evaluation.windows`). Writes ``reports/metrics.json``
(``{"val": {...}, "test": {...}}``: loss in nats/token, perplexity, bits/token,
bits/char, and the token and character counts scored) and the loss-curve picture
``reports/plots/loss.png``; both go to the model's MLflow training run as well
(``eval/<split>_<metric>`` at the model's final training step, and ``plots/loss.png``).
An empty split (e.g. ``data.split.test=0``) is skipped and left out of the report.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import PathsConfig, to_dataclass

log = logging.getLogger("gptlab.evaluate")

METRICS_FILE = "metrics.json"
LOSS_PLOT = "plots/loss.png"
# Written by the train stage (its LossHistory callback).
TRAIN_LOSS_CSV = "plots/train_loss.csv"
VAL_LOSS_CSV = "plots/val_loss.csv"
# The floats logged to MLflow per split (the counts stay in metrics.json).
LOGGED = ("loss", "perplexity", "bits_per_token", "bits_per_char")


def run(cfg: Any) -> dict:
    from gptlab.evaluation import EvalConfig
    from gptlab.training.config import LoggerConfig

    paths = to_dataclass(PathsConfig, cfg.paths, "paths")
    eval_cfg = to_dataclass(EvalConfig, cfg.evaluate, "evaluate")
    logger_cfg = to_dataclass(LoggerConfig, cfg.logger, "logger")
    return evaluate(paths, eval_cfg, logger_cfg)


def evaluate(paths: PathsConfig, eval_cfg: Any, logger_cfg: Any, progress: bool = True) -> dict:
    """Score, write the reports, log to MLflow; return the ``metrics.json`` content."""
    from gptlab.checkpoint import load_model_dir
    from gptlab.dataset import load_meta
    from gptlab.evaluation import evaluate_dataset, resolve_device, training_run
    from gptlab.io import atomic_write_json

    meta = load_meta(paths.dataset_meta)
    device = resolve_device(eval_cfg.device)
    loaded = load_model_dir(eval_cfg.model_dir, device=device)
    results = evaluate_dataset(
        loaded,
        paths.processed_dir,
        meta,
        eval_cfg.splits,
        batch_size=eval_cfg.batch_size,
        stride=eval_cfg.stride,
        device=device,
        progress=progress,
    )
    report = {split: m.to_dict() for split, m in results.items()}
    atomic_write_json(paths.report(METRICS_FILE), report)
    for split, m in results.items():
        log.info(
            "%s: loss=%.4f perplexity=%.2f bits/token=%.4f bits/char=%.4f (%s tokens, %s characters)",
            split, m.loss, m.perplexity, m.bits_per_token, m.bits_per_char, f"{m.tokens:,}", f"{m.characters:,}",
        )  # fmt: skip

    plot = _loss_plot(paths, report)

    run_link = training_run(loaded.info, logger_cfg)
    if run_link is not None:
        step = int((loaded.info.get("training") or {}).get("steps", 0))
        run_link.log_metrics(
            {f"eval/{split}_{key}": values[key] for split, values in report.items() for key in LOGGED}, step=step
        )
        run_link.log_artifact(plot, "plots")
        log.info("logged to MLflow run %s", run_link.run_id)
    return report


def _loss_plot(paths: PathsConfig, report: dict) -> Path:
    """The train stage's loss curves, titled with the held-out bits/char."""
    from gptlab.evaluation import read_loss_csv
    from gptlab.reporting.loss_plot import plot_loss_curves

    train = read_loss_csv(paths.report(TRAIN_LOSS_CSV), "train_loss")
    val = read_loss_csv(paths.report(VAL_LOSS_CSV), "val_loss")
    if not train and not val:
        # Still drawn (empty): dvc.yaml declares the picture as an output.
        log.warning("no loss history in %s (train the model with the train stage): the loss plot is empty",
                    paths.report("plots"))  # fmt: skip
    scores = ", ".join(f"{split} {values['bits_per_char']:.3f}" for split, values in report.items())
    title = f"loss (held-out bits/char: {scores})" if scores else "loss"
    return plot_loss_curves(train, val, paths.report(LOSS_PLOT), title=title)


def main() -> None:
    hydra_entry(run)


if __name__ == "__main__":
    main()
