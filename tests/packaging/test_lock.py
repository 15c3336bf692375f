"""requirements/lock.txt stays true to pyproject.toml: every requirement of the project and
of its extras is pinned there, at a version inside its range (markers evaluated for
CPython 3.11 on Linux, the lock's platform). Refresh with requirements/refresh-lock.sh."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements" / "lock.txt"
# The README installs torch on its own, before the project: the lock leaves it out.
NOT_LOCKED = {"torch"}
LOCK_ENV = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux",
            "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
            "implementation_name": "cpython", "platform_python_implementation": "CPython"}  # fmt: skip


def read_lock(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)", line)
        if m:
            pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def project_requirements(pyproject: dict) -> list[tuple[str, Requirement]]:
    project = pyproject["project"]
    reqs = [("dependencies", Requirement(r)) for r in project["dependencies"]]
    for extra, items in project.get("optional-dependencies", {}).items():
        reqs += [(f"[{extra}]", Requirement(r)) for r in items]
    return reqs


def stale_pins(pyproject: dict, pins: dict[str, str]) -> list[str]:
    """One line per requirement the lock does not satisfy."""
    problems = []
    for where, req in project_requirements(pyproject):
        name = canonicalize_name(req.name)
        if name in NOT_LOCKED or (req.marker and not req.marker.evaluate({**LOCK_ENV, "extra": ""})):
            continue
        if name not in pins:
            problems.append(f"{req} ({where}) is not in the lock")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{req} ({where}) but the lock pins {name}=={pins[name]}")
    return problems


def test_the_lock_satisfies_every_requirement_of_pyproject():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    problems = stale_pins(pyproject, read_lock(LOCK.read_text()))
    assert not problems, "requirements/lock.txt is stale; run requirements/refresh-lock.sh:\n" + "\n".join(problems)


def test_the_lock_leaves_torch_to_the_readme():
    assert "torch" not in read_lock(LOCK.read_text())


@pytest.mark.parametrize(
    ("dependency", "expected"),
    [
        ("numpy>=99", "numpy>=99 (dependencies) but the lock pins numpy=="),  # a range changed
        ("no-such-package>=1", "no-such-package>=1 (dependencies) is not in the lock"),  # one added
    ],
)
def test_a_stale_lock_is_named(dependency, expected):
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    pyproject["project"]["dependencies"].append(dependency)
    problems = stale_pins(pyproject, read_lock(LOCK.read_text()))
    assert len(problems) == 1 and problems[0].startswith(expected)


def test_the_readme_and_ci_install_from_the_lock():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^python3 -m venv .*$", readme, flags=re.M)[:2]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    installs = [*commands, *re.findall(r"^python -m pip install .*-e .*$", ci, flags=re.M)]
    assert len(installs) == 3
    for line in installs:
        assert "-c requirements/lock.txt -e" in line, line
