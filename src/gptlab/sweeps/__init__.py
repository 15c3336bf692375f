"""Hydra multirun sweeps: each job's own directories, DDP inside a sweep, per-job evaluation."""

from gptlab.sweeps.job import SweepJob, current_sweep_job, job_paths
from gptlab.sweeps.run_job import optimized_value, train_sweep_job

__all__ = ["SweepJob", "current_sweep_job", "job_paths", "optimized_value", "train_sweep_job"]
