"""Compare the MLflow runs of an experiment: ``python -m gptlab.compare``.

    python -m gptlab.compare                          # experiment `gptlab` in sqlite:///mlflow.db
    python -m gptlab.compare experiment_name=sweep1   # another MLflow experiment
    python -m gptlab.compare experiment_name=sweep1 tracking_uri=http://mlflow.example:5000 out_dir=reports/sweep1
    python -m gptlab.compare sweep=latest             # the newest sweep's runs (python -m gptlab.train -m ...)
    python -m gptlab.compare sweep=<parent run id>    # one sweep's runs, by its MLflow parent run

Writes ``<out_dir>/comparison.md`` (one row per run, lowest ``eval/val_bits_per_char``
first, runs the evaluate stage did not score after them by ``val/loss``: run name,
the config keys whose values differ between the runs, final ``val/loss``,
``eval/val_bits_per_char`` when the evaluate stage logged it, parameter count when the
run recorded one (metric ``model/params``), last ``train/tokens_per_s``, wall time =
run end - start) and ``<out_dir>/comparison.png`` (validation-loss curves overlaid;
final bits per character -- validation loss where missing -- against parameter count,
log x). The table is also printed on stdout.

Config: ``conf/compare.yaml`` (each key explained there): the main config plus
``experiment_name`` (not ``experiment=``, Hydra's preset group), ``tracking_uri``,
``out_dir`` and ``sweep`` (a sweep's parent run id or ``latest``: its child runs only).

An unknown or empty experiment, or a ``sqlite:///`` store that does not exist, is one
line naming it (and the experiments that do exist) and exit code 2.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import to_dataclass


def settings(cfg: Any):
    from gptlab.comparison import CompareSettings

    keys = [f.name for f in dataclasses.fields(CompareSettings)]
    return to_dataclass(CompareSettings, {k: cfg.get(k) for k in keys}, "compare")


def run(cfg: Any):
    from gptlab.comparison import compare

    result = compare(settings(cfg))
    print(result.markdown.read_text(encoding="utf-8"), end="", flush=True)
    return result


def main() -> None:
    hydra_entry(run, config_name="compare")


if __name__ == "__main__":
    main()
