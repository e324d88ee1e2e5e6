"""Experiments as data, and the one grid runner that runs them.

An experiment declares what is particular to it (its axes, how to measure one grid point, its table, plots
and text) in an :class:`Experiment`; :func:`run_grid` does the rest the same way for every experiment:

    EXPERIMENT = Experiment(
        name="adding", title="Adding problem: ...",
        axes=(Axis("seq_len", over="seq_lens"), Axis("cell", over="cells")),  # T outermost, then the cells
        measure=measure,  # measure(settings, seq_len=50, cell="lstm") -> RunRecord | Measured
        row=result_row,  # result_row(point, grid) -> one dict (or a list of them) of the results table
        plots=(Curves("adding.png", "Validation MSE against optimizer steps", ...),),
        intro="...", conclusion=conclusion, full=Settings(), quick=Settings(seq_lens=(10,), ...),
    )
    result = EXPERIMENT.run(EXPERIMENT.quick, Path("runs/experiments/adding"), quick=True)

:func:`run_grid` walks the product of the axes (the first outermost; each axis's values are a field or
property of the settings), calls `measure` once per point, and from the resulting :class:`Grid` writes, into
the output folder, the experiment's own data files, metrics.csv (every run's curves), results.csv (the table),
the plots and report.md, in that order.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from rnnkit.config import check
from rnnkit.experiments.runner import (
    ExperimentResult,
    RunRecord,
    plot_curves,
    run_config,
    train_run,
    write_metrics,
    write_report,
    write_table,
)

__all__ = ["Axis", "Curves", "DataFile", "Experiment", "Figure", "Grid", "Measured", "Point", "run_grid",
           "train_point"]

Text = str | Callable[["Grid"], str]  # fixed text, or text written from the grid's numbers
_FROM_SETTINGS: Any = object()


def _paragraph(text: str) -> str:
    """A paragraph written as an indented triple-quoted string: its words joined by single spaces."""
    return " ".join(text.split())


def _text(value: Any, grid: Grid) -> Any:
    return value(grid) if callable(value) else value


@dataclass(frozen=True)
class Axis:
    """One axis of the grid: each point gets the keyword `name`; the values are the settings' field `over`."""

    name: str
    over: str

    def __post_init__(self) -> None:
        for key in ("name", "over"):
            value = getattr(self, key)
            check(isinstance(value, str) and value.isidentifier(), key, "an identifier", value)

    def values(self, settings: Any) -> tuple[Any, ...]:
        return tuple(getattr(settings, self.over))


class Measured(NamedTuple):
    """What `measure` returns when a point yields more than its training run: the run and named extras."""

    record: RunRecord
    extra: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class Point:
    """One measured grid point: its axis values (`at`), its training run and the measure's extras."""

    at: dict[str, Any]  # axis name -> value
    record: RunRecord = field(repr=False)
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def __getitem__(self, name: str) -> Any:
        return self.at[name]


@dataclass(frozen=True)
class Grid:
    """Every measured point in grid order, the settings they were measured with and the experiment's facts."""

    settings: Any
    axes: tuple[Axis, ...]
    points: tuple[Point, ...] = field(repr=False)
    facts: Mapping[str, Any] = field(default_factory=dict, repr=False)  # Experiment.facts' result

    @property
    def records(self) -> list[RunRecord]:
        return [point.record for point in self.points]

    def values(self, name: str) -> tuple[Any, ...]:
        """The values of the axis `name`, in order."""
        return next(axis for axis in self.axes if axis.name == name).values(self.settings)

    def where(self, **at: Any) -> list[Point]:
        """The points whose axis values are `at`, in grid order."""
        return [point for point in self.points if all(point.at[key] == value for key, value in at.items())]

    def point(self, **at: Any) -> Point:
        """The one point at `at` (every axis named)."""
        (found,) = self.where(**at)
        return found


@dataclass(frozen=True)
class Curves:
    """A metric against the optimizer step (runner.plot_curves): a panel per value of the first axis, a line
    per point in it (the other axes in grid order), a dashed line at the panel's baseline."""

    file: str
    caption: str  # under the plot in report.md
    panel: Callable[[Any], str] = field(repr=False)  # the panel's title from the first axis's value
    label: Callable[[Point], str] = field(repr=False)  # a line's legend entry
    ylabel: str
    suptitle: Text = field(repr=False)
    baseline: float | Callable[[Any], float] | None = field(default=None, repr=False)  # per first-axis value
    metric: str = "val_loss"  # a validation metric
    log_y: bool = True

    def render(self, grid: Grid, path: Path) -> Path:
        first = grid.axes[0]
        values = first.values(grid.settings)
        labels = {id(point.record): self.label(point) for point in grid.points}
        panels = [(self.panel(value), [point.record for point in grid.where(**{first.name: value})])
                  for value in values]
        baselines = None if self.baseline is None else [
            self.baseline(value) if callable(self.baseline) else self.baseline for value in values]
        return plot_curves(panels, path, name=self.metric, ylabel=self.ylabel, baselines=baselines,
                           log_y=self.log_y, label=lambda record: labels[id(record)],
                           suptitle=_text(self.suptitle, grid))


@dataclass(frozen=True)
class Figure:
    """A plot the experiment draws itself: `draw(grid, path) -> path`."""

    file: str
    caption: str  # under the plot in report.md
    draw: Callable[[Grid, Path], Path] = field(repr=False)

    def render(self, grid: Grid, path: Path) -> Path:
        return self.draw(grid, path)


@dataclass(frozen=True)
class DataFile:
    """A data file of the experiment's own, written before metrics.csv: `write(grid, path) -> path`."""

    file: str
    write: Callable[[Grid, Path], Path] = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class Experiment:
    """One experiment as data (see the module docstring); `run` is :func:`run_grid`.

    The results table comes from `row` (once per point; a dict or a list of dicts) or from `table` (the whole
    grid at once, e.g. one row per value of an axis): give exactly one. `facts(grid)` computes numbers the
    text and the plots need beyond the points (Grid.facts). `intro`, `notes` and a plot's `suptitle` are text
    or functions of the grid; the intro is one paragraph, written as an indented triple-quoted string (its
    white space is folded). `conclusion(table, grid)` writes the conclusion from the measured numbers.
    """

    name: str  # as in `rnnkit experiment NAME` and rnnkit.experiments.EXPERIMENTS
    title: str  # of report.md
    axes: tuple[Axis, ...]
    measure: Callable[..., RunRecord | Measured] = field(repr=False)
    intro: Text = field(repr=False)
    conclusion: Callable[[list[dict[str, Any]], Grid], str] = field(repr=False)
    full: Any  # the settings of the real run, a frozen dataclass
    quick: Any  # the reduced settings of --quick (the tests' run), the same class
    row: Callable[[Point, Grid], dict[str, Any] | list[dict[str, Any]]] | None = field(
        default=None, repr=False)
    table: Callable[[Grid], list[dict[str, Any]]] | None = field(default=None, repr=False)
    plots: tuple[Curves | Figure, ...] = ()
    data_files: tuple[DataFile, ...] = ()
    facts: Callable[[Grid], Mapping[str, Any]] | None = field(default=None, repr=False)
    notes: Sequence[str] | Callable[[Grid], Sequence[str]] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        check(isinstance(self.name, str) and self.name.isidentifier(), "name", "an identifier", self.name)
        if not (isinstance(self.axes, tuple) and self.axes and all(isinstance(a, Axis) for a in self.axes)):
            raise TypeError(f"axes: expected a non-empty tuple of Axis, got {self.axes!r}")
        names = [axis.name for axis in self.axes]
        check(len(set(names)) == len(names), "axes", "axes of different names", names)
        check((self.row is None) != (self.table is None), "row, table", "exactly one of them given",
              (self.row, self.table))
        if not dataclasses.is_dataclass(self.full) or type(self.quick) is not type(self.full):
            kind = type(self.full).__name__
            raise TypeError(f"quick: expected settings of the same dataclass as full ({kind}), "
                            f"got {type(self.quick).__name__}")
        for axis in self.axes:
            check(hasattr(self.full, axis.over), "axes", f"fields of {type(self.full).__name__}", axis.over)

    def run(self, settings: Any, out: Path, *, quick: bool = False) -> ExperimentResult:
        """Measure every point with `settings` and write the files into `out` (see :func:`run_grid`)."""
        return run_grid(self, settings, out, quick=quick)


def run_grid(experiment: Experiment, settings: Any, out: Path, *, quick: bool = False) -> ExperimentResult:
    """Measure every grid point; write the data files, metrics.csv, results.csv, the plots and report.md."""
    out.mkdir(parents=True, exist_ok=True)
    tic = time.perf_counter()
    points = tuple(_measure(experiment, settings, at) for at in _points(experiment, settings))
    grid = Grid(settings, experiment.axes, points)
    if experiment.facts is not None:
        grid = dataclasses.replace(grid, facts=MappingProxyType(dict(experiment.facts(grid))))
    if experiment.row is not None:
        table = [row for point in grid.points for row in _rows(experiment.row(point, grid))]
    else:
        table = experiment.table(grid)
    files = [data.write(grid, out / data.file) for data in experiment.data_files]
    files += [write_metrics(grid.records, out / "metrics.csv"), write_table(table, out / "results.csv")]
    plots = [(plot.caption, plot.render(grid, out / plot.file)) for plot in experiment.plots]
    files += [path for _, path in plots]
    seconds = time.perf_counter() - tic
    report = write_report(
        out, title=experiment.title, quick=quick,
        command=f"rnnkit experiment {experiment.name}" + (" --quick" if quick else ""),
        intro=_paragraph(_text(experiment.intro, grid)), settings=settings, table=table, plots=plots,
        conclusion=experiment.conclusion(table, grid), seconds=seconds, notes=_text(experiment.notes, grid),
    )
    files.append(report)
    return ExperimentResult(experiment.name, out, report, files, table)


def _points(experiment: Experiment, settings: Any) -> list[dict[str, Any]]:
    names = [axis.name for axis in experiment.axes]
    return [dict(zip(names, values, strict=True))
            for values in itertools.product(*(axis.values(settings) for axis in experiment.axes))]


def _measure(experiment: Experiment, settings: Any, at: dict[str, Any]) -> Point:
    measured = experiment.measure(settings, **at)
    if isinstance(measured, RunRecord):
        measured = Measured(measured)
    return Point(at, measured.record, MappingProxyType(dict(measured.extra)))


def _rows(rows: dict[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return rows if isinstance(rows, list) else [rows]


def train_point(label: str, task: Any, settings: Any, *, seed: int | None = None,
                clip_norm: float | None = _FROM_SETTINGS, val_every: int | None = None,
                optimizer: str = "adam", model: Any = None) -> RunRecord:
    """Train `task` through the engine (runner.train_run) with the settings' steps, lr, seed, val_every and
    clip_norm; a keyword given here replaces the settings' value for this point."""
    config = run_config(
        task.name, task.options, steps=settings.steps, lr=settings.lr,
        seed=settings.seed if seed is None else seed, val_every=val_every or settings.val_every,
        clip_norm=settings.clip_norm if clip_norm is _FROM_SETTINGS else clip_norm, optimizer=optimizer,
    )
    return train_run(label, task, config, model=model)
