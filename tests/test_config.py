"""load_config: every mistake names the source, the key and the expectation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from rnnkit.config import ConfigError, check, from_dict, load_config, to_dict
from rnnkit.training.config import RunConfig
from rnnkit.training.run import load_run


@dataclass(frozen=True)
class Inner:
    size: int = 3
    rate: float = 0.5
    kind: Literal["a", "b"] = "a"

    def __post_init__(self) -> None:
        check(self.size >= 1, "size", "an integer >= 1", self.size)


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    flag: bool = False
    limit: int | None = None
    pair: tuple[float, float] = (1.0, 2.0)
    inner: Inner = field(default_factory=Inner)


def _write(tmp_path, text: str):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_values_nested_sections_and_defaults(tmp_path):
    path = _write(tmp_path, "name: y\nlimit: 4\npair: [3, 4.5]\ninner:\n  rate: 3e-4\n  kind: b\n")
    config = load_config(path, Outer)
    assert config == Outer(name="y", limit=4, pair=(3.0, 4.5), inner=Inner(rate=3e-4, kind="b"))
    assert load_config(_write(tmp_path, ""), Outer) == Outer()
    assert to_dict(config)["inner"] == {"size": 3, "rate": 3e-4, "kind": "b"}


def test_overrides_with_dotted_keys(tmp_path):
    path = _write(tmp_path, "inner:\n  size: 2\n")
    config = load_config(path, Outer, ["inner.size=5", "flag=true", "limit=null", "name=z"])
    assert config == Outer(name="z", flag=True, limit=None, inner=Inner(size=5))


def test_unknown_key_names_file_and_closest_keys(tmp_path):
    path = _write(tmp_path, "inner:\n  sise: 2\n")
    with pytest.raises(ConfigError, match=rf"^{path}: unknown key 'inner.sise'; did you mean 'inner.size'\?"):
        load_config(path, Outer)
    with pytest.raises(ConfigError, match=r"--set inner.rat: unknown key 'inner.rat'; did you mean 'inner.rate'"):
        load_config(_write(tmp_path, ""), Outer, ["inner.rat=1"])
    with pytest.raises(ConfigError, match=r"unknown key 'zzz'; valid keys: 'name', 'flag'"):
        load_config(_write(tmp_path, "zzz: 1\n"), Outer)


@pytest.mark.parametrize(
    "text, message",
    [
        ("flag: 1\n", r"flag: expected a boolean \(true/false\), got 1 \(int\)"),
        ("inner:\n  size: 2.5\n", r"inner.size: expected an integer, got 2.5 \(float\)"),
        ("inner:\n  rate: fast\n", r"inner.rate: expected a float, got 'fast' \(str\)"),
        ("inner:\n  kind: c\n", r"inner.kind: expected one of 'a', 'b', got 'c'"),
        ("limit: many\n", r"limit: expected an integer or null, got 'many'"),
        ("pair: [1]\n", r"pair: expected a list of 2 items, got \[1\]"),
        ("inner: 3\n", r"inner: expected a mapping, got 3"),
        ("inner:\n  size: 0\n", r"inner.size: expected an integer >= 1, got 0"),
    ],
)
def test_wrong_types_and_impossible_values(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=f"^{path}: {message}"):
        load_config(path, Outer)


def test_yaml_is_data_only(tmp_path):
    path = _write(tmp_path, "name: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path, Outer)


def test_bad_override_syntax_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"--set 'lr': expected 'dotted.key=value'"):
        load_config(_write(tmp_path, ""), Outer, ["lr"])
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml", Outer)
    with pytest.raises(TypeError, match="from_dict: expected a dataclass type"):
        from_dict(dict, {})


def test_run_config_messages(tmp_path):
    path = _write(tmp_path, "optimizer:\n  name: adamm\n")
    with pytest.raises(ConfigError, match=r"optimizer.name: expected one of .*got 'adamm'; did you mean 'adam'\?"):
        load_config(path, RunConfig)
    path = _write(tmp_path, "optimizer:\n  lr: -1\n")
    with pytest.raises(ConfigError, match=rf"^{path}: optimizer.lr: expected a value > 0, got -1.0"):
        load_config(path, RunConfig)


def test_task_options_are_checked_by_the_task(tmp_path):
    path = _write(tmp_path, "task: toy_lm\ntask_options:\n  hiden_size: 8\n")
    with pytest.raises(ConfigError, match=rf"^{path}: unknown key 'task_options.hiden_size'; did you mean "
                                          r"'task_options.hidden_size'"):
        load_run(path)
    path = _write(tmp_path, "task: toy_lm\ntask_options:\n  cell: lstn\n")
    with pytest.raises(ConfigError, match=r"task_options.cell: expected one of 'rnn', 'lstm', 'gru'"):
        load_run(path)
    path = _write(tmp_path, "task: toy_ml\n")
    with pytest.raises(ConfigError, match=r"task: unknown task 'toy_ml'; did you mean 'toy_lm'\?"):
        load_run(path)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["inner.size=0"], r"--set inner.size=0: inner.size: expected an integer >= 1, got 0"),
        (["inner.kind=c"], r"--set inner.kind=c: inner.kind: expected one of 'a', 'b', got 'c'"),
        (["flag=1"], r"--set flag=1: flag: expected a boolean \(true/false\), got 1 \(int\)"),
        (["inner={size: 0}"], r"--set inner={size: 0}: inner.size: expected an integer >= 1, got 0"),
        (["inner.size=0", "inner.size=-1"], r"--set inner.size=-1: inner.size: .*got -1"),  # the one that counts
    ],
)
def test_a_bad_value_from_set_is_blamed_on_the_override(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=f"^{message}"):
        load_config(_write(tmp_path, "name: y\n"), Outer, ["name=z", *overrides])


def test_a_bad_value_in_the_file_is_still_blamed_on_the_file(tmp_path):
    path = _write(tmp_path, "inner:\n  size: 0\n")
    with pytest.raises(ConfigError, match=rf"^{path}: inner.size: expected an integer >= 1, got 0"):
        load_config(path, Outer, ["inner.rate=0.1", "flag=true"])  # overrides of other keys are not to blame
    assert load_config(path, Outer, ["inner.size=2"]).inner.size == 2  # an override may fix the file


def test_task_options_from_set_are_blamed_on_the_override(tmp_path):
    path = _write(tmp_path, "task: toy_lm\n")
    with pytest.raises(ConfigError, match=r"^--set task_options.cell=lstn: task_options.cell: expected one of"):
        load_run(path, ["task_options.cell=lstn"])
    with pytest.raises(ConfigError, match=r"^--set task_options.hiden_size=8: unknown key 'task_options.hiden_size'"):
        load_run(path, ["task_options.hiden_size=8"])
    with pytest.raises(ConfigError, match=r"^--set task=toy_ml: task: unknown task 'toy_ml'"):
        load_run(path, ["task=toy_ml"])
