"""Long-memory experiments: the textbook claims about recurrent networks, measured (docs/experiments.md).

    rnnkit experiment adding [--quick] [--out DIR]

is

    from rnnkit.experiments import run
    result = run("adding", quick=False, out="runs/experiments/adding")  # -> ExperimentResult

Experiments (one module each, declaring an `EXPERIMENT` (rnnkit.experiments.grid.Experiment) that the one
grid runner, rnnkit.experiments.grid.run_grid, runs; the tasks `adding`, `copy` and `tail` are in
rnnkit.experiments.tasks):

- adding: Elman, IRNN, LSTM, GRU, minGRU on the adding problem at T = 50, 100, 200 (baseline MSE 1/6).
- copy: the same cells on the copy task (baseline 10 ln 8 / (T + 20)).
- gradients: ‖∂L/∂h_t‖ against the distance from the loss, at init and after training, per cell.
- clipping: an Elman RNN with a large recurrent init, SGD with and without gradient-norm clipping.
- init: default vs xavier vs orthogonal vs identity init for the Elman RNN on the adding problem.
- lengths: LSTM and GRU on a variable-length classification task (`tail`), padded without lengths vs
  `lengths=` vs packed vs bidirectional: what padding does to accuracy when it is not masked.

Each writes metrics.csv (every run's curves), results.csv (the table), PNG plots and report.md into `out`.
Runs use one CPU thread (repeatable numbers on a shared machine; also set OMP_WAIT_POLICY=PASSIVE in the
environment, which OpenMP reads before Python can).
"""

from __future__ import annotations

import difflib
import importlib
import os
from pathlib import Path

import torch

from rnnkit import catalog
from rnnkit.experiments.runner import ExperimentResult

__all__ = ["EXPERIMENTS", "ExperimentResult", "run"]

# name -> the module that declares it as EXPERIMENT (rnnkit.catalog): imported when the experiment runs
EXPERIMENTS = {name: catalog.experiment_module(name) for name in catalog.experiment_names()}


def run(name: str, quick: bool = False, out: str | Path | None = None) -> ExperimentResult:
    """Run the experiment `name` (full, or reduced with `quick`) and write its files to `out`.

    out: the folder for metrics.csv, results.csv, plots and report.md (default runs/experiments/<name>).
    """
    if not isinstance(name, str) or name not in EXPERIMENTS:
        close = difflib.get_close_matches(str(name), EXPERIMENTS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"name: expected one of {sorted(EXPERIMENTS)}, got {name!r}{hint}")
    if not isinstance(quick, bool):
        raise TypeError(f"quick: expected a bool, got {type(quick).__name__}")
    experiment = importlib.import_module(EXPERIMENTS[name]).EXPERIMENT
    out = Path("runs") / "experiments" / name if out is None else Path(out)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # for child processes; this one read it at start-up
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the same numbers on a busy machine, and no spinning
    try:
        return experiment.run(experiment.quick if quick else experiment.full, out, quick=quick)
    finally:
        torch.set_num_threads(threads)
