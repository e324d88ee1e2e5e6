"""From a YAML file to a finished run: what `rnnkit train` calls.

    from rnnkit.training import train
    result = train("configs/tiny.yaml", ["max_steps=50"], out_dir="runs/tiny")

is the same as

    config = load_config("configs/tiny.yaml", RunConfig, ["max_steps=50"])
    task = build_task(config.task, config.task_options, seed=config.seed, source="configs/tiny.yaml")
    result = Trainer(task, config, out_dir="runs/tiny").fit()
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from rnnkit.config import load_config
from rnnkit.training.config import RunConfig
from rnnkit.training.registry import build_task, task_options
from rnnkit.training.task import Task
from rnnkit.training.trainer import FitResult, Trainer

__all__ = ["Run", "load_run", "train"]


class Run(NamedTuple):
    config: RunConfig
    task: Task


def load_run(path: str | Path, overrides: Sequence[str] = ()) -> Run:
    """Read and validate the whole config (task options included) and build the task; no training yet."""
    config = load_config(path, RunConfig, overrides)
    options = task_options(config.task, config.task_options, source=str(path))
    return Run(config, build_task(config.task, options, seed=config.seed, source=str(path)))


def train(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    out_dir: str | Path | None = None,
    resume: bool = False,
    callbacks: Sequence[Any] | None = None,
) -> FitResult:
    """Train the run described by the YAML file `path`; `out_dir` defaults to runs/<file stem>."""
    run = load_run(path, overrides)
    out_dir = Path("runs") / Path(path).stem if out_dir is None else Path(out_dir)
    return Trainer(run.task, run.config, out_dir=out_dir, resume=resume, callbacks=callbacks).fit()
