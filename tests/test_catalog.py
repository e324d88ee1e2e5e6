"""rnnkit.catalog: every name it holds resolves to a module that registers it, the engine and the bundle format
name no application, and installed plugins' entry points add names."""

import importlib
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import rnnkit
from rnnkit import bundle, catalog
from rnnkit.training import registry

APPLICATIONS = ("rnnkit.poems", "rnnkit.translation", "rnnkit.timeseries", "rnnkit.tasks", "rnnkit.models",
                "rnnkit.experiments", "rnnkit.serve", "rnnkit.demo", "rnnkit.predict")
ROOT = Path(rnnkit.__file__).parent


@pytest.mark.parametrize("entry", catalog.TASKS, ids=lambda entry: entry.name)
def test_every_task_resolves_to_the_module_that_registers_it(entry):
    importlib.import_module(entry.module)
    assert entry.name in registry._TASKS
    assert entry.name in registry.task_names()


@pytest.mark.parametrize("entry", catalog.KINDS, ids=lambda entry: entry.name)
def test_every_kind_resolves_to_the_module_that_registers_it(entry):
    module = importlib.import_module(entry.module)
    assert entry.name in bundle._KINDS
    assert bundle._KINDS[entry.name].model_class.__module__ == module.__name__


def test_every_kind_names_commands_the_cli_has():
    from rnnkit.cli import app

    commands = {command.name or command.callback.__name__ for command in app.registered_commands}
    for entry in catalog.KINDS:
        assert entry.commands and set(entry.commands) <= commands, entry


@pytest.mark.parametrize("entry", catalog.EXPERIMENTS, ids=lambda entry: entry.name)
def test_every_experiment_resolves_to_a_runnable_module(entry):
    from rnnkit.experiments import EXPERIMENTS

    module = importlib.import_module(entry.module)
    assert callable(module.run) and module.QUICK is not None and module.FULL is not None
    assert EXPERIMENTS[entry.name] == entry.module


@pytest.mark.parametrize("path", ["bundle.py", "training/registry.py"])
def test_the_engine_and_the_bundle_format_name_no_application(path):
    text = (ROOT / path).read_text(encoding="utf-8")
    assert "catalog" in text  # they read the catalog instead
    assert [name for name in APPLICATIONS if name in text] == []


def test_importing_the_bundle_format_imports_no_model_family():
    code = "import sys, rnnkit.bundle; print(sorted(m for m in sys.modules if m.startswith('rnnkit.models')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": str(ROOT.parent)})
    assert result.stdout.strip() == "[]"


def test_the_default_kind_loads_through_the_catalog():
    code = ("import rnnkit.bundle as b; b._kind_entry('language_model', 'x'); import sys; "
            "print('rnnkit.models.lm' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": str(ROOT.parent)})
    assert result.stdout.strip() == "True"


@pytest.mark.parametrize("entry", catalog.KINDS, ids=lambda entry: entry.name)
def test_require_kind_suggests_the_kinds_first_command(entry):
    other = "classifier" if entry.name == "language_model" else "language_model"
    with pytest.raises(ValueError, match=f"got kind {entry.name!r}; use rnnkit {entry.commands[0]} with this"):
        bundle.require_kind({"kind": entry.name}, other, "this check")


def test_entries_are_validated():
    with pytest.raises(ValueError, match="TaskEntry: expected name to be an identifier .* got 'two words'"):
        catalog.TaskEntry("two words", "rnnkit.training.toy")
    with pytest.raises(ValueError, match="KindEntry: expected module to be a dotted module name .* got 'a..b'"):
        catalog.KindEntry("kind", "a..b")
    with pytest.raises(TypeError, match=r"KindEntry: expected commands to be a tuple .* got \['predict'\]"):
        catalog.KindEntry("kind", "rnnkit.models.tagger", ["predict"])
    assert repr(catalog.TaskEntry("toy_lm", "rnnkit.training.toy")) == (
        "TaskEntry(name='toy_lm', module='rnnkit.training.toy')")


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """An installed plugin: a module that registers the task `plugin_task`, named by an rnnkit.tasks entry
    point, and one that registers the kind `plugin_kind`."""
    (tmp_path / "rnnkit_test_plugin.py").write_text(
        "import dataclasses\n"
        "import torch\n"
        "from rnnkit.bundle import register_kind\n"
        "from rnnkit.training.registry import register_task\n"
        "def make(options, seed):\n"
        "    return ('plugin', options, seed)\n"
        "register_task('plugin_task', make)\n"
        "@dataclasses.dataclass(frozen=True)\n"
        "class Config:\n"
        "    size: int = 2\n"
        "class Model(torch.nn.Linear):\n"
        "    def __init__(self, config):\n"
        "        super().__init__(config.size, config.size)\n"
        "        self.config = config\n"
        "register_kind('plugin_kind', Model, Config)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    points = {"rnnkit.tasks": [EntryPoint("plugin_task", "rnnkit_test_plugin", "rnnkit.tasks")],
              "rnnkit.kinds": [EntryPoint("plugin_kind", "rnnkit_test_plugin:Model", "rnnkit.kinds")]}
    monkeypatch.setattr(catalog, "entry_points", lambda group: points.get(group, []))
    monkeypatch.setattr(registry, "_TASKS", dict(registry._TASKS))
    monkeypatch.setattr(bundle, "_KINDS", dict(bundle._KINDS))
    catalog._plugins.cache_clear()
    yield
    catalog._plugins.cache_clear()
    sys.modules.pop("rnnkit_test_plugin", None)


def test_entry_points_add_tasks_and_kinds(plugin, tmp_path):
    assert "plugin_task" in registry.task_names() and "plugin_kind" in catalog.kind_names()
    assert registry.build_task("plugin_task", {"a": 1}, seed=3) == ("plugin", {"a": 1}, 3)
    module = sys.modules["rnnkit_test_plugin"]
    saved = bundle.save(tmp_path / "b", module.Model(module.Config()), task="plugin_task")
    bundle._KINDS.pop("plugin_kind")
    registry._TASKS.pop("plugin_task")
    sys.modules.pop("rnnkit_test_plugin")  # a fresh process: loading imports the kind's module again
    assert type(bundle.load(saved).model).__name__ == "Model"


def test_the_catalog_wins_a_name_a_plugin_also_defines(plugin, monkeypatch):
    point = EntryPoint("toy_lm", "rnnkit_test_plugin", "rnnkit.tasks")
    monkeypatch.setattr(catalog, "entry_points", lambda group: [point] if group == "rnnkit.tasks" else [])
    catalog._plugins.cache_clear()
    assert catalog.task_module("toy_lm") == "rnnkit.training.toy"


@pytest.mark.parametrize("entry", [entry for entry in catalog.KINDS if entry.routes], ids=lambda entry: entry.name)
def test_every_kinds_routes_resolve(entry):
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    for module in entry.routes:
        assert callable(importlib.import_module(module).register_routes), module


def test_the_server_imports_no_application():
    import ast

    applications = ("rnnkit.poems", "rnnkit.translation", "rnnkit.timeseries", "rnnkit.tasks", "rnnkit.experiments")
    imported = {}
    for path in (ROOT / "serve").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        imported[path.name] = names + [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert "rnnkit.serve.routing" in imported["app.py"]  # the source was read
    assert {file: [n for n in names if n.startswith(applications)] for file, names in imported.items()} == dict.fromkeys(
        imported, [])


def test_a_kind_declares_its_export_formats_and_export_reads_them(tmp_path):
    import json

    from rnnkit.export import export_bundle

    assert catalog.kind_entry("language_model").exports == ("onnx", "torchscript")
    assert catalog.kind_entry("classifier").exports == ()
    with pytest.raises(ValueError, match="expected exports to be a tuple of 'onnx' and/or 'torchscript'"):
        catalog.KindEntry("x", "rnnkit.x", exports=("tflite",))
    from rnnkit.models import LanguageModel, LanguageModelConfig
    from rnnkit.text import Tokenizer

    tokenizer = Tokenizer.build(["abc"])
    model = LanguageModel(LanguageModelConfig(vocab_size=len(tokenizer), embedding_size=4, hidden_size=4))
    path = bundle.save(tmp_path / "b", model, tokenizer, task="t")
    info = json.loads((path / "bundle.json").read_text())
    info["kind"] = "classifier"
    (path / "bundle.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="needs a 'language_model' bundle, got kind 'classifier'; use rnnkit predict"):
        export_bundle(path, format="torchscript")
