"""The catalog: every task, bundle kind and experiment the packages built on the engine provide, as plain data.

The engine (rnnkit.training.registry), the bundle format (rnnkit.bundle) and the CLI look names up here and
import the module a name points to on first use; they never name an application package themselves. Adding
an application is one folder plus entries here:

* a **task** (``task: NAME`` in a run config): :class:`TaskEntry`, the module whose import calls
  ``rnnkit.training.registry.register_task(NAME, ...)``;
* a **bundle kind** (``"kind"`` in bundle.json): :class:`KindEntry`, the module whose import calls
  ``rnnkit.bundle.register_kind(KIND, ModelClass, ConfigClass)``, and the ``rnnkit`` commands that take a
  bundle of that kind (the first is the hint an error names);
* an **experiment** (``rnnkit experiment NAME``): :class:`ExperimentEntry`, the module that declares
  ``EXPERIMENT``, an rnnkit.experiments.grid.Experiment (see docs/experiments.md);

Nothing here is imported at import time: this module holds strings only.

A package outside rnnkit adds its own names through Python entry points, consulted in addition to the
catalog (the catalog wins a name both define). In its pyproject.toml:

    [project.entry-points."rnnkit.tasks"]
    my_task = "my_package.task"          # importing it calls register_task("my_task", ...)

    [project.entry-points."rnnkit.kinds"]
    my_kind = "my_package.model"         # importing it calls register_kind("my_kind", ...)

    [project.entry-points."rnnkit.experiments"]
    my_experiment = "my_package.experiment"
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib.metadata import entry_points

__all__ = ["DEFAULT_KIND", "ExperimentEntry", "KindEntry", "TaskEntry", "TASKS", "KINDS", "EXPERIMENTS",
           "task_module", "task_names", "kind_entry", "kind_names", "experiment_module", "experiment_names"]

DEFAULT_KIND = "language_model"  # the kind of a bundle.json without "kind" (bundles from before kinds)
ENTRY_POINT_GROUPS = {"tasks": "rnnkit.tasks", "kinds": "rnnkit.kinds", "experiments": "rnnkit.experiments"}


def _check_name(owner: str, name: object) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"{owner}: expected name to be an identifier such as 'toy_lm', got {name!r}")


def _check_module(owner: str, module: object) -> None:
    if not isinstance(module, str) or not all(part.isidentifier() for part in module.split(".")):
        raise ValueError(f"{owner}: expected module to be a dotted module name such as 'rnnkit.training.toy', "
                         f"got {module!r}")


@dataclass(frozen=True)
class _Entry:
    name: str
    module: str

    def __post_init__(self) -> None:
        _check_name(type(self).__name__, self.name)
        _check_module(type(self).__name__, self.module)


class TaskEntry(_Entry):
    """A task name and the module whose import registers it (``register_task``)."""


class ExperimentEntry(_Entry):
    """An experiment name and the module that declares it as ``EXPERIMENT`` (rnnkit.experiments.grid)."""


@dataclass(frozen=True)
class KindEntry(_Entry):
    """A bundle kind, the module whose import registers its model class (``register_kind``), and the ``rnnkit``
    commands that take a bundle of the kind, the one to suggest first.

    ``tokenizer_sized``: a bundle of the kind needs a tokenizer whose size is ``model_config.vocab_size``
    (checked on save and load). ``routes``: the modules whose ``register_routes(app, settings)`` add the HTTP
    routes ``rnnkit serve`` offers for the kind (rnnkit.serve.app). ``exports``: the formats ``rnnkit export``
    writes for the kind (rnnkit.export)."""

    commands: tuple[str, ...] = ()
    tokenizer_sized: bool = False
    routes: tuple[str, ...] = ()
    exports: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.commands, tuple) or not all(isinstance(c, str) and c for c in self.commands):
            raise TypeError(f"KindEntry: expected commands to be a tuple of command names, got {self.commands!r}")
        if not isinstance(self.routes, tuple):
            raise TypeError(f"KindEntry: expected routes to be a tuple of module names, got {self.routes!r}")
        for module in self.routes:
            _check_module("KindEntry", module)
        if not isinstance(self.exports, tuple) or not all(f in ("onnx", "torchscript") for f in self.exports):
            raise ValueError(f"KindEntry: expected exports to be a tuple of 'onnx' and/or 'torchscript', "
                             f"got {self.exports!r}")


TASKS: tuple[TaskEntry, ...] = (
    TaskEntry("toy_lm", "rnnkit.training.toy"),
    TaskEntry("poems", "rnnkit.poems.task"),
    TaskEntry("char_lm", "rnnkit.models.char_lm"),
    TaskEntry("adding", "rnnkit.experiments.tasks"),
    TaskEntry("copy", "rnnkit.experiments.tasks"),
    TaskEntry("tail", "rnnkit.experiments.tasks"),
    TaskEntry("sentiment", "rnnkit.tasks.sentiment"),
    TaskEntry("ner", "rnnkit.tasks.ner"),
    TaskEntry("series", "rnnkit.tasks.series"),
    TaskEntry("sentence_lm", "rnnkit.tasks.transfer"),
    TaskEntry("sentiment_transfer", "rnnkit.tasks.transfer"),
    TaskEntry("translation", "rnnkit.translation.task"),
    TaskEntry("forecast", "rnnkit.timeseries.task"),
    TaskEntry("anomaly_autoencoder", "rnnkit.timeseries.task"),
)

KINDS: tuple[KindEntry, ...] = (
    KindEntry("language_model", "rnnkit.models.lm", ("serve", "export", "poem", "eval"), tokenizer_sized=True,
              # /v1/generate, /v1/completions and /v1/models, /v1/poem (400 unless a poem model)
              routes=("rnnkit.serve.routes_lm", "rnnkit.serve.routes_openai", "rnnkit.poems.serve"),
              exports=("onnx", "torchscript")),
    KindEntry("classifier", "rnnkit.models.classifier", ("predict", "eval", "serve"),
              routes=("rnnkit.serve.routes_predict",)),  # /v1/predict (texts; not numeric series yet)
    KindEntry("tagger", "rnnkit.models.tagger", ("predict", "eval", "serve"), routes=("rnnkit.serve.routes_predict",)),
    KindEntry("seq2seq", "rnnkit.models.seq2seq", ("translate", "eval")),
    KindEntry("forecaster", "rnnkit.timeseries.models", ("forecast", "detect", "eval")),
    KindEntry("autoencoder", "rnnkit.timeseries.models", ("detect", "eval")),
)

EXPERIMENTS: tuple[ExperimentEntry, ...] = (
    ExperimentEntry("adding", "rnnkit.experiments.adding"),
    ExperimentEntry("copy", "rnnkit.experiments.copying"),
    ExperimentEntry("gradients", "rnnkit.experiments.gradients"),
    ExperimentEntry("clipping", "rnnkit.experiments.clipping"),
    ExperimentEntry("init", "rnnkit.experiments.initialization"),
    ExperimentEntry("lengths", "rnnkit.experiments.lengths"),
)


@functools.cache
def _plugins(group: str) -> dict[str, str]:
    """name -> module from the installed distributions' entry points in ``group`` (read once per process)."""
    return {point.name: point.value.split(":")[0] for point in entry_points(group=group)}


def _modules(entries: tuple[TaskEntry | KindEntry | ExperimentEntry, ...], group: str) -> dict[str, str]:
    return {**_plugins(ENTRY_POINT_GROUPS[group]), **{entry.name: entry.module for entry in entries}}


def _module(entries: tuple[TaskEntry | KindEntry | ExperimentEntry, ...], group: str, name: str) -> str | None:
    for entry in entries:  # the catalog first: the entry points are read only for a name it lacks
        if entry.name == name:
            return entry.module
    return _plugins(ENTRY_POINT_GROUPS[group]).get(name)


def task_module(name: str) -> str | None:
    """The module whose import registers the task ``name``; None for a name neither catalog nor plugin knows."""
    return _module(TASKS, "tasks", name)


def task_names() -> list[str]:
    """Every task name of the catalog and the installed plugins, sorted."""
    return sorted(_modules(TASKS, "tasks"))


def kind_entry(kind: str) -> KindEntry | None:
    """The catalog entry of the bundle kind ``kind`` (a plugin's kind gets one without commands); None if unknown."""
    for entry in KINDS:
        if entry.name == kind:
            return entry
    module = _module((), "kinds", kind)
    return None if module is None else KindEntry(kind, module)


def kind_names() -> list[str]:
    """Every bundle kind of the catalog and the installed plugins, sorted."""
    return sorted(_modules(KINDS, "kinds"))


def experiment_module(name: str) -> str | None:
    """The module of the experiment ``name``; None if unknown."""
    return _module(EXPERIMENTS, "experiments", name)


def experiment_names() -> list[str]:
    """Every experiment name, catalog order first, then the installed plugins' (sorted)."""
    plugins = sorted(set(_plugins(ENTRY_POINT_GROUPS["experiments"])) - {entry.name for entry in EXPERIMENTS})
    return [entry.name for entry in EXPERIMENTS] + plugins
