"""Which sweep job this process is, and where its outputs go.

The one place that reads Hydra's runtime state (``HydraConfig``); everything after it
works on the plain :class:`SweepJob`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from gptlab.config import PathsConfig


@dataclass(frozen=True)
class SweepJob:
    out_dir: Path  # the job's own directory, multirun/<stage>/<time>/<num>
    sweep_id: str  # the sweep's directory, shared by its jobs
    num: int
    task_overrides: tuple[str, ...]  # this job's overrides, e.g. ("optim.lr=1e-3",)

    @property
    def tags(self) -> dict[str, str]:
        return {"sweep_id": self.sweep_id, "sweep_job": str(self.num)}


def current_sweep_job() -> SweepJob | None:
    """This job, when running inside a Hydra sweep (``-m``); None otherwise."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
    except (ImportError, ValueError):
        return None
    if hc.mode != RunMode.MULTIRUN:
        return None
    return SweepJob(
        out_dir=Path(hc.runtime.output_dir),
        sweep_id=str(hc.sweep.dir),
        num=int(hc.job.num),
        task_overrides=tuple(hc.overrides.task),
    )


def job_paths(paths: PathsConfig, job_dir: Path) -> PathsConfig:
    """A sweep job's own train/model/report directories; the data stays shared."""
    return dataclasses.replace(
        paths,
        train_dir=str(job_dir / "train"),
        model_dir=str(job_dir / "model"),
        reports_dir=str(job_dir / "reports"),
    )
