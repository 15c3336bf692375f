"""The ``evaluate`` stage's routine: score the held-out splits, write the reports, track them."""

from __future__ import annotations

import logging
from pathlib import Path

from gptlab.config import PathsConfig
from gptlab.evaluation.config import EvalConfig
from gptlab.tracking import LoggerConfig

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
LOSS_PLOT = "plots/loss.png"
# Written by the train stage (its LossHistory callback).
TRAIN_LOSS_CSV = "plots/train_loss.csv"
VAL_LOSS_CSV = "plots/val_loss.csv"
# The floats logged to MLflow per split (the counts stay in metrics.json).
LOGGED = ("loss", "perplexity", "bits_per_token", "bits_per_char")


def evaluate_model(paths: PathsConfig, eval_cfg: EvalConfig, logger_cfg: LoggerConfig, progress: bool = True) -> dict:
    """Score, write the reports, log to MLflow; return the ``metrics.json`` content."""
    from gptlab.checkpoint import load_model_dir
    from gptlab.dataset import load_meta
    from gptlab.evaluation.dataset_eval import evaluate_dataset
    from gptlab.io import atomic_write_json
    from gptlab.runtime import resolve_device
    from gptlab.tracking import training_run
    from gptlab.tracking.datasets import log_evaluated_splits

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
    if eval_cfg.loss_by_position:
        from gptlab.dataset.integrity import open_split
        from gptlab.evaluation.position_loss import loss_by_position

        for split in report:
            tokens = open_split(paths.processed_dir, meta, split)
            at = loss_by_position(loaded.model, tokens, batch_size=eval_cfg.batch_size, device=device)
            report[split]["loss_by_position"] = list(at.loss)
    atomic_write_json(paths.report(METRICS_FILE), report)
    for split, m in results.items():
        log.info(
            "%s: loss=%.4f perplexity=%.2f bits/token=%.4f bits/char=%.4f (%s tokens, %s characters)",
            split, m.loss, m.perplexity, m.bits_per_token, m.bits_per_char, f"{m.tokens:,}", f"{m.characters:,}",
        )  # fmt: skip

    plot = loss_plot(paths, report)

    run_link = training_run(loaded.info, logger_cfg)
    if run_link is not None:
        step = int((loaded.info.get("training") or {}).get("steps", 0))
        run_link.log_metrics(
            {f"eval/{split}_{key}": values[key] for split, values in report.items() for key in LOGGED}, step=step
        )
        for split, values in report.items():
            if "loss_by_position" in values:
                run_link.log_series(f"eval/{split}_loss_at_position", values["loss_by_position"])
        run_link.log_artifact(plot, "plots")
        log_evaluated_splits(run_link.client, run_link.run_id, meta, paths.processed_dir, report)
        log.info("logged to MLflow run %s", run_link.run_id)
    return report


def loss_plot(paths: PathsConfig, report: dict) -> Path:
    """The train stage's loss curves, titled with the held-out bits/char."""
    from gptlab.evaluation.loss_history import read_loss_csv
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
