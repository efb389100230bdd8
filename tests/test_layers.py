"""The house rule on imports: each part of the package imports only the parts below it, and no
module imports itself back through others (README, "Layout"). Every import counts: at module
level, inside functions and under ``TYPE_CHECKING``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import storyspace

PACKAGE = Path(storyspace.__file__).parent

#: the parts of the package, bottom first; a part may import the parts of lower rows only (parts
#: of one row do not import each other). ``storyspace`` is the package's own ``__init__``.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("storyspace", "errors", "flags", "seeding", "data"),
    ("files",),
    ("models",),
    ("search",),
    ("story",),
    ("contrast", "corpus"),
    ("value",),
    ("world",),
    ("config",),
    ("runs",),
    ("viz",),
    ("judges",),
    ("assemble",),
    ("explore",),
    ("distributed",),
    ("eval",),
    ("train",),
    ("study",),
    ("studio",),
    ("cli",),
)


def module_name(path: Path, root: Path) -> str:
    parts = ("storyspace", *path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the storyspace modules it imports (``from a import b`` names ``a.b`` when that
    is a module, else ``a``)."""
    modules = {module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("storyspace"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    found.add(full if full in modules else str(node.module))
            elif isinstance(node, ast.ImportFrom) and node.level > 0:
                raise AssertionError(f"{name}: relative import (the house writes absolute imports)")
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("storyspace"))
        graph[name] = found
    return graph


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_of(part: str, layers: tuple[tuple[str, ...], ...]) -> int:
    for i, row in enumerate(layers):
        if part in row:
            return i
    raise AssertionError(f"part {part!r} is in no layer: add it to LAYERS (and to the README's layout)")


def violations(graph: dict[str, set[str]], layers: tuple[tuple[str, ...], ...]) -> list[str]:
    """Every import from one part into another that is not in a lower row."""
    out = []
    for src, targets in sorted(graph.items()):
        for dst in sorted(targets):
            a, b = part_of(src), part_of(dst)
            if a != b and layer_of(b, layers) >= layer_of(a, layers):
                out.append(f"{src} -> {dst}")
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_every_import_points_down() -> None:
    graph = import_graph(PACKAGE)
    assert violations(graph, LAYERS) == []
    for module in graph:  # every part has its row
        layer_of(part_of(module), LAYERS)


def test_no_module_imports_itself_back() -> None:
    assert cycles(import_graph(PACKAGE)) == []


def test_the_checks_see_an_upward_import_and_a_circle(tmp_path: Path) -> None:
    """The two checks on a hand-made package: one upward import, one circle of two modules."""
    (tmp_path / "value").mkdir()
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "value" / "__init__.py").write_text("")
    (tmp_path / "value" / "model.py").write_text("def f():\n    from storyspace.runs import load\n")
    (tmp_path / "runs.py").write_text("from storyspace.value.model import f\n")
    graph = import_graph(tmp_path)
    assert graph["storyspace.runs"] == {"storyspace.value.model"}
    assert violations(graph, LAYERS) == ["storyspace.value.model -> storyspace.runs"]
    assert cycles(graph) == [["storyspace.runs", "storyspace.value.model"]]
    with pytest.raises(AssertionError, match="in no layer"):
        layer_of("nowhere", LAYERS)
