"""Experiment `init`: does the initial recurrent matrix decide whether an Elman RNN learns the adding problem?

The tanh Elman RNN (rnnkit.RNN) with the four base schemes of rnnkit.init, everything else equal:

- default: torch's uniform(−1/√H, 1/√H) for every parameter;
- xavier: Glorot & Bengio 2010 uniform per gate block, zero biases;
- orthogonal: Glorot input weights, an orthogonal recurrent matrix (Saxe et al. 2014, arXiv:1312.6120);
- identity: the identity recurrent matrix, N(0, 0.001²) input weights (Le, Jaitly & Hinton 2015,
  arXiv:1504.00941, whose IRNN pairs it with ReLU; here it is used with tanh to change one thing at a time).

Several seeds each (a single run can leave the plateau early or late by luck); the report gives every seed.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnkit.experiments.adding import verdict
from rnnkit.experiments.grid import Axis, Curves, Experiment, Grid, Measured, train_point
from rnnkit.experiments.runner import final_value
from rnnkit.experiments.tasks import AddingOptions, AddingTask, adding_baseline
from rnnkit.training import seed_everything

__all__ = ["Settings", "EXPERIMENT", "FULL", "QUICK", "run", "spectral_radius"]


@dataclass(frozen=True)
class Settings:
    schemes: tuple[str, ...] = ("default", "xavier", "orthogonal", "identity")
    seq_len: int = 20  # T of the adding problem
    hidden_size: int = 64
    batch_size: int = 64
    steps: int = 1000
    lr: float = 0.003  # Adam, constant
    clip_norm: float | None = 1.0
    val_size: int = 1000
    val_every: int = 50
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)


def spectral_radius(weight: Tensor) -> float:
    """max |λ| over the eigenvalues of a square matrix: the factor by which repeated multiplication by it
    grows or shrinks a state in the long run (for tanh the derivative, at most 1, multiplies it further)."""
    return float(torch.linalg.eigvals(weight.detach().double()).abs().max())


def measure(settings: Settings, scheme: str, seed: int) -> Measured:
    """Train one scheme with one seed; the extras are W_hh's spectral radius and W_ih's std at init."""
    options = AddingOptions(cell="rnn", hidden_size=settings.hidden_size, seq_len=settings.seq_len,
                            init=scheme, batch_size=settings.batch_size, val_size=settings.val_size)
    task = AddingTask(options, seed)
    seed_everything(seed)  # what the Trainer does before building the model: the same initial weights
    layer = task.build_model().rnn
    at_init = {"radius": spectral_radius(layer.weight_hh_l0),
               "input_scale": float(layer.weight_ih_l0.detach().std())}  # how strongly the inputs enter the state
    return Measured(train_point(f"{scheme} seed {seed}", task, settings, seed=seed), at_init)


def table(grid: Grid) -> list[dict]:
    """One row per scheme: its seeds' results together."""
    settings, baseline, rows = grid.settings, adding_baseline(), []
    for scheme in settings.schemes:
        points = grid.where(scheme=scheme)
        finals = [final_value(point.record) for point in points]
        finite = [v for v in finals if math.isfinite(v)]
        rows.append({
            "init": scheme,
            "spectral radius of W_hh at init": statistics.median(point.extra["radius"] for point in points),
            "std of W_ih at init": statistics.median(point.extra["input_scale"] for point in points),
            "val MSE per seed": " / ".join(f"{v:.4f}" for v in finals),
            "median val MSE": statistics.median(finite) if finite else math.nan,
            "best seed": min(finite, default=math.nan),
            "median / baseline": statistics.median(finite) / baseline if finite else math.nan,
            "seeds below half the baseline": sum(v < 0.5 * baseline for v in finite),
            "verdict (median)": verdict(statistics.median(finite), baseline) if finite else "diverged",
        })
    return rows


def conclusion(table: list[dict], grid: Grid) -> str:
    """One paragraph from the measured numbers."""
    settings = grid.settings
    ranked = sorted(table, key=lambda r: r["median val MSE"] if math.isfinite(r["median val MSE"]) else 9)
    seeds = len(settings.seeds)
    text = (f"Ranked by median final validation MSE over {seeds} seed(s) at T = {settings.seq_len} after "
            f"{settings.steps} steps: "
            + "; ".join(f"{r['init']} {r['median val MSE']:.4f} ({r['seeds below half the baseline']}/{seeds} "
                        "seeds below half the baseline)" for r in ranked) + ".")
    text += (" At init (medians over seeds), spectral radius of W_hh / std of W_ih: "
             + ", ".join(f"{r['init']} {r['spectral radius of W_hh at init']:.2f} / {r['std of W_ih at init']:.3g}"
                         for r in table) + ".")
    best, worst = ranked[0], ranked[-1]
    gap = worst["median val MSE"] / best["median val MSE"] if best["median val MSE"] > 0 else math.inf
    if gap < 1.5:
        text += (" The schemes end within a factor 1.5 of each other: at this length and budget the initialisation "
                 "did not decide the outcome.")
    else:
        text += (f" {best['init']} ends {gap:.1f} times lower than {worst['init']}: the initialisation decides "
                 "the outcome for the Elman RNN here.")
    return text


EXPERIMENT = Experiment(
    name="init", title="Initialisation: default vs xavier vs orthogonal vs identity for the Elman RNN",
    axes=(Axis("scheme", over="schemes"), Axis("seed", over="seeds")), measure=measure, table=table,
    plots=(Curves("init.png", "Validation MSE per scheme (one line per seed)", panel=lambda scheme: f"init {scheme}",
                  label=lambda point: f"seed {point['seed']}", ylabel="validation MSE", baseline=adding_baseline(),
                  suptitle=lambda grid: f"tanh Elman RNN on adding T = {grid.settings.seq_len}: initialisation "
                                        "schemes"),),
    intro="""
        The tanh Elman RNN on the adding problem (baseline MSE 1/6) with the four base initialisation schemes
        of rnnkit.init (see docs/layers.md): torch's default uniform, Xavier/Glorot, orthogonal recurrent
        matrix (Saxe et al. 2014, arXiv:1312.6120) and identity recurrent matrix (Le, Jaitly & Hinton 2015,
        arXiv:1504.00941). Same data, optimizer (Adam, constant lr, gradient-norm clipping) and budget;
        several seeds per scheme (a seed sets both the data order and the initial weights). The spectral
        radius of W_hh at init (median over seeds) says how fast the state, and the gradient, would shrink (<
        1) or grow (> 1) through a linear recurrence; the std of W_ih says how strongly the inputs reach the
        state.
    """,
    conclusion=conclusion,
    full=Settings(),
    quick=Settings(seq_len=10, hidden_size=16, batch_size=32, steps=100, val_size=200, val_every=25, seeds=(0,)),
)
FULL, QUICK = EXPERIMENT.full, EXPERIMENT.quick
run = EXPERIMENT.run
