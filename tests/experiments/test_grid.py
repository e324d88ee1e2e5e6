"""The one grid runner against a hand-made experiment whose points are fabricated runs (no training)."""

from __future__ import annotations

import csv
import importlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from torch import nn

from rnnkit.experiments import EXPERIMENTS
from rnnkit.experiments.grid import (
    Axis,
    Curves,
    DataFile,
    Experiment,
    Figure,
    Grid,
    Measured,
    train_point,
)
from rnnkit.experiments.runner import RunRecord
from rnnkit.experiments.tasks import AddingOptions, AddingTask, TailOptions, TailTask, padding_fraction


@dataclass(frozen=True)
class Settings:
    sizes: tuple[int, ...] = (1, 2)
    names: tuple[str, ...] = ("a", "b", "c")
    steps: int = 3
    lr: float = 0.5
    clip_norm: float | None = 2.0
    val_every: int = 1
    seed: int = 7


def _record(size: int, name: str) -> RunRecord:
    rows = [(1, "train", "loss", float(size)), (1, "val", "val_loss", size / 10), (2, "val", "val_loss", size / 20)]
    return RunRecord(f"{name} size={size}", rows, None, None, 0.0, nn.Linear(1, 1))


def _write_points(grid: Grid, path: Path) -> Path:
    path.write_text("".join(f"{p['size']},{p['name']}\n" for p in grid.points))
    return path


def _experiment(**changes) -> Experiment:
    calls = []

    def measure(settings, size, name):
        calls.append((size, name))
        return _record(size, name) if name != "c" else Measured(_record(size, name), {"twice": 2 * size})

    declaration = dict(
        name="toy", title="A toy grid", axes=(Axis("size", over="sizes"), Axis("name", over="names")),
        measure=measure, row=lambda point, grid: {"size": point["size"], "name": point["name"],
                                                  "twice": point.extra.get("twice"), "total": grid.facts["total"]},
        facts=lambda grid: {"total": sum(p["size"] for p in grid.points)},
        data_files=(DataFile("points.txt", _write_points),),
        plots=(Figure("toy.png", "the toy figure", lambda grid, path: path.write_bytes(b"png") and path),),
        intro=lambda grid: f"""
            An intro written over
            several lines, {len(grid.points)} points.
        """,
        conclusion=lambda table, grid: f"{len(table)} rows, total {grid.facts['total']}.",
        notes=("one note",), full=Settings(), quick=Settings(sizes=(3,)),
    )
    declaration.update(changes)
    return Experiment(**declaration), calls


def test_the_grid_runs_every_point_in_axis_order_and_writes_the_files_in_order(tmp_path):
    experiment, calls = _experiment()
    result = experiment.run(experiment.full, tmp_path, quick=True)
    assert calls == [(1, "a"), (1, "b"), (1, "c"), (2, "a"), (2, "b"), (2, "c")]  # the first axis outermost
    assert [path.name for path in result.files] == ["points.txt", "metrics.csv", "results.csv", "toy.png",
                                                     "report.md"]
    assert (tmp_path / "points.txt").read_text().splitlines()[:2] == ["1,a", "1,b"]
    assert result.table == [{"size": s, "name": n, "twice": 2 * s if n == "c" else None, "total": 9}
                            for s, n in calls]
    with open(tmp_path / "metrics.csv") as handle:
        metrics = list(csv.DictReader(handle))
    assert len(metrics) == 6 * 3 and metrics[0] == {"run": "a size=1", "step": "1", "split": "train",
                                                    "name": "loss", "value": "1.0"}
    report = result.report.read_text()
    assert "An intro written over several lines, 6 points.\n" in report  # one paragraph, white space folded
    assert "Reproduce: `rnnkit experiment toy --quick`" in report and "Quick run" in report
    assert "- one note" in report and "6 rows, total 9." in report and "![the toy figure](toy.png)" in report
    assert "- `sizes`: (1, 2)" in report  # the settings it ran with


def test_a_table_function_sees_the_whole_grid(tmp_path):
    def table(grid):
        return [{"name": name, "sizes": [p["size"] for p in grid.where(name=name)]} for name in grid.values("name")]

    experiment, _ = _experiment(row=None, table=table, data_files=(), plots=())
    result = experiment.run(experiment.quick, tmp_path)
    assert result.table == [{"name": "a", "sizes": [3]}, {"name": "b", "sizes": [3]}, {"name": "c", "sizes": [3]}]
    assert "Quick run" not in result.report.read_text()


def test_a_row_function_may_give_several_rows(tmp_path):
    experiment, _ = _experiment(row=lambda point, grid: [{"n": point["name"]}, {"n": point["name"] * 2}], plots=())
    rows = experiment.run(Settings(sizes=(1,), names=("x", "y")), tmp_path).table
    assert rows == [{"n": "x"}, {"n": "xx"}, {"n": "y"}, {"n": "yy"}]


def test_curves_draw_a_panel_per_first_axis_value_and_a_line_per_point(tmp_path, monkeypatch):
    drawn = {}

    def fake_plot_curves(panels, path, **options):
        drawn.update(panels=[(title, [r.label for r in records]) for title, records in panels], path=path,
                     labels=[options["label"](r) for _, records in panels for r in records],
                     **{k: v for k, v in options.items() if k != "label"})
        path.write_bytes(b"png")
        return path

    monkeypatch.setattr("rnnkit.experiments.grid.plot_curves", fake_plot_curves)
    curves = Curves("c.png", "caption", panel=lambda size: f"size {size}", label=lambda point: point["name"].upper(),
                    ylabel="loss", suptitle=lambda grid: f"{len(grid.points)} runs", baseline=lambda size: size / 4,
                    metric="val_loss", log_y=False)
    experiment, _ = _experiment(plots=(curves,), data_files=())
    experiment.run(experiment.full, tmp_path)
    assert drawn["panels"] == [("size 1", ["a size=1", "b size=1", "c size=1"]),
                               ("size 2", ["a size=2", "b size=2", "c size=2"])]
    assert drawn["labels"] == ["A", "B", "C"] * 2 and drawn["path"] == tmp_path / "c.png"
    assert drawn["baselines"] == [0.25, 0.5] and drawn["suptitle"] == "6 runs"
    assert drawn["name"] == "val_loss" and drawn["ylabel"] == "loss" and drawn["log_y"] is False


def test_train_point_takes_the_settings_and_a_keyword_replaces_one(monkeypatch):
    configs = []
    monkeypatch.setattr("rnnkit.experiments.grid.train_run", lambda label, task, config, model: configs.append(config))
    task = AddingTask(AddingOptions(hidden_size=4, seq_len=5, val_size=2), seed=7)
    train_point("x", task, Settings(), seed=None)
    train_point("x", task, Settings(), seed=3, clip_norm=None, val_every=2, optimizer="sgd")
    plain, changed = configs
    assert (plain.task, plain.task_options["seq_len"], plain.seed, plain.max_steps) == ("adding", 5, 7, 3)
    assert (plain.clip_norm, plain.validation.every, plain.optimizer.name, plain.optimizer.lr) == (2.0, 1, "adam", 0.5)
    assert (changed.seed, changed.clip_norm, changed.validation.every, changed.optimizer.name) == (3, None, 2, "sgd")


def test_bad_declarations_name_the_argument():
    with pytest.raises(ValueError, match=r"row, table: expected exactly one of them given"):
        _experiment(table=lambda grid: [])
    with pytest.raises(ValueError, match=r"row, table: expected exactly one of them given"):
        _experiment(row=None)
    with pytest.raises(TypeError, match=r"axes: expected a non-empty tuple of Axis, got \[\]"):
        _experiment(axes=[])
    with pytest.raises(ValueError, match=r"axes: expected fields of Settings, got 'seeds'"):
        _experiment(axes=(Axis("seed", over="seeds"),))
    with pytest.raises(ValueError, match=r"axes: expected axes of different names, got \['size', 'size'\]"):
        _experiment(axes=(Axis("size", over="sizes"), Axis("size", over="names")))
    with pytest.raises(TypeError, match=r"quick: expected settings of the same dataclass as full \(Settings\), "
                                        r"got AddingOptions"):
        _experiment(quick=AddingOptions())
    with pytest.raises(ValueError, match=r"name: expected an identifier, got 'my experiment'"):
        _experiment(name="my experiment")
    with pytest.raises(ValueError, match=r"over: expected an identifier, got 'a.b'"):
        Axis("a", over="a.b")


def test_every_catalog_entry_declares_its_experiment():
    for name, module in EXPERIMENTS.items():
        experiment = importlib.import_module(module).EXPERIMENT
        assert isinstance(experiment, Experiment) and experiment.name == name
        assert repr(experiment).startswith(f"Experiment(name={name!r}, title=")


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_the_committed_full_reports_open_with_the_declared_intro(name):
    # docs/experiments/NAME/report.md was written by the full run: its intro is what the declaration writes
    module = importlib.import_module(EXPERIMENTS[name])
    settings, facts = module.EXPERIMENT.full, {}
    if name == "lengths":  # the intro quotes the padding fractions, which depend on the data only
        data = TailTask(TailOptions(seq_len=settings.seq_len, min_len=settings.min_len, tail=settings.tail,
                                    batch_size=settings.batch_size, val_size=settings.val_size), settings.seed)
        facts = {"val_padding": padding_fraction(data.val_set.lengths, settings.seq_len),
                 "train_padding": module.train_padding_fraction(data, settings.steps)}
    intro = module.EXPERIMENT.intro
    text = intro(Grid(settings, module.EXPERIMENT.axes, (), facts)) if callable(intro) else intro
    report = Path(__file__).resolve().parents[2] / "docs" / "experiments" / name / "report.md"
    assert " ".join(text.split()) in report.read_text(encoding="utf-8").splitlines()


def test_the_declaration_docs_show_is_the_code():
    root = Path(__file__).resolve().parents[2]
    docs = (root / "docs" / "experiments.md").read_text(encoding="utf-8")
    section = docs[docs.index("## How to add an experiment"):]
    block = section[section.index("```python\n") + len("```python\n"):section.index("\n```\n")]
    source = (root / "rnnkit" / "experiments" / "copying.py").read_text(encoding="utf-8")
    assert "EXPERIMENT = Experiment(" in block
    for chunk in block.split("\n\n\n"):  # each function and the declaration, verbatim
        assert chunk.strip() in source, chunk
