"""Rules of the source that no other test would notice breaking (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "gptlab"


def classes_inside_functions(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found += [f"{node.name}.{inner.name}" for inner in ast.walk(node) if isinstance(inner, ast.ClassDef)]
    return found


def test_no_class_is_defined_inside_a_function():
    """A class made by a function cannot be named by isinstance, a type or a test."""
    found = {
        str(path.relative_to(SRC)): names
        for path in sorted(SRC.rglob("*.py"))
        if (names := classes_inside_functions(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert found == {}


def test_the_check_finds_a_class_made_by_a_function():
    source = "def make():\n    import torch\n\n    class Inner(torch.nn.Module):\n        pass\n    return Inner\n"
    assert classes_inside_functions(ast.parse(source)) == ["make.Inner"]
