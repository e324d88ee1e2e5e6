"""What every experiment shares: train one model through the engine and record its curves, write the metrics
CSV, tables, plots and the markdown report.

    record = train_run("lstm T=100", task, RunConfig(task="adding", max_steps=1000))
    final_value(record, "val_loss")

A run is trained by :class:`rnnkit.training.Trainer` without a run folder (no checkpoints); a callback keeps
every step's training loss and pre-clip gradient norm and every validation, which the experiment writes to
one metrics.csv (the engine's long form `step,split,name,value` with a `run` column in front). A run that
diverges (the engine raises TrainingDiverged on a NaN/inf loss or gradient) is recorded, not fatal.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from rnnkit.training import FitResult, OptimizerConfig, RunConfig, Trainer, TrainingDiverged, ValidationConfig
from rnnkit.training.progress import LogProgress, StepInfo

logger = logging.getLogger("rnnkit.experiments")

__all__ = [
    "ExperimentResult",
    "RunRecord",
    "crossing_step",
    "final_value",
    "format_number",
    "markdown_table",
    "pyplot",
    "run_config",
    "save_figure",
    "plot_curves",
    "series",
    "train_run",
    "write_metrics",
    "write_report",
    "write_table",
]


class RunRecord(NamedTuple):
    label: str
    rows: list[tuple[int, str, str, float]]  # (step, split, name, value): train loss/grad_norm, validations
    result: FitResult | None  # None when the run diverged
    diverged: str | None  # the engine's TrainingDiverged message, None when the run finished
    seconds: float
    model: nn.Module  # the model at the end (or at divergence)


class ExperimentResult(NamedTuple):
    name: str
    out_dir: Path
    report: Path  # report.md
    files: list[Path]  # every file written, the report included
    table: list[dict[str, Any]]  # the results table, one dict per row


def run_config(task: str, options: Any, *, steps: int, lr: float, seed: int, val_every: int,
               clip_norm: float | None = 1.0, optimizer: str = "adam") -> RunConfig:
    """The engine config every experiment uses: CPU, fp32, constant learning rate, validation every `val_every`."""
    return RunConfig(
        task=task, task_options=dataclasses.asdict(options), seed=seed, device="cpu", max_steps=steps,
        clip_norm=clip_norm, log_every=max(1, steps // 5),
        optimizer=OptimizerConfig(name=optimizer, lr=lr, momentum=0.0 if optimizer == "sgd" else 0.9),
        validation=ValidationConfig(every=val_every),
    )


class _Recorder:
    """Engine callback: keeps the per-step training numbers and the validations in memory."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, str, str, float]] = []

    def on_step(self, info: StepInfo) -> None:
        self.rows.append((info.step, "train", "loss", info.loss))
        self.rows.append((info.step, "train", "grad_norm", info.grad_norm))  # before clipping

    def on_validation(self, step: int, metrics: dict[str, float]) -> None:
        self.rows.extend((step, "val", name, value) for name, value in metrics.items())


def train_run(label: str, task: Any, config: RunConfig, *, model: nn.Module | None = None,
              log_every: int = 0) -> RunRecord:
    """Train `task` (or `model`) as `config` says; a TrainingDiverged is caught and recorded.

    log_every: a progress log line every so many steps (0: the config's log_every).
    """
    recorder = _Recorder()
    trainer = Trainer(task, config, model=model, callbacks=[recorder, LogProgress(log_every or config.log_every)])
    logger.info("%s: training %d steps", label, config.max_steps)
    tic = time.perf_counter()
    result, diverged = None, None
    try:
        result = trainer.fit()
    except TrainingDiverged as error:
        diverged = str(error)
        logger.info("%s: diverged: %s", label, diverged)
    seconds = time.perf_counter() - tic
    logger.info("%s: done in %.1f s", label, seconds)
    return RunRecord(label, recorder.rows, result, diverged, seconds, trainer.model)


def series(record: RunRecord, split: str, name: str) -> tuple[list[int], list[float]]:
    """The (steps, values) of one metric of one run, in step order."""
    pairs = [(step, value) for step, s, n, value in record.rows if s == split and n == name]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def final_value(record: RunRecord, name: str = "val_loss", split: str = "val") -> float:
    """The last logged value of a metric; NaN when there is none (a run that diverged before validating)."""
    values = series(record, split, name)[1]
    return values[-1] if values else math.nan


def crossing_step(record: RunRecord, threshold: float, name: str = "val_loss") -> int | None:
    """The first validation step at which `name` is below `threshold`; None if it never is."""
    for step, value in zip(*series(record, "val", name), strict=True):
        if value < threshold:
            return step
    return None


def format_number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value != 0 and (abs(value) < 10 ** -(digits - 1) or abs(value) >= 10 ** 5):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A GitHub markdown table of `rows` (dicts), the columns in `columns` order (default: the first row's)."""
    if not rows:
        return "(no rows)\n"
    columns = list(columns or rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(format_number(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_metrics(records: Iterable[RunRecord], path: Path) -> Path:
    """Every run's curves in one long CSV: run,step,split,name,value."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("run", "step", "split", "name", "value"))
        for record in records:
            writer.writerows((record.label, step, split, name, repr(float(value)))
                             for step, split, name, value in record.rows)
    return path


def write_table(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """The results table as CSV (None as an empty field)."""
    columns = list(rows[0]) if rows else []
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    return path


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, imported on first use (the "plot" extra)."""
    from rnnkit.plotting import pyplot as _pyplot

    return _pyplot("drawing an experiment's plots")


def plot_curves(
    panels: Sequence[tuple[str, Sequence[RunRecord]]],
    path: Path,
    *,
    split: str = "val",
    name: str = "val_loss",
    ylabel: str = "validation loss",
    baselines: Sequence[float | None] | None = None,
    log_y: bool = True,
    label: Callable[[RunRecord], str] = lambda record: record.label,
    suptitle: str = "",
) -> Path:
    """One panel per (title, runs): `name` against the step for each run, a dashed line at the panel's baseline.

    A run that diverged ends with an x at its last finite value.
    """
    plt = pyplot()
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False, sharey=True)
    handles: dict[str, Any] = {}
    for index, (axis, (title, records)) in enumerate(zip(axes[0], panels, strict=True)):
        for position, record in enumerate(records):
            color = f"C{position % 10}"  # the same run position has the same colour in every panel
            run_label = label(record)
            if run_label not in handles:
                handles[run_label] = axis.plot([], [], color=color, linewidth=1.2, label=run_label)[0]
            steps, values = series(record, split, name)
            finite = [(s, v) for s, v in zip(steps, values, strict=True) if math.isfinite(v) and (v > 0 or not log_y)]
            if record.diverged is not None:
                axis.annotate(f"{run_label}: diverged", xy=(0.02, 0.04 + 0.07 * position), xycoords="axes fraction",
                              fontsize=7, color=color)
            if not finite:
                continue
            axis.plot(*zip(*finite, strict=True), color=color, linewidth=1.2)
            if record.diverged is not None:
                axis.plot(*finite[-1], marker="x", markersize=9, color=color)
        baseline = baselines[index] if baselines is not None else None
        if baseline is not None:
            handles["baseline"] = axis.axhline(baseline, color="black", linestyle="--", linewidth=1, label="baseline")
        if log_y:
            axis.set_yscale("log")
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("optimizer step")
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(handles=list(handles.values()), fontsize=8)
    if suptitle:
        figure.suptitle(suptitle, fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


def save_figure(figure: Any, path: Path) -> Path:
    """Save a PNG small enough to commit (dpi 80) and close the figure."""
    figure.savefig(path, dpi=80)
    pyplot().close(figure)
    return path


def settings_lines(settings: Any) -> list[str]:
    """`- name: value` for every field of a settings dataclass."""
    return [f"- `{name}`: {value}" for name, value in vars(settings).items()]


def write_report(
    out_dir: Path,
    *,
    title: str,
    command: str,
    quick: bool,
    intro: str,
    settings: Any,
    table: Sequence[dict[str, Any]],
    plots: Sequence[tuple[str, Path]],
    conclusion: str,
    seconds: float,
    notes: Sequence[str] = (),
) -> Path:
    """report.md: what was compared, the settings, the results table, the plots and the conclusion."""
    lines = [f"# {title}", ""]
    if quick:
        lines += ["> **Quick run** (reduced settings, for tests): the numbers show that the pipeline works, "
                  "not the claims. Run without `--quick` for the real comparison.", ""]
    lines += [intro.strip(), "", f"Reproduce: `{command}`", "", "## Settings", ""]
    lines += settings_lines(settings)
    lines += [f"- machine: {platform.machine()} CPU, torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
              f"wall time {seconds:.0f} s", ""]
    lines += ["## Results", "", markdown_table(table)]
    for caption, path in plots:
        lines += [f"![{caption}]({path.name})", "", f"*{caption}*", ""]
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    lines += ["## Conclusion", "", conclusion.strip(), ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
