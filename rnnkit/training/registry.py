"""Tasks by plain-string name: `task: toy_lm` in YAML, never a class path.

    register_task("toy_lm", make_toy_lm, options=ToyLMOptions)
    task = build_task("toy_lm", {"hidden_size": 32}, seed=0)

`factory(options, seed) -> Task` receives an instance of the `options` dataclass (validated from the
YAML `task_options:` mapping with the same rules and messages as the rest of the config), or the raw
dict when the task registered no options class.

The tasks of rnnkit's applications are named in rnnkit.catalog (with the module that registers each, imported
on first use), as are those of installed plugins (entry points, see rnnkit.catalog). A task defined elsewhere
registers itself the same way; import its module before building it.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from rnnkit import catalog
from rnnkit.config import ConfigError, from_dict
from rnnkit.training.task import Task

__all__ = ["register_task", "build_task", "task_names", "TaskEntry"]


class TaskEntry(NamedTuple):
    factory: Callable[[Any, int], Task]
    options: type | None


_TASKS: dict[str, TaskEntry] = {}


def register_task(name: str, factory: Callable[[Any, int], Task], *, options: type | None = None) -> None:
    """Make `factory` buildable as `task: name`. Registering a name twice with another factory is an error."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"register_task: expected name to be an identifier such as 'toy_lm', got {name!r}")
    if options is not None and not dataclasses.is_dataclass(options):
        raise TypeError(f"register_task: expected options to be a dataclass type or None, got {options!r}")
    previous = _TASKS.get(name)
    if previous is not None and previous.factory is not factory:
        raise ValueError(f"register_task: a different task is already registered as {name!r}")
    _TASKS[name] = TaskEntry(factory, options)


def task_names() -> list[str]:
    """Every registered task name and every one the catalog names, sorted."""
    return sorted(set(_TASKS) | set(catalog.task_names()))


def _entry(name: str, source: str) -> TaskEntry:
    module = catalog.task_module(name) if name not in _TASKS else None
    if module is not None:
        importlib.import_module(module)
    if name not in _TASKS:
        close = difflib.get_close_matches(name, task_names(), n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(map(repr, close))}?" if close else f"known tasks: {', '.join(task_names())}"
        raise ConfigError(f"{source}: task: unknown task {name!r}; {hint}", key="task")
    return _TASKS[name]


def task_options(name: str, options: Mapping[str, Any] | Any, *, source: str = "<dict>") -> Any:
    """Validate `options` (the YAML `task_options:` mapping) against the task's options dataclass."""
    entry = _entry(name, source)
    if entry.options is None or not isinstance(options, Mapping):
        return options
    return from_dict(entry.options, options, source=source, prefix="task_options.")


def build_task(name: str, options: Mapping[str, Any] | Any = None, *, seed: int = 0, source: str = "<dict>") -> Task:
    """Build the task registered as `name`; `options` is a mapping (validated) or an options instance."""
    entry = _entry(name, source)
    return entry.factory(task_options(name, {} if options is None else options, source=source), seed)
