"""The package's own rules: no private names imported across modules, no import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import fastmetric

PKG = Path(fastmetric.__file__).resolve().parent


def _modules():
    """module name (e.g. 'fastmetric.learn.nca') -> parsed tree, for every .py file of the package."""
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = (path, ast.parse(path.read_text()))
    return out


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(with_functions: bool):
    """(importer, imported module, imported name or None, line) for the package's own imports."""
    mods = _modules()
    known = set(mods) | {"fastmetric._core"}  # the compiled extension has no .py file
    for mod, (path, tree) in mods.items():
        is_package = path.name == "__init__.py"
        nodes = ast.walk(tree) if with_functions else tree.body
        for node in nodes:
            if isinstance(node, ast.ImportFrom):
                target = _resolve(mod, is_package, node)
                if not target.startswith("fastmetric"):
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    yield mod, (sub if sub in known else target), alias.name, node.lineno
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("fastmetric"):
                        yield mod, alias.name, None, node.lineno


def test_no_private_names_imported_across_modules():
    # private modules (_validation, _core, _bench ...) are the package's shared internals; private
    # functions and classes of another module are not
    allowed = {"__version__"}
    modules = set(_modules()) | {"fastmetric._core"}
    bad = [
        f"{mod}:{line} imports {name} from {target}"
        for mod, target, name, line in _imports(with_functions=True)
        if name and name.startswith("_") and name not in allowed and target not in modules - {mod}
        or (name and name.startswith("_") and name not in allowed and not target.endswith("." + name))
    ]
    assert bad == []


def test_no_import_cycles_between_modules():
    # module-level and function-level imports alike: a lazy import inside a function still ties the
    # two modules together
    graph: dict[str, set[str]] = {}
    for mod, target, _, _ in _imports(with_functions=True):
        if target != mod and target != "fastmetric._core":
            graph.setdefault(mod, set()).add(target)
    # a package's __init__ re-exports its modules: edges into the package itself are not cycles
    state: dict[str, int] = {}
    cycles = []

    def visit(m, stack):
        state[m] = 1
        for t in graph.get(m, ()):
            if m.startswith(t + ".") or t.startswith(m + "."):
                continue  # package <-> its own submodule
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t] if t in stack else [m, t])
            elif state.get(t) is None:
                visit(t, stack + [t])
        state[m] = 2

    for m in list(graph):
        if state.get(m) is None:
            visit(m, [m])
    assert cycles == []
