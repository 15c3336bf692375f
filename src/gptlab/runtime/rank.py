"""Which process of a launch this is, before Lightning is imported.

The training opens its MLflow run before ``import lightning`` (tracking/sender.py), so it
cannot ask Lightning's ``rank_zero_only.rank``. It reads the same environment variables
Lightning reads for that value at import (``lightning.fabric.utilities.rank_zero._get_rank``,
in the same order): the variables a launcher (Lightning's own for DDP, torchrun, SLURM,
jsrun) sets for each process; none set means a process started by hand, rank 0.
"""

from __future__ import annotations

import os

RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def launch_rank() -> int:
    for name in RANK_VARIABLES:
        value = os.environ.get(name)
        if value is not None:
            return int(value)
    return 0
