"""Which sweep job this process is, and where its outputs go: the one place that reads
``HydraConfig``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from gptlab.config import PathsConfig
from gptlab.sweeps.parent_run import JOB_TAG, PARENT_RUN_ID_TAG, SWEEP_ID_TAG, SweepParent, child_run_name, read_parent


@dataclass(frozen=True)
class SweepJob:
    out_dir: Path  # the job's own directory, multirun/<stage>/<time>/<num>
    sweep_id: str  # the sweep's directory, shared by its jobs
    num: int
    task_overrides: tuple[str, ...]  # this job's overrides, e.g. ("optim.lr=1e-3",)
    # The sweep's MLflow parent run (None: tracking off, or a sweep started without it).
    parent: SweepParent | None = None
    # The job's config as Hydra saved it, what its DDP workers run (None: no output_subdir).
    saved_config: Path | None = None

    @property
    def tags(self) -> dict[str, str]:
        tags = {SWEEP_ID_TAG: self.sweep_id, JOB_TAG: str(self.num)}
        if self.parent is not None:
            tags[PARENT_RUN_ID_TAG] = self.parent.run_id  # nests the job's run under the sweep's
        return tags

    @property
    def run_name(self) -> str:
        """The values this job gives the swept keys, e.g. ``lr=3e-3,n_layer=2``."""
        keys = self.parent.swept_keys if self.parent is not None else ()
        return child_run_name(self.task_overrides, keys, self.num)


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
        parent=read_parent(str(hc.sweep.dir)),
        saved_config=Path(hc.runtime.output_dir) / hc.output_subdir / "config.yaml" if hc.output_subdir else None,
    )


def job_paths(paths: PathsConfig, job_dir: Path) -> PathsConfig:
    """A sweep job's own train/model/report directories; the data stays shared."""
    return dataclasses.replace(
        paths,
        train_dir=str(job_dir / "train"),
        model_dir=str(job_dir / "model"),
        reports_dir=str(job_dir / "reports"),
    )
