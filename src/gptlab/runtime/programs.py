"""The programs gptlab starts are looked up in the running interpreter's environment first:
run without activating it (``.venv/bin/python -m gptlab.serve``), a child looking up
``uvicorn`` on ``PATH`` would find another environment's copy, or none.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from gptlab.errors import MissingProgramError


def interpreter_bin() -> Path | None:
    """The running interpreter's directory (None when Python cannot tell), not resolved: a
    virtual environment's ``bin/python`` links to the base interpreter's."""
    return Path(sys.executable).parent if sys.executable else None


def search_path(path: str | None) -> str:
    """``path`` (a ``PATH`` value) with the interpreter's directory first, once."""
    parts = [p for p in (path or "").split(os.pathsep) if p]
    first = interpreter_bin()
    if first is None:
        return os.pathsep.join(parts)
    return os.pathsep.join([str(first), *(p for p in parts if p != str(first))])


def child_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default: this process's environment) for a child process,
    its ``PATH`` starting with the interpreter's directory."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = search_path(env.get("PATH"))
    return env


def find_program(name: str, install: str, env: Mapping[str, str] | None = None) -> str:
    """Where a child started with ``env`` (default: :func:`child_env`) finds ``name``; else an
    error ending with ``install``, how to get it (e.g. ``"pip install uvicorn"``)."""
    path = (child_env() if env is None else env).get("PATH")
    found = shutil.which(name, path=path)
    if found is None:
        where = interpreter_bin()
        raise MissingProgramError(
            f"{name} is not installed: not in {where} (this Python's environment) nor on PATH; {install}"
        )
    return found


def pip_install(package: str) -> str:
    """How to install ``package`` into the running interpreter's environment."""
    return f"install it with: {sys.executable} -m pip install {package}"
