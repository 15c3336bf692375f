"""Shared plumbing for gptlab's pictures: headless pyplot, atomic PNG writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gptlab.io import atomic_path


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display on servers and CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, out: str | Path) -> Path:
    """Write ``fig`` as a PNG (temp file, then rename) and close it."""
    out = Path(out)
    try:
        with atomic_path(out, suffix=".png") as tmp:
            fig.savefig(tmp, format="png")
    finally:
        pyplot().close(fig)
    return out
