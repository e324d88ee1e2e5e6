"""Typed configuration: YAML files read into frozen dataclasses.

One function, `load_config(path, cls, overrides)`, turns a YAML file plus `--set key=value` overrides
into an instance of a frozen dataclass (nested dataclasses are nested YAML sections). YAML holds data
only: it is parsed with `yaml.safe_load`, so tags such as `!!python/object` are refused, and a config
never names a class or a module (tasks are found by plain-string name in `rnnkit.training.registry`).

Every mistake stops the program before any work, with a `ConfigError` (a `ValueError`) that names the
source (file or `--set`), the dotted key, what was expected and what was received:

    tiny.yaml: unknown key 'optimizer.lrr'; did you mean 'optimizer.lr'?
    tiny.yaml: optimizer.lr: expected a float, got 'fast' (str)
    tiny.yaml: optimizer.lr: expected a value > 0, got -0.1
    --set optimizer.lr=-1: optimizer.lr: expected a value > 0, got -1.0     (the value came from --set)

Impossible values are checked by each dataclass's `__post_init__`, which raises `ValueError` whose
message starts with the field name; `load_config` adds the section path and the file.

Supported field types: bool, int, float (an int is accepted; so is a string such as "3e-4", which
YAML 1.1 reads as a string), str, `Literal[...]` of strings, `X | None`, `tuple[X, ...]`,
`tuple[X, Y]`, `list[X]`, `dict[str, Any]` and nested dataclasses.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

T = TypeVar("T")

__all__ = ["ConfigError", "load_config", "from_dict", "parse_overrides", "blame_override", "to_dict", "flatten",
           "check"]


class ConfigError(ValueError):
    """A configuration mistake; the message names the source, the key and the expectation.

    ``key`` is the dotted key at fault (None when the mistake is not about one key): `blame_override` uses
    it to name the ``--set`` that gave the value instead of the file.
    """

    def __init__(self, message: str, *, key: str | None = None):
        super().__init__(message)
        self.key = key


def check(condition: bool, key: str, expected: str, got: Any) -> None:
    """Raise `ValueError("{key}: expected {expected}, got {got!r}")` unless `condition` holds.

    Used by config dataclasses in `__post_init__` so that messages share one shape.
    """
    if not condition:
        raise ValueError(f"{key}: expected {expected}, got {got!r}")


def load_config(path: str | Path, cls: type[T], overrides: Sequence[str] = ()) -> T:
    """Read the YAML file `path` into the frozen dataclass `cls`, then apply `overrides`.

    Args:
        path: a YAML file whose top level is a mapping (an empty file gives all defaults).
        cls: a dataclass type; nested dataclass fields are nested mappings.
        overrides: strings "dotted.key=value"; the value is parsed as YAML ("3", "true", "[1, 2]").

    Raises:
        ConfigError: unknown key (with the closest valid keys), wrong type or impossible value.
        FileNotFoundError: `path` does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_config: config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML (data only, no tags): {error}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level, got {type(data).__name__}")
    data = apply_overrides(data, cls, overrides)
    try:
        return from_dict(cls, data, source=str(path))
    except ConfigError as error:
        raise blame_override(error, str(path), overrides) from None


def blame_override(error: ConfigError, source: str, overrides: Sequence[str]) -> ConfigError:
    """``error``, raised for the data of the file ``source`` with ``overrides`` applied, with its source
    replaced by the last override that set its key (or a section holding it), e.g.
    ``--set optimizer.lr=-1: optimizer.lr: expected a value > 0, got -1.0``; else ``error`` itself."""
    prefix = f"{source}: "
    if error.key is None or not str(error).startswith(prefix):
        return error
    for item in reversed(list(overrides)):
        key = item.partition("=")[0].strip()
        if error.key == key or error.key.startswith((key + ".", key + "[")):
            return ConfigError(f"--set {item}: {str(error)[len(prefix):]}", key=error.key)
    return error


def parse_overrides(overrides: Sequence[str]) -> list[tuple[str, Any]]:
    """Split "a.b=value" strings into (key, parsed value) pairs; the value is read as YAML."""
    if isinstance(overrides, str):
        raise TypeError(f"overrides: expected a list of 'key=value' strings, got the string {overrides!r}")
    pairs = []
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", key):
            raise ConfigError(f"--set {item!r}: expected 'dotted.key=value', e.g. 'optimizer.lr=0.01'")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as error:
            raise ConfigError(f"--set {item!r}: value is not valid YAML: {error}") from None
        pairs.append((key, value))
    return pairs


def apply_overrides(data: dict, cls: type, overrides: Sequence[str]) -> dict:
    """Return a copy of `data` with `overrides` set; keys are checked against `cls` first."""
    data = _deep_copy(data)
    for key, value in parse_overrides(overrides):
        _check_key_path(cls, key, source=f"--set {key}")
        parts = key.split(".")
        node = data
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return data


def from_dict(cls: type[T], data: Mapping[str, Any], *, source: str = "<dict>", prefix: str = "") -> T:
    """Build the dataclass `cls` from a plain mapping, checking keys and types (see module docstring).

    `source` names where the data came from (a file) and `prefix` the dotted path of this section;
    both appear in error messages.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"from_dict: expected a dataclass type, got {cls!r}")
    if not isinstance(data, Mapping):
        where = prefix.rstrip(".") or "top level"
        raise ConfigError(f"{source}: {where}: expected a mapping, got {data!r} ({type(data).__name__})",
                          key=prefix.rstrip(".") or None)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            raise ConfigError(f"{source}: unknown key {prefix + str(key)!r}{_suggest(str(key), fields, prefix)}",
                              key=prefix + str(key))
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(hints[name], value, source, prefix + name)
    try:
        return cls(**kwargs)
    except ValueError as error:  # messages start with the field's name: "lr: expected a value > 0, got -1.0"
        field = re.match(r"[A-Za-z_][\w.]*(?=:)", str(error))
        raise ConfigError(f"{source}: {prefix}{error}",
                          key=prefix + field.group() if field else prefix.rstrip(".") or None) from None


def to_dict(config: Any) -> dict[str, Any]:
    """A dataclass instance as plain nested dicts/lists (JSON- and YAML-safe)."""
    return _plain(dataclasses.asdict(config))


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; used to name the fields that differ between two configs."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# ---------------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


def _suggest(key: str, valid: Mapping[str, Any] | Sequence[str], prefix: str) -> str:
    names = list(valid)
    close = difflib.get_close_matches(key, names, n=3, cutoff=0.5)
    if close:
        return "; did you mean " + " or ".join(repr(prefix + c) for c in close) + "?"
    return "; valid keys: " + ", ".join(repr(prefix + n) for n in names)


def _check_key_path(cls: type, key: str, source: str) -> None:
    """Raise ConfigError unless the dotted `key` names a field of `cls` (or lies inside a dict field)."""
    current: Any = cls
    prefix = ""
    for part in key.split("."):
        if not (isinstance(current, type) and dataclasses.is_dataclass(current)):
            return  # inside a free-form dict (e.g. task_options): checked later by its owner
        hints = typing.get_type_hints(current)
        names = [f.name for f in dataclasses.fields(current) if f.init]
        if part not in names:
            raise ConfigError(f"{source}: unknown key {prefix + part!r}{_suggest(part, names, prefix)}",
                              key=prefix + part)
        current = _strip_optional(hints[part])
        prefix += part + "."


def _strip_optional(tp: Any) -> Any:
    args = typing.get_args(tp)
    if _is_union(tp) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return tp


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) is Union or isinstance(tp, types.UnionType)


def _describe(tp: Any) -> str:
    if tp is Any:
        return "any value"
    if tp is type(None):
        return "null"
    if tp in (bool, int, float, str):
        return {bool: "a boolean (true/false)", int: "an integer", float: "a float", str: "a string"}[tp]
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if _is_union(tp):
        return " or ".join(_describe(a) for a in args)
    if origin in (list, tuple):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} items"
        return "a list"
    if origin is dict or tp is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping (section)"
    return getattr(tp, "__name__", str(tp))


def _fail(tp: Any, value: Any, source: str, key: str) -> ConfigError:
    return ConfigError(f"{source}: {key}: expected {_describe(tp)}, got {value!r} ({type(value).__name__})",
                       key=key)


_FLOAT_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?inf")


def _convert(tp: Any, value: Any, source: str, key: str) -> Any:
    if tp is Any:
        return value
    if _is_union(tp):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, source, key)
            except ConfigError:
                continue
        raise _fail(tp, value, source, key)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _fail(tp, value, source, key)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _fail(tp, value, source, key)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):  # YAML 1.1 reads 3e-4 as a string
            return float(value)
        raise _fail(tp, value, source, key)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _fail(tp, value, source, key)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        if isinstance(value, str) and value in args:
            return value
        hint = difflib.get_close_matches(str(value), [str(a) for a in args], n=1, cutoff=0.5)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        raise ConfigError(
            f"{source}: {key}: expected one of {', '.join(repr(a) for a in args)}, got {value!r}{extra}", key=key
        )
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _fail(tp, value, source, key)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise _fail(tp, value, source, key)
            return tuple(_convert(a, v, source, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
        item = args[0] if args else Any
        items = [_convert(item, v, source, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise _fail(tp, value, source, key)
        value_type = args[1] if len(args) == 2 else Any
        return {str(k): _convert(value_type, v, source, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, source=source, prefix=key + ".")
    raise TypeError(f"{source}: {key}: unsupported field type {tp!r} in the config dataclass")
