"""The environment of a command run through the environment's interpreter, not activated."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def not_activated(env: dict[str, str]) -> dict[str, str]:
    """``env`` without the running interpreter's ``bin/`` on ``PATH``: as for
    ``.venv/bin/python -m ...`` from an IDE, cron or a systemd unit."""
    here = Path(sys.executable).parent
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p) != here]
    return {**env, "PATH": os.pathsep.join(path)}
