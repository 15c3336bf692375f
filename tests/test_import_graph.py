"""No import circle among gptlab's modules, and none between the packages that the
architecture layers (docs/architecture.md: imports only point down).

Read from the source with ``ast`` (nothing is imported), imports inside functions
included: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
# The packages whose graph must have no cycle through them (checkpoint/ is the library
# layer, hf/ an adapter above it).
LAYERED = ("gptlab.checkpoint", "gptlab.hf")


def modules() -> dict[str, Path]:
    out = {}
    for file in (SRC / "gptlab").rglob("*.py"):
        parts = file.relative_to(SRC).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    return out


def imports(name: str, file: Path, known: dict[str, Path]) -> set[str]:
    """The gptlab modules ``file`` (module ``name``) imports anywhere in its body."""
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            # `from a import b` imports module a.b where there is one, else a name of a
            named = {f"{module}.{a.name}" for a in node.names}
            found |= named if named <= known.keys() else {module, *named}
    return {m for m in found if m in known and m != name}


def graph(of=lambda module: module) -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {}
    for name, file in known.items():
        for target in imports(name, file, known):
            if of(name) != of(target):
                edges.setdefault(of(name), set()).add(of(target))
    return edges


def cycle(edges: dict[str, set[str]], through: tuple[str, ...] | None = None) -> list[str] | None:
    """A cycle of ``edges`` (through one of ``through``, if given), as its nodes in order."""
    for start in sorted(edges if through is None else through):
        todo, seen = [(start, [start])], set()
        while todo:
            node, path = todo.pop()
            for nxt in sorted(edges.get(node, ())):
                if nxt == start:
                    return [*path, start]
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append((nxt, [*path, nxt]))
    return None


def package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_no_module_imports_itself_through_others():
    assert cycle(graph()) is None


def test_checkpoint_and_hf_are_layered():
    assert cycle(graph(package), LAYERED) is None
    assert "gptlab.hf" not in graph(package).get("gptlab.checkpoint", set())


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        ({"a/__init__.py": "", "a/x.py": "def f():\n    from gptlab.b.y import g\n", "b/__init__.py": "",
          "b/y.py": "from gptlab.a import x\n"}, ["gptlab.a.x", "gptlab.b.y", "gptlab.a.x"]),  # fmt: skip
        ({"a/__init__.py": "", "a/x.py": "from . import y\n", "a/y.py": "from .x import f\n"},
         ["gptlab.a.x", "gptlab.a.y", "gptlab.a.x"]),  # fmt: skip
        ({"a/__init__.py": "from gptlab.a.x import f\n", "a/x.py": "from gptlab.a import y\n", "a/y.py": ""}, None),
        ({"a/__init__.py": "from gptlab.a.x import f\n", "a/x.py": "from gptlab.a import f, y\n", "a/y.py": ""},
         ["gptlab.a", "gptlab.a.x", "gptlab.a"]),  # fmt: skip
    ],
)
def test_the_walk_finds_a_circle_made_by_a_lazy_or_relative_import(tmp_path, monkeypatch, sources, expected):
    for rel, text in sources.items():
        (tmp_path / "gptlab" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "gptlab" / rel).write_text(text)
    monkeypatch.setitem(globals(), "SRC", tmp_path)
    assert cycle(graph()) == expected
