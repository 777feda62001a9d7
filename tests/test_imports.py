"""The package's layering: no module imports another in a circle, or another's private names."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "jupyter_bridge"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}
# Parsed once, as the tests are collected: CPython 3.11's ast.parse can fail with
# "AST constructor recursion depth mismatch" while another thread builds an AST,
# and by the time these tests run, earlier tests in the worker may have left
# server threads that compile code.
TREES = {path: ast.parse(path.read_text()) for path in MODULES.values()}


def runtime_imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) for every import that runs (``if TYPE_CHECKING:`` blocks excluded)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, list[str]]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, []) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                found.append((base, [alias.name for alias in child.names]))
            visit(child)

    visit(TREES[path])
    return found


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for module, names in runtime_imports(path):
            # `from package import module` imports that module; any other name is the package's.
            targets = {f"{module}.{n}" if f"{module}.{n}" in MODULES else module for n in names or [""]}
            edges[name].update(t for t in targets if t in MODULES)
        edges[name].discard(name)
    return edges


def test_no_module_imports_a_private_name_of_another():
    offences = []
    for name, path in MODULES.items():
        for module, names in runtime_imports(path) + typing_only_imports(path):
            if not module.startswith("jupyter_bridge"):
                continue
            offences.extend(f"{name} imports {module}.{n}" for n in names if n.startswith("_") and n != "__version__")
    assert offences == []


def typing_only_imports(path: Path) -> list[tuple[str, list[str]]]:
    tree = TREES[path]
    blocks = [n for n in ast.walk(tree) if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)]
    found = []
    for block in blocks:
        for node in block.body:
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.append((node.module, [a.name for a in node.names]))
    return found


def test_no_runtime_import_cycle():
    edges = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                walk(target)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            walk(node)
    assert cycles == [], "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_no_server_module_imports_the_client():
    """The client (pull, push, embed from Python) is an edge: server code never needs it."""
    edges = graph()
    servers = [name for name in edges if not name.startswith("jupyter_bridge.client") and name != "jupyter_bridge"]
    offences = [f"{name} imports {target}" for name in servers for target in edges[name] if target.startswith("jupyter_bridge.client")]
    assert offences == []
