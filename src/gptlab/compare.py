"""Compare the MLflow runs of an experiment: ``python -m gptlab.compare``.

    python -m gptlab.compare                          # experiment `gptlab` in sqlite:///mlflow.db
    python -m gptlab.compare experiment_name=sweep1   # another MLflow experiment
    python -m gptlab.compare experiment_name=sweep1 tracking_uri=http://mlflow.example:5000 out_dir=reports/sweep1
    python -m gptlab.compare sweep=latest             # the newest sweep's runs (python -m gptlab.train -m ...)
    python -m gptlab.compare sweep=<parent run id>    # one sweep's runs, by its MLflow parent run

Writes ``<out_dir>/comparison.md`` (one row per run, best first, with the config keys that
differ; also printed) and ``comparison.png``. Config: ``conf/compare.yaml`` (each key
explained there; ``experiment_name``, since ``experiment=`` is Hydra's preset group).
"""

from __future__ import annotations

from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config.sections import tool_settings


def settings(cfg: Any):
    from gptlab.comparison import CompareSettings

    return tool_settings(CompareSettings, cfg, "compare")


def run(cfg: Any):
    from gptlab.comparison import compare

    result = compare(settings(cfg))
    print(result.markdown.read_text(encoding="utf-8"), end="", flush=True)
    return result


def main() -> None:
    hydra_entry(run, config_name="compare")


if __name__ == "__main__":
    main()
