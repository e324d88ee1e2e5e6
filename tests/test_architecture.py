"""The package's layering, read from the source: no import cycles, and the low layers (cells, layers,
variants, the loop, sequences) import nothing above them, nor do the engine and the bundle format import the
applications built on them (docs/architecture.md)."""

import ast
from collections import defaultdict
from pathlib import Path

import rnnkit

ROOT = Path(rnnkit.__file__).parent
# cells -> cell_spec -> variants -> layers: the recurrent core, which needs only torch
CORE = {"rnnkit.cells", "rnnkit.cell_spec", "rnnkit.errors", "rnnkit.fused", "rnnkit.init", "rnnkit.scan",
        "rnnkit.sequences", "rnnkit.transposed", "rnnkit.layers", "rnnkit.variants"}
APPLICATIONS = {"rnnkit.poems", "rnnkit.translation", "rnnkit.timeseries", "rnnkit.tasks", "rnnkit.experiments"}
FRONT_DOORS = {"rnnkit.serve", "rnnkit.cli", "rnnkit.demo"}


def _module(path: Path) -> str:
    parts = ["rnnkit", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(path): path for path in ROOT.rglob("*.py")}


def _resolve(name: str) -> str:
    """An imported name to the module that defines it (rnnkit.layers.LSTM -> rnnkit.layers)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _imports() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Module -> rnnkit modules it imports: at import time, and anywhere (including inside functions)."""
    at_import, anywhere = defaultdict(set), defaultdict(set)
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        top_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
                names = ([base] if node.module else []) + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            targets = {_resolve(name) for name in names if name.startswith("rnnkit")} - {module}
            anywhere[module] |= targets
            if id(node) in top_level:
                at_import[module] |= targets
    return at_import, anywhere


def _within(module: str, packages: set[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_at_import_time():
    at_import, _ = _imports()
    assert _cycles(at_import) == []


def test_the_recurrent_core_imports_only_itself():
    _, anywhere = _imports()
    for module, targets in anywhere.items():
        if _within(module, CORE):
            outside = {t for t in targets if t != "rnnkit" and not _within(t, CORE)}
            assert not outside, f"{module} imports {sorted(outside)} from above the recurrent core"


def test_the_engine_and_the_bundle_format_import_no_application():
    """They read rnnkit.catalog instead, which names modules as strings."""
    _, anywhere = _imports()
    low = {"rnnkit.training", "rnnkit.bundle", "rnnkit.catalog", "rnnkit.models", "rnnkit.decoding"} | CORE
    for module, targets in anywhere.items():
        if _within(module, low):
            named = {t for t in targets if _within(t, APPLICATIONS | FRONT_DOORS)}
            assert not named, f"{module} imports {sorted(named)} from above it"


def test_the_server_imports_no_application():
    """A kind's routes come from the modules the catalog names (the poem route lives in rnnkit.poems)."""
    _, anywhere = _imports()
    for module, targets in anywhere.items():
        if _within(module, {"rnnkit.serve"}):
            named = {t for t in targets if _within(t, APPLICATIONS)}
            assert not named, f"{module} imports the applications {sorted(named)}"


def test_the_import_graph_is_read():  # the checks above would pass vacuously on an empty graph
    at_import, _ = _imports()
    assert "rnnkit.layers.base" in at_import["rnnkit.layers.lstm"]
    assert "rnnkit.cell_spec" in at_import["rnnkit.variants.cell"]
