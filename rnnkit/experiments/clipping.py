"""Experiment `clipping`: an Elman RNN with a large recurrent init, trained by SGD with and without clipping.

Pascanu, Mikolov & Bengio 2013 (arXiv:1211.5063, section 3.2): when the recurrent Jacobians have norm > 1
the gradient explodes; rescaling it to a maximum norm ("gradient-norm clipping") keeps the step bounded.
Here the tanh Elman RNN's recurrent matrix is orthogonal times a gain (2 by default: norm 2) and plain SGD
trains it on a short adding problem. Three configurations, several seeds each:

- gain 1, no clipping: the control (same learning rate, well-conditioned recurrence);
- gain 2, no clipping: the engine stops the run with TrainingDiverged when the loss or gradient is NaN/inf;
- gain 2, clipping the global gradient norm to `clip_norm`.

The engine logs the pre-clip global gradient norm at every step; the plot shows it with the training loss.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from rnnkit.experiments.grid import Axis, Experiment, Figure, Grid, Point, train_point
from rnnkit.experiments.runner import RunRecord, final_value, pyplot, save_figure, series
from rnnkit.experiments.tasks import AddingOptions, AddingTask, adding_baseline

__all__ = ["Settings", "EXPERIMENT", "FULL", "QUICK", "run"]


@dataclass(frozen=True)
class Settings:
    seq_len: int = 10  # T of the adding problem
    hidden_size: int = 64
    init: str = "orthogonal"  # then weight_hh is multiplied by the gain
    large_gain: float = 2.0
    lr: float = 0.05  # plain SGD, no momentum
    clip_norm: float = 1.0
    batch_size: int = 64
    steps: int = 1500
    val_size: int = 1000
    val_every: int = 50
    seeds: tuple[int, ...] = (0, 1, 2)

    @property
    def configurations(self) -> tuple[tuple[str, float, float | None], ...]:
        """(name, recurrent gain, clip norm or None): the control, the exploding run, the clipped run."""
        return (("gain 1, no clipping", 1.0, None),
                (f"gain {self.large_gain:g}, no clipping", self.large_gain, None),
                (f"gain {self.large_gain:g}, clip {self.clip_norm:g}", self.large_gain, self.clip_norm))


_DIVERGED_STEP = re.compile(r"^step (\d+):")


def measure(settings: Settings, configuration: tuple[str, float, float | None], seed: int) -> RunRecord:
    """Train one configuration (name, recurrent gain, clip norm or None) with one seed, by plain SGD."""
    name, gain, clip = configuration
    options = AddingOptions(cell="rnn", hidden_size=settings.hidden_size, seq_len=settings.seq_len,
                            init=settings.init, recurrent_gain=gain, batch_size=settings.batch_size,
                            val_size=settings.val_size)
    return train_point(f"{name}, seed {seed}", AddingTask(options, seed), settings, seed=seed, clip_norm=clip,
                       optimizer="sgd")


def result_row(point: Point, grid: Grid) -> dict:
    record = point.record
    norms = series(record, "train", "grad_norm")[1]
    match = _DIVERGED_STEP.match(record.diverged or "")
    return {
        "configuration": point["configuration"][0], "seed": point["seed"], "steps done": len(norms),
        "diverged at step": int(match.group(1)) if match else None,
        "grad norm, step 1": norms[0] if norms else math.nan,
        "max grad norm": max(norms, default=math.nan),
        "median grad norm": sorted(norms)[len(norms) // 2] if norms else math.nan,
        "final val MSE": final_value(record) if record.diverged is None else math.nan,
    }


def _plot(grid: Grid, path: Path) -> Path:
    settings, plt = grid.settings, pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    colors = {name: f"C{i}" for i, (name, _, _) in enumerate(settings.configurations)}
    panels = ((axes[0], "train", "loss", "training loss (MSE)"),
              (axes[1], "train", "grad_norm", "global gradient norm before clipping"),
              (axes[2], "val", "val_loss", "validation MSE (linear scale)"))
    for axis, split, metric, title in panels:
        labelled = set()
        for point in grid.points:
            name, record = point["configuration"][0], point.record
            steps, values = series(record, split, metric)
            finite = [(s, v) for s, v in zip(steps, values, strict=True) if math.isfinite(v) and v > 0]
            if not finite:
                continue
            axis.plot(*zip(*finite, strict=True), color=colors[name], linewidth=0.7, alpha=0.8,
                      label=None if name in labelled else name)
            labelled.add(name)
            if record.diverged is not None and split == "train":
                axis.plot(*finite[-1], marker="x", markersize=9, color=colors[name])
        if metric == "grad_norm":
            axis.axhline(settings.clip_norm, color="gray", linestyle=":", linewidth=1, label="clip_norm")
        else:
            axis.axhline(adding_baseline(), color="black", linestyle="--", linewidth=1, label="baseline 1/6")
        if split == "train":
            axis.set_yscale("log")
            axis.set_xscale("log")  # the divergence happens in the first tens of steps
            axis.set_xlabel("optimizer step (log scale)")
        else:
            axis.set_ylim(0, 2 * adding_baseline())
            axis.set_xlabel("optimizer step")
        axis.set_title(title, fontsize=10)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(f"tanh Elman RNN, adding T = {settings.seq_len}, SGD lr {settings.lr:g}", fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


def conclusion(table: list[dict], grid: Grid) -> str:
    """One paragraph from the measured numbers."""
    sentences = []
    for name, _, _ in grid.settings.configurations:
        rows = [r for r in table if r["configuration"] == name]
        diverged = [r for r in rows if r["diverged at step"] is not None]
        finished = [r for r in rows if r["diverged at step"] is None]
        text = f"{name}: {len(diverged)} of {len(rows)} seeds diverged"
        if diverged:
            text += f" (at steps {', '.join(str(r['diverged at step']) for r in diverged)})"
        mse = ", ".join(f"{r['final val MSE']:.4f}" for r in finished)
        if finished:
            text += f"; the others ended at val MSE {mse}" if diverged else f"; all ended at val MSE {mse}"
        norms = ", ".join(f"{r['grad norm, step 1']:.3g}" for r in rows)
        text += f", first-step gradient norm {norms}."
        sentences.append(text)
    large = [r for r in table
             if r["configuration"].endswith("no clipping") and not r["configuration"].startswith("gain 1,")]
    clipped = [r for r in table if "clip " in r["configuration"]]
    if large and clipped:
        all_diverged = all(r["diverged at step"] is not None for r in large)
        all_trained = all(r["diverged at step"] is None and r["final val MSE"] < adding_baseline() for r in clipped)
        if all_diverged and all_trained:
            sentences.append("Clipping turned every diverging run into one that trains below the baseline: the "
                             "claim holds here.")
        else:
            exploded = sum(r["diverged at step"] is not None for r in large)
            trained = sum(r["diverged at step"] is None and r["final val MSE"] < adding_baseline() for r in clipped)
            sentences.append(f"The claim held only partly: {exploded} of {len(large)} unclipped large-gain runs "
                             f"diverged and {trained} of {len(clipped)} clipped runs ended below the baseline.")
    return " ".join(sentences)


def _intro(grid: Grid) -> str:
    settings = grid.settings
    return f"""
        Pascanu, Mikolov & Bengio 2013 (arXiv:1211.5063) explain exploding gradients by recurrent Jacobians of
        norm > 1 and propose rescaling the gradient to a maximum norm. A tanh Elman RNN whose recurrent matrix
        is orthogonal × {settings.large_gain:g} is trained by plain SGD (lr {settings.lr:g}) on the adding
        problem with T = {settings.seq_len} (baseline MSE 1/6 ≈ {adding_baseline():.3f}), without and with
        clipping of the global gradient norm to {settings.clip_norm:g}; a gain-1 run without clipping is the
        control. The engine logs the global gradient norm before clipping at every step and stops a run with
        TrainingDiverged when the loss or a gradient is NaN or infinite.
    """


EXPERIMENT = Experiment(
    name="clipping", title="Gradient clipping: an exploding Elman RNN with and without clipping",
    axes=(Axis("configuration", over="configurations"), Axis("seed", over="seeds")),
    measure=measure, row=result_row,
    plots=(Figure("clipping.png", "Training loss and pre-clip gradient norm per step (x: the engine stopped a "
                  "diverged run)", _plot),),
    intro=_intro,
    conclusion=conclusion,
    full=Settings(),
    quick=Settings(steps=150, val_size=200, val_every=25, seeds=(0,)),
)
FULL, QUICK = EXPERIMENT.full, EXPERIMENT.quick
run = EXPERIMENT.run
