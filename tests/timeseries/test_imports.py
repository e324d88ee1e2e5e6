"""rnnkit.timeseries's own import graph, read from the source with every import counted, those inside
functions too: no cycle; the anomaly scores build on the inference primitives and the metrics only; the
CLI-facing rnnkit.timeseries.forecast is imported by no module of the package."""

import ast
import graphlib
from pathlib import Path

import pytest

import rnnkit.timeseries

FOLDER = Path(rnnkit.timeseries.__file__).parent
PACKAGE = "rnnkit.timeseries"
MODULES = {f"{PACKAGE}.{path.stem}" for path in FOLDER.glob("*.py") if path.stem != "__init__"}


def _imported(path: Path) -> set[str]:
    """The modules of rnnkit.timeseries that ``path`` imports anywhere in its source, except under
    ``if TYPE_CHECKING:`` (annotations only, never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(inner) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                   for statement in node.body for inner in ast.walk(statement)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):  # relative imports are read as from this package
            base = (PACKAGE + (f".{node.module}" if node.module else "")) if node.level else node.module
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]  # from pkg import module
        else:
            continue
        found |= {name for name in names if name in MODULES}
    return found


def _graph() -> dict[str, set[str]]:
    return {f"{PACKAGE}.{path.stem}": _imported(path) - {f"{PACKAGE}.{path.stem}"}
            for path in FOLDER.glob("*.py") if path.stem != "__init__"}


def test_no_import_cycle_counting_imports_inside_functions():
    graph = _graph()
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        pytest.fail(f"import cycle in rnnkit.timeseries: {' -> '.join(error.args[1])}")


def test_anomaly_imports_only_the_inference_primitives_and_the_metrics():
    assert _graph()[f"{PACKAGE}.anomaly"] == {f"{PACKAGE}.inference", f"{PACKAGE}.metrics"}


def test_the_inference_primitives_import_no_other_timeseries_module():
    assert _graph()[f"{PACKAGE}.inference"] == set()


def test_nothing_in_the_package_imports_the_cli_facing_forecast_module():
    importers = sorted(module for module, targets in _graph().items() if f"{PACKAGE}.forecast" in targets)
    assert importers == []


def test_the_graph_is_read():  # the checks above would pass on an empty graph
    graph = _graph()
    assert {f"{PACKAGE}.anomaly", f"{PACKAGE}.models", f"{PACKAGE}.data"} <= graph[f"{PACKAGE}.forecast"]
    assert f"{PACKAGE}.metrics" in graph[f"{PACKAGE}.task"]  # "from rnnkit.timeseries import metrics"
