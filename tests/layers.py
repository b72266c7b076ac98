"""A static reading of the project's imports, for the layer rules in docs/architecture.md.

Python's ``ast`` gives every import of every module; a module-level import is one that runs when the
module is imported (anywhere in the module body outside functions, classes' methods and
``if TYPE_CHECKING:`` blocks). Relative imports are resolved, and ``from pkg import name`` counts as
importing the submodule ``pkg.name`` when such a file exists.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Import:
    module: str  # the imported module's dotted name
    line: int
    top_level: bool
    type_only: bool = False  # under ``if TYPE_CHECKING:``: never runs


@dataclass
class Module:
    name: str
    path: Path
    imports: list[Import] = field(default_factory=list)
    names: set[str] = field(default_factory=set)  # every identifier and attribute the code uses


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


Walked = Iterator[tuple[ast.AST, bool, bool]]  # node, runs at import, type-checking only


def _walk(nodes: Iterable[ast.AST], top_level: bool, type_only: bool = False) -> Walked:
    for node in nodes:
        yield node, top_level, type_only
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from _walk(node.body, False, True)
            yield from _walk(node.orelse, top_level, type_only)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _walk(ast.iter_child_nodes(node), False, type_only)
        else:
            yield from _walk(ast.iter_child_nodes(node), top_level, type_only)


class Tree:
    """Every module of the named first-party packages under ``root``."""

    def __init__(self, root: Path, packages: Iterable[str]) -> None:
        self.root = root
        self.modules: dict[str, Module] = {}
        for package in packages:
            for path in sorted((root / package).rglob("*.py")):
                if "migrations" in path.parts:
                    continue
                name = module_name(root, path)
                self.modules[name] = Module(name, path)
        for module in self.modules.values():
            self._read(module)

    def _resolve(self, module: Module, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = module.name.split(".")
        is_package = module.path.name == "__init__.py"
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        return ".".join([*base, node.module] if node.module else base)

    def _read(self, module: Module) -> None:
        tree = ast.parse(module.path.read_text(encoding="utf-8"), str(module.path))
        for node, top, typing in _walk(tree.body, True):
            if isinstance(node, ast.Name):
                module.names.add(node.id)
            elif isinstance(node, ast.Attribute):
                module.names.add(node.attr)
            elif isinstance(node, ast.Import):
                module.imports += [Import(a.name, node.lineno, top, typing) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                target = self._resolve(module, node)
                module.imports.append(Import(target, node.lineno, top, typing))
                for alias in node.names:
                    module.names.add(alias.name)
                    sub = f"{target}.{alias.name}"
                    if sub in self.modules:
                        module.imports.append(Import(sub, node.lineno, top, typing))

    def first_party(self, name: str) -> str | None:
        """The first-party module an imported name refers to (its longest known prefix)."""
        parts = name.split(".")
        for n in range(len(parts), 0, -1):
            candidate = ".".join(parts[:n])
            if candidate in self.modules:
                return candidate
        return None

    def loaded_on_import(self, name: str) -> dict[str, list[str]]:
        """Every module (first- or third-party) that importing ``name`` runs, with one import chain each."""
        chains: dict[str, list[str]] = {name: [name]}
        todo = [name]
        while todo:
            current = todo.pop()
            for imp in self.modules[current].imports:
                if not imp.top_level:
                    continue
                parts = imp.module.split(".")
                # importing a.b.c runs a, a.b and a.b.c
                for n in range(1, len(parts) + 1):
                    target = ".".join(parts[:n])
                    if target in chains:
                        continue
                    chains[target] = [*chains[current], target]
                    if target in self.modules:
                        todo.append(target)
        return chains

    def cycles(self) -> list[list[str]]:
        """Groups of first-party modules that import each other, lazily or not (Tarjan's SCC)."""
        graph: dict[str, set[str]] = {name: set() for name in self.modules}
        for module in self.modules.values():
            for imp in module.imports:
                target = self.first_party(imp.module)
                # a submodule importing its own package is no cycle of design
                if imp.type_only or not target or module.name.startswith(f"{target}."):
                    continue
                if target != module.name:
                    graph[module.name].add(target)
        return _strongly_connected(graph)


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def top_package(name: str) -> str:
    return name.split(".", 1)[0]
