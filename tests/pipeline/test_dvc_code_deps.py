"""dvc.yaml's code deps follow the imports: a change to any module a stage runs reruns it.

Each stage's code is the transitive closure of the ``gptlab`` modules its entry point
imports, lazy imports inside functions included (read from the source, nothing is
imported). Every file of that closure must be covered by a ``src/gptlab/...`` dep of
the stage, and every such dep must cover at least one file of it (no stale deps).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
PACKAGE = SRC / "gptlab"


def module_file(name: str) -> Path | None:
    """The source file of module ``gptlab.x.y`` (a package's ``__init__.py``), or None."""
    path = SRC.joinpath(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


# DVC runs every stage as one job, never as a Hydra multirun (-m): what only a sweep job
# runs (train, evaluate and publish in the job's own directories) is no code of a DVC
# stage, so the imports inside these functions are not followed. Without this the train
# stage would depend on the publish stage's code (serving/, the registry).
MULTIRUN_ONLY = {"gptlab.sweeps.run_job": {"train_sweep_job", "child_logger", "evaluate_job"}}


def _nodes(tree: ast.AST, skip: set[str]):
    """``ast.walk`` minus the bodies of the functions named in ``skip``."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in skip:
            continue
        todo.extend(ast.iter_child_nodes(node))


def imported_modules(file: Path, name: str) -> set[str]:
    """The ``gptlab`` modules that ``file`` (module ``name``) imports anywhere in its body."""
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _nodes(ast.parse(file.read_text(encoding="utf-8")), MULTIRUN_ONLY.get(name, set())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            # `from gptlab.x import y` may name a submodule y
            found.update(f"{module}.{a.name}" for a in node.names)
    return {m for m in found if m.split(".")[0] == "gptlab" and module_file(m) is not None}


def closure(entry: str) -> set[Path]:
    """Every source file that running module ``entry`` may execute."""
    todo, seen = [entry], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        # importing a.b.c runs a/__init__, a/b/__init__ first
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)) if module_file(".".join(parts[:i])))
        todo.extend(imported_modules(module_file(name), name))
    return {module_file(n).relative_to(REPO) for n in seen}


def stages() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def entry_module(cmd: str) -> str:
    words = cmd.split()
    return words[words.index("-m") + 1]


def code_deps(stage: dict) -> list[Path]:
    return [Path(d) for d in stage.get("deps", []) if isinstance(d, str) and d.startswith("src/")]


def covered(file: Path, deps: list[Path]) -> bool:
    return any(file == d or d in file.parents for d in deps)


@pytest.mark.parametrize("name", sorted(stages()))
def test_every_module_a_stage_runs_is_a_dep(name):
    stage = stages()[name]
    files = closure(entry_module(stage["cmd"]))
    deps = code_deps(stage)
    missing = sorted(str(f) for f in files if not covered(f, deps))
    assert not missing, f"dvc.yaml stage {name!r} runs these files but does not list them as deps: {missing}"


@pytest.mark.parametrize("name", sorted(stages()))
def test_every_code_dep_of_a_stage_is_code_it_runs(name):
    stage = stages()[name]
    files = closure(entry_module(stage["cmd"]))
    stale = [str(d) for d in code_deps(stage) if not any(covered(f, [d]) for f in files)]
    assert not stale, f"dvc.yaml stage {name!r} lists deps that it never imports: {stale}"


def test_the_closure_follows_lazy_imports_inside_functions():
    # train imports gptlab.training.fit only inside run(): the closure must still see it.
    files = closure("gptlab.train")
    assert Path("src/gptlab/training/fit.py") in files
    assert Path("src/gptlab/model/gpt.py") in files
    assert Path("src/gptlab/prepare.py") not in files
