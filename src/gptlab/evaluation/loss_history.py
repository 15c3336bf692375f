"""Read back the ``train`` stage's loss curves (``reports/plots/{train,val}_loss.csv``)."""

from __future__ import annotations

import csv
from pathlib import Path

from gptlab.errors import DataError


def read_loss_csv(path: str | Path, column: str) -> list[tuple[int, float]]:
    """Rows ``(step, value)`` of a ``step,<column>`` CSV; a missing file is no rows."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None:
            return []
        if "step" not in reader.fieldnames or column not in reader.fieldnames:
            raise DataError(f"{path} must have columns step,{column}; found {','.join(reader.fieldnames)}")
        try:
            return [(int(row["step"]), float(row[column])) for row in reader]
        except (TypeError, ValueError) as exc:
            raise DataError(f"{path} has a malformed row ({exc}); rerun the train stage") from None
