"""The tuned comparison of models: ``python -m gptlab.baselines experiment=seed_models``.

    python -m gptlab.baselines experiment=seed_models data.path=tinyshakespeare.txt
    python -m gptlab.baselines experiment=seed_models_quick          # minutes, for the tests

For each model of the preset's ``baselines.models``, its Optuna search on the validation
split (one sweep, one MLflow parent run); then every model at its best setting over seeds,
scored on the test split (one sweep); then ``python -m gptlab.compare`` on that sweep.
Writes ``<sweep_dir>/tuned.json`` and ``<out_dir>/comparison.md``, ``comparison.png`` and
``seeds.png``. Config: ``conf/baselines.yaml``.
"""

from __future__ import annotations

from typing import Any

from gptlab.cli import hydra_entry

OWN_KEYS = ("sweep_dir", "out_dir")  # conf/baselines.yaml's: not given to the steps


def plan(cfg: Any, task_overrides: tuple[str, ...]):
    from omegaconf import OmegaConf

    from gptlab.errors import ConfigError
    from gptlab.sweeps.tuned_comparison import ComparisonPlan

    section = cfg.get("baselines")
    experiment = next((o.partition("=")[2] for o in task_overrides if o.startswith("experiment=")), None)
    if section is None or experiment is None:
        raise ConfigError("choose a preset with a baselines: section, e.g. experiment=seed_models or experiment=seed_models_quick")
    if not cfg.logger.enabled:
        raise ConfigError("the tuned comparison reads its sweeps back from MLflow: leave logger.enabled=true")
    raw = OmegaConf.to_container(section, resolve=True)
    forwarded = tuple(o for o in task_overrides if o.partition("=")[0].lstrip("+~") not in ("experiment", *OWN_KEYS))
    return ComparisonPlan(
        search_experiment=experiment,
        final_experiment=str(raw.get("final_experiment") or ""),
        models=tuple(str(m) for m in raw.get("models") or ()),
        sweep_dir=str(cfg.sweep_dir),
        overrides=forwarded,
        search_overrides={str(k): tuple(str(o) for o in v) for k, v in (raw.get("search_overrides") or {}).items()},
    )


def run(cfg: Any) -> dict:
    from hydra.core.hydra_config import HydraConfig

    from gptlab.comparison import CompareSettings, compare
    from gptlab.sweeps.tuned_comparison import run_comparison

    summary = run_comparison(plan(cfg, tuple(HydraConfig.get().overrides.task)))
    result = compare(
        CompareSettings(
            experiment_name=str(cfg.logger.experiment_name),
            tracking_uri=str(cfg.logger.tracking_uri),
            out_dir=str(cfg.out_dir),
            sweep=summary["final_parent_run"],
        )
    )
    print(result.markdown.read_text(encoding="utf-8"), end="", flush=True)
    return summary


def main() -> None:
    hydra_entry(run, config_name="baselines")


if __name__ == "__main__":
    main()
