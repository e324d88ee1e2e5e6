r"""Experiment `gradients`: how much gradient reaches a step that lies d steps before the loss?

On the adding problem the loss is read after the last step only, so ‖∂L/∂h_t‖ against the distance
d = T − 1 − t is the literal vanishing-gradient picture: ∂L/∂h_t = ∂L/∂h_{T-1} ∏_{k=t}^{T-2} ∂h_{k+1}/∂h_k.
For an Elman RNN whose Jacobians have norm < 1 the product shrinks geometrically (Bengio, Simard & Frasconi
1994; Pascanu, Mikolov & Bengio 2013, arXiv:1211.5063, section 2); an LSTM's additive cell path lets it
shrink much more slowly (Hochreiter & Schmidhuber 1997). Measured per cell at initialisation and again after
training through the engine, on a fixed probe batch of validation sequences. An LSTM with the forget-gate
bias set to 1 (init "default+forget_bias"; Jozefowicz, Zaremba & Sutskever 2015) is measured beside torch's
default LSTM init, whose forget gate starts near σ(0) = 0.5.

The norms come from :func:`rnnkit.diagnostics.gradient_flow` (every per-step state of RNN/LSTM/GRU layers
keeps its gradient). minGRU is not a torch-style layer, so for it the same thing is done here: its forward is
replaced, for the measurement, by a loop of :meth:`MinGRU.step` calls whose states retain their gradients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.diagnostics import gradient_flow
from rnnkit.experiments.adding import CELL_NAMES
from rnnkit.experiments.grid import Axis, DataFile, Experiment, Figure, Grid, Measured, Point, train_point
from rnnkit.experiments.runner import final_value, pyplot, save_figure
from rnnkit.experiments.tasks import AddingOptions, AddingTask, SequenceBatch, adding_baseline
from rnnkit.training import seed_everything

__all__ = ["Settings", "EXPERIMENT", "FULL", "QUICK", "run", "hidden_gradient_norms", "decay_fit"]


@dataclass(frozen=True)
class Settings:
    # a cell name, or "cell:init" for another rnnkit.init scheme than the cell's usual one
    cells: tuple[str, ...] = ("rnn", "irnn", "lstm", "lstm:default+forget_bias", "gru", "mingru")
    seq_len: int = 100  # T
    hidden_size: int = 32  # as in the adding experiment
    batch_size: int = 64
    steps: int = 1000  # training between the two measurements (Adam, constant lr)
    lr: float = 0.01
    clip_norm: float | None = 1.0
    probe_size: int = 100  # validation sequences the gradients are measured on
    val_size: int = 1000
    seed: int = 0


def _min_rnn_forward(layer: nn.Module, record: list[Tensor]) -> Any:
    def forward(input: Tensor, hx: Tensor | None = None, **_: Any) -> tuple[Tensor, Tensor]:
        x = input if layer.batch_first else input.transpose(0, 1)  # (B, T, F)
        h, outputs = hx, []
        for t in range(x.size(1)):
            h = layer.step(x[:, t], h)  # (B, F) -> (B, H)
            h.retain_grad()
            record.append(h)
            outputs.append(h)
        output = torch.stack(outputs, 1)  # T x (B, H) -> (B, T, H)
        return (output if layer.batch_first else output.transpose(0, 1)), h

    return forward


def hidden_gradient_norms(model: nn.Module, batch: SequenceBatch, task: AddingTask) -> Tensor:
    """‖∂L/∂h_t‖ for t = 0 .. T-1 (a (T,) float64 tensor) of the model's recurrent layer, L the task's loss."""
    loss_fn = lambda m, b: task.step(m, b, None).loss  # noqa: E731
    layer = model.rnn
    if hasattr(layer, "weight_hh_l0"):  # RNN/LSTM/GRU: the engine's diagnostics
        return gradient_flow(model, batch, loss_fn).hidden["rnn.l0"]
    record: list[Tensor] = []
    model.zero_grad(set_to_none=True)
    layer.forward = _min_rnn_forward(layer, record)  # instance attribute shadows the method
    try:
        loss_fn(model, batch).backward()
    finally:
        layer.__dict__.pop("forward", None)
    return torch.stack([torch.zeros((), dtype=torch.float64) if h.grad is None else h.grad.double().norm()
                        for h in record])


def decay_fit(norms: Tensor) -> tuple[float, float]:
    """Least-squares fit log ‖∂L/∂h_t‖ ≈ a + d · log(rate) over the distance d = T-1-t (zeros skipped).

    Returns (rate per step, R² of the fit): rate 0.9 means 10 % less gradient for each step further away.
    """
    distance = torch.arange(norms.numel() - 1, -1, -1, dtype=torch.float64)
    keep = norms > 0
    if int(keep.sum()) < 2:
        return math.nan, math.nan
    x, y = distance[keep], norms[keep].double().log()
    x_mean, y_mean = x.mean(), y.mean()
    slope = float(((x - x_mean) * (y - y_mean)).sum() / ((x - x_mean) ** 2).sum())
    residual = y - (y_mean + slope * (x - x_mean))
    total = float(((y - y_mean) ** 2).sum())
    r_squared = 1 - float((residual ** 2).sum()) / total if total > 0 else 1.0
    return math.exp(slope), r_squared


def _summary(norms: Tensor) -> dict[str, float]:
    rate, r_squared = decay_fit(norms)
    last, first = float(norms[-1]), float(norms[0])
    return {"at d=0": last, "at d=T-1": first, "ratio": first / last if last > 0 else math.nan,
            "rate/step": rate, "R²": r_squared}


def measure(settings: Settings, entry: str) -> Measured:
    """Measure the gradient norms of one cell entry at init, train it, measure again (extras "init", "trained")."""
    cell, _, init = entry.partition(":")
    options = AddingOptions(cell=cell, hidden_size=settings.hidden_size, seq_len=settings.seq_len,
                            init=init or None, batch_size=settings.batch_size, val_size=settings.val_size)
    task = AddingTask(options, settings.seed)
    probe = SequenceBatch(*(t[: settings.probe_size] for t in task.val_set))
    seed_everything(settings.seed)  # what the Trainer does before building: the same initial weights
    model = task.build_model().train()
    at_init = hidden_gradient_norms(model, probe, task)
    record = train_point(f"{entry} T={settings.seq_len}", task, settings, val_every=settings.steps, model=model)
    return Measured(record, {"init": at_init, "trained": hidden_gradient_norms(record.model.train(), probe, task)})


def result_rows(point: Point, grid: Grid) -> list[dict]:
    """Two rows per cell entry: at init and after training."""
    rows, steps = [], grid.settings.steps
    for when in ("init", "trained"):
        row = {"model": _name(point["entry"]), "when": when if when == "init" else f"after {steps} steps"}
        row.update(_summary(point.extra[when]))
        row["val MSE"] = final_value(point.record) if when == "trained" else None
        rows.append(row)
    return rows


def _name(entry: str) -> str:
    cell, _, init = entry.partition(":")
    return CELL_NAMES[cell] + (f" (init {init})" if init else "")


def _write_curves(grid: Grid, path: Path) -> Path:
    lines = ["cell,when,distance,grad_norm"]
    for point in grid.points:
        for when in ("init", "trained"):
            norms = point.extra[when]
            steps = norms.numel()
            lines += [f"{point['entry']},{when},{steps - 1 - t},{float(norms[t])!r}" for t in range(steps)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _plot(grid: Grid, path: Path) -> Path:
    settings, plt = grid.settings, pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for axis, when, title in ((axes[0], "init", "at initialisation"),
                              (axes[1], "trained", f"after {settings.steps} steps")):
        for point in grid.points:
            entry, norms = point["entry"], point.extra[when]
            distance = torch.arange(norms.numel() - 1, -1, -1)
            keep = norms > 0
            axis.plot(distance[keep].numpy(), norms[keep].numpy(), label=_name(entry), linewidth=1.2,
                      linestyle="--" if ":" in entry else "-")
        axis.set_yscale("log")
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("distance from the loss d = T − 1 − t")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("‖∂L/∂h_t‖")
    axes[1].legend(fontsize=8)
    figure.suptitle(f"adding problem, T = {settings.seq_len}: gradient reaching each step", fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


def _compare(factor: float, span: int) -> str:
    if factor >= 1:
        return f"through the LSTM {factor:.2g} times more of the gradient survives the {span} steps."
    return (f"through the LSTM {1 / factor:.2g} times less of the gradient survives the {span} steps: at torch's "
            "default init the forget gate is near σ(0) = 0.5, so the cell path also shrinks the gradient at every "
            "step (compare the LSTM whose forget-gate bias starts at 1, if measured).")


def conclusion(table: list[dict], grid: Grid) -> str:
    """One paragraph from the measured numbers."""
    settings = grid.settings
    init = {r["model"]: r for r in table if r["when"] == "init"}
    trained = {r["model"]: r for r in table if r["when"] != "init"}
    span = settings.seq_len - 1

    def describe(row: dict) -> str:
        return f"{row['model']} ×{row['rate/step']:.3f}/step (ratio {row['ratio']:.2g} over {span} steps)"

    order = sorted(init.values(), key=lambda r: r["rate/step"] if r["rate/step"] == r["rate/step"] else -1)
    sentences = ["At initialisation the gradient reaching a step d before the loss shrinks per step as: "
                 + "; ".join(describe(r) for r in order) + "."]
    if "Elman (tanh)" in init and "LSTM" in init:
        elman, lstm = init["Elman (tanh)"], init["LSTM"]
        exponential = elman["R²"] == elman["R²"] and elman["R²"] > 0.9
        sentences.append(
            f"The Elman RNN's decay is {'close to' if exponential else 'not well described by'} an exponential "
            f"(R² {elman['R²']:.2f} for a straight line in log scale); "
            + (_compare(lstm["ratio"] / elman["ratio"], span) if elman["ratio"] > 0 and lstm["ratio"] == lstm["ratio"]
               else "the Elman gradient underflowed to zero at the far end.")
        )
    if trained:
        baseline = adding_baseline()
        sentences.append(f"After {settings.steps} steps: " + "; ".join(
            f"{model} ×{init[model]['rate/step']:.3f} → ×{row['rate/step']:.3f}/step (val MSE {row['val MSE']:.4f})"
            for model, row in trained.items()) + ".")
        learned = [m for m, row in trained.items() if row["val MSE"] < 0.5 * baseline]
        if learned:
            kept = [m for m in learned if trained[m]["ratio"] > init[m]["ratio"]]
            sentences.append(
                f"Of the cells that learned the task ({', '.join(learned)}: val MSE below half the baseline), "
                f"{len(kept)} carry more gradient to the far end (d = T − 1) than at initialisation "
                f"({', '.join(kept) or 'none'}); the marked values lie up to T − 1 steps before the loss.")
        else:
            sentences.append("No cell learned the task (val MSE below half the baseline) within this budget.")
    return " ".join(sentences)


def _intro(grid: Grid) -> str:
    return f"""
        The adding problem reads its loss after the last step only, so the gradient that reaches the state h_t
        has travelled d = T − 1 − t steps back through the recurrence. Measured for each cell on
        {grid.settings.probe_size} fixed validation sequences, at initialisation and after
        {grid.settings.steps} training steps (Adam, constant lr, clipping) through the engine; the norms come
        from rnnkit.diagnostics.gradient_flow (a stepped forward with retain_grad; minGRU's own step for
        minGRU). Columns: the norm at d = 0 and at d = T − 1, their ratio, and a least-squares fit
        log‖∂L/∂h_t‖ ≈ a + d·log(rate) (rate per step, R² of the fit: near 1 means exponential).
    """


EXPERIMENT = Experiment(
    name="gradients", title="Gradient flow: ‖∂L/∂h_t‖ against the distance from the loss",
    axes=(Axis("entry", over="cells"),), measure=measure, row=result_rows,
    data_files=(DataFile("gradients.csv", _write_curves),),
    plots=(Figure("gradients.png", "‖∂L/∂h_t‖ against the distance from the loss (log scale), at init and after "
                  "training", _plot),),
    intro=_intro,
    conclusion=conclusion,
    full=Settings(),
    quick=Settings(cells=("rnn", "irnn", "lstm", "gru", "mingru"), seq_len=30, hidden_size=16, batch_size=32,
                   steps=60, probe_size=32, val_size=200),
)
FULL, QUICK = EXPERIMENT.full, EXPERIMENT.quick
run = EXPERIMENT.run
