"""The package's shape: no import cycle among ``converter`` modules, no module over 400
lines (the generated data dictionary aside), and a mapper that does no I/O.

Read from the source with :mod:`ast`, so an import inside a function or under
``TYPE_CHECKING`` counts as much as one at the top: a cycle there is still a cycle for
whoever reads the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "converter"
MAX_LINES = 400
GENERATED = {"converter.mapping.dictionary"}
# The mapper turns one JSON document into another: nothing that reads files, sockets or
# processes, so it runs the same for a server's answer and a file's header.
IO_MODULES = {
    "requests",
    "urllib3",
    "http",
    "socket",
    "ssl",
    "subprocess",
    "multiprocessing",
    "os",
    "io",
    "pathlib",
    "tempfile",
    "shutil",
    "gzip",
    "fsspec",
    "pydicom",
}


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, modules: dict[str, Path]) -> tuple[set[str], set[str]]:
    """(converter modules imported, top-level names of everything imported)."""
    inside: set[str] = set()
    roots: set[str] = set()
    package = _name(path) if path.name == "__init__.py" else _name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [
                        *package.split(".")[: len(package.split(".")) - node.level + 1],
                        *([base] if base else []),
                    ]
                )
            # `from converter.serve import proxy` imports the module converter.serve.proxy
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            roots.add(name.split(".")[0])
            if name in modules:
                inside.add(name)
    return inside, roots


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules)[0] for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph, as the modules along it, or None."""
    done: set[str] = set()
    for start in graph:
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    return [*path, start]
                if nxt not in path and nxt not in done:
                    stack.append((nxt, [*path, nxt]))
        done.add(start)
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle() -> None:
    graph = _graph()
    assert graph.get("converter.cli.entry")
    assert _cycle(graph) is None


def test_no_module_over_400_lines() -> None:
    long = {
        name: lines
        for name, path in _modules().items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
        and name not in GENERATED
    }
    assert long == {}


def test_the_mapper_imports_no_io_library() -> None:
    """Neither directly nor through another converter module (``integrity`` once reached
    ``requests`` through the client for one helper)."""
    modules = _modules()
    for start in ("converter.mapping.mapper", "converter.mapping.integrity"):
        seen, todo = set(), [start]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            inside, roots = _imports(modules[name], modules)
            assert roots & IO_MODULES == set(), (start, name)
            todo.extend(inside)


def test_the_readme_layout_table_is_the_tree() -> None:
    """Every module of ``converter/`` has its row in the README's "Layout" table, and every
    ``converter/`` path the table names exists."""
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Layout\n", 1)[1].split("\n## ", 1)[0]
    listed = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `converter/")}
    modules = {
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" or path.parent == PACKAGE
    }
    packages = {
        f"{path.parent.relative_to(PACKAGE.parent)}/"
        for path in PACKAGE.rglob("__init__.py")
        if path.parent != PACKAGE
    }
    assert listed == modules | packages
