"""The tree keeps its shape: no import cycles, and imports only down the layers.

Layers, lowest first: connectors (records and readers), index (store, vectors, retrieval, experts,
answers), ingest (writes into index), service (settings, API, CLI), eval (measures everything).
A module may import its own layer and the ones below it; nothing imports eval. Every import counts:
module level, inside functions and under TYPE_CHECKING, since each is a dependency a reader must follow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

LAYERS = {"connectors": 0, "index": 1, "ingest": 2, "service": 3, "eval": 4}


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (`from a import b` names module a.b when it is one)."""
    files = {module_name(root, p): p for pkg in packages for p in sorted((root / pkg).rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets: set[str] = set()
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in files else base)
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def against_the_layers(graph: dict[str, set[str]]) -> Iterator[str]:
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            top, other = source.split(".")[0], target.split(".")[0]
            if LAYERS[other] > LAYERS[top]:
                yield f"{source} imports {target}"


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(REPO, tuple(LAYERS))


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    assert cycles(graph) == []


def test_imports_go_down_the_layers(graph: dict[str, set[str]]) -> None:
    assert list(against_the_layers(graph)) == []


def test_the_graph_sees_the_whole_tree(graph: dict[str, set[str]]) -> None:
    # the registry imports every connector package; the CLI wires every command module
    assert "connectors.files.connector" in graph["connectors.registry"]
    assert {"service.cli.search", "service.cli.tokens"} <= graph["service.cli.main"]


def test_the_checks_fail_on_a_cycle_and_on_an_upward_import(tmp_path: Path) -> None:
    """The same checks over a small tree with both faults made on purpose."""
    (tmp_path / "index").mkdir()
    (tmp_path / "ingest").mkdir()
    (tmp_path / "index" / "__init__.py").write_text("")
    (tmp_path / "ingest" / "__init__.py").write_text("")
    (tmp_path / "index" / "a.py").write_text("from index.b import thing\n")
    (tmp_path / "index" / "b.py").write_text("def f():\n    from index import a\n")
    (tmp_path / "index" / "c.py").write_text("from ingest import pipeline\n")
    (tmp_path / "ingest" / "pipeline.py").write_text("import index.c\n")
    graph = import_graph(tmp_path, ("index", "ingest"))
    assert ["index.a", "index.b"] in cycles(graph)
    assert "index.c imports ingest.pipeline" in list(against_the_layers(graph))
