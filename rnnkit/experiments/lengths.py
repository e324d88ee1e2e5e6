"""Experiment `lengths`: what padding does to a sequence classifier that is not told the lengths.

The tail task (rnnkit.experiments.tasks): sequences of random length L in min_len .. T, zero-padded to T; the
label is the sign of the sum of the last few valid values, read from the final state h_n. For an LSTM and a
GRU (rnnkit layers), the same seed, data and budget, five ways of feeding the padded batch
(:class:`~rnnkit.experiments.tasks.TailClassifier`):

    padded                 no lengths: h_n comes after T − L padding steps (the textbook mistake)
    lengths                layer(inputs, lengths=lengths): rnnkit's masking, h_n at step L
    packed                 torch.nn.utils.rnn.pack_padded_sequence(enforce_sorted=False)
    bidirectional_padded   bidirectional, no lengths: the reverse direction starts in the padding
    bidirectional_lengths  bidirectional with lengths= (the control for the one above)

`lengths` and `packed` must give the same numbers (same seed, same initial weights, same batches): the report
says whether every recorded number and every final weight agree exactly. Accuracy is also broken down by the
number of padding steps T − L, which is where not masking shows.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rnnkit.experiments.grid import Axis, Curves, Experiment, Figure, Grid, Measured, Point, train_point
from rnnkit.experiments.runner import RunRecord, final_value, pyplot, save_figure, series
from rnnkit.experiments.tasks import TailOptions, TailTask, padding_fraction

__all__ = ["Settings", "EXPERIMENT", "FULL", "QUICK", "CELL_NAMES", "VARIANT_NAMES", "run", "padding_bins",
           "exact_match"]

CELL_NAMES = {"rnn": "Elman (tanh)", "lstm": "LSTM", "gru": "GRU"}
VARIANT_NAMES = {
    "padded": "(a) padded, no lengths",
    "lengths": "(b) padded + lengths=",
    "packed": "(c) packed",
    "bidirectional_padded": "(d) bidirectional, no lengths",
    "bidirectional_lengths": "(e) bidirectional + lengths=",
}


@dataclass(frozen=True)
class Settings:
    cells: tuple[str, ...] = ("lstm", "gru")
    variants: tuple[str, ...] = ("padded", "lengths", "packed", "bidirectional_padded", "bidirectional_lengths")
    seq_len: int = 100  # T: every batch is padded to T steps
    min_len: int = 5  # lengths uniform in min_len .. T
    tail: int = 3  # label: sign of the sum of the last `tail` valid values
    hidden_size: int = 32
    batch_size: int = 64
    steps: int = 1000  # optimizer steps per run (Adam, constant lr)
    lr: float = 0.01
    clip_norm: float | None = 1.0
    val_size: int = 1000  # fixed validation sequences
    val_every: int = 50
    padding_groups: int = 4  # accuracy is broken down into this many groups of T − L
    seed: int = 0


def padding_bins(seq_len: int, min_len: int, groups: int) -> list[tuple[int, int]]:
    """`groups` contiguous ranges [low, high] of padding steps T − L covering 0 .. T − min_len, near-equal widths."""
    most = seq_len - min_len
    groups = max(1, min(groups, most + 1))
    edges = [round(i * (most + 1) / groups) for i in range(groups + 1)]
    return [(edges[i], edges[i + 1] - 1) for i in range(groups)]


def accuracy_by_padding(task: TailTask, model: torch.nn.Module, bins: list[tuple[int, int]]) -> list[float]:
    """Validation accuracy of `model` on the sequences whose padding T − L falls in each bin (NaN if none)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        inputs, lengths, targets = task.val_set
        correct = model(inputs, lengths).argmax(-1) == targets  # (N,)
    model.train(was_training)
    padding = task.options.seq_len - lengths
    result = []
    for low, high in bins:
        chosen = (padding >= low) & (padding <= high)
        result.append(float(correct[chosen].float().mean()) if bool(chosen.any()) else math.nan)
    return result


def exact_match(first: RunRecord, second: RunRecord) -> tuple[bool, float]:
    """(whether two runs recorded identical numbers and ended with identical weights, the largest difference)."""
    rows_a, rows_b = first.rows, second.rows
    if [r[:3] for r in rows_a] != [r[:3] for r in rows_b]:
        return False, math.inf
    largest = max((abs(a[3] - b[3]) for a, b in zip(rows_a, rows_b, strict=True)
                   if math.isfinite(a[3]) and math.isfinite(b[3])), default=0.0)
    state_a, state_b = first.model.state_dict(), second.model.state_dict()
    for name, tensor in state_a.items():
        largest = max(largest, float((tensor - state_b[name]).abs().max()))
    return largest == 0.0, largest


def halfway(record: RunRecord) -> float:
    """The validation accuracy at the last validation in the first half of the run (NaN if none)."""
    steps, values = series(record, "val", "val_accuracy")
    last = max(steps, default=0)
    early = [value for step, value in zip(steps, values, strict=True) if step <= last / 2]
    return early[-1] if early else math.nan


def train_padding_fraction(task: TailTask, steps: int) -> float:
    """The fraction of padding over the training batches a run of `steps` steps sees."""
    batches = itertools.islice(itertools.chain.from_iterable(task.train_batches(epoch) for epoch in itertools.count()),
                               steps)
    total, valid = 0, 0
    for batch in batches:
        total += batch.lengths.numel() * task.options.seq_len
        valid += int(batch.lengths.sum())
    return 1.0 - valid / total


def measure(settings: Settings, cell: str, variant: str) -> Measured:
    """Train one cell fed one way; the extra "by_padding" is its final accuracy per range of padding."""
    options = TailOptions(cell=cell, variant=variant, hidden_size=settings.hidden_size,
                          seq_len=settings.seq_len, min_len=settings.min_len, tail=settings.tail,
                          batch_size=settings.batch_size, val_size=settings.val_size)
    task = TailTask(options, settings.seed)
    record = train_point(f"{cell} {variant}", task, settings)
    return Measured(record, {"by_padding": accuracy_by_padding(task, record.model, _bins(settings))})


def facts(grid: Grid) -> dict[str, Any]:
    """The padding fractions (the data do not depend on the cell or variant), the padding bins and whether
    lengths= and packing gave the same runs, per cell."""
    settings = grid.settings
    data = TailTask(TailOptions(seq_len=settings.seq_len, min_len=settings.min_len, tail=settings.tail,
                                batch_size=settings.batch_size, val_size=settings.val_size), settings.seed)
    matches = {cell: exact_match(grid.point(cell=cell, variant="lengths").record,
                                 grid.point(cell=cell, variant="packed").record)
               for cell in settings.cells if {"lengths", "packed"} <= set(settings.variants)}
    return {"val_padding": padding_fraction(data.val_set.lengths, settings.seq_len),
            "train_padding": train_padding_fraction(data, settings.steps), "bins": _bins(settings),
            "matches": matches}


def result_row(point: Point, grid: Grid) -> dict[str, Any]:
    record = point.record
    accuracies = series(record, "val", "val_accuracy")[1]
    row: dict[str, Any] = {
        "model": CELL_NAMES[point["cell"]], "variant": VARIANT_NAMES[point["variant"]],
        "final val accuracy": final_value(record, "val_accuracy"),
        "best val accuracy": max(accuracies, default=math.nan),
        "val accuracy at half the steps": halfway(record),
        "final val loss": final_value(record),
    }
    for (low, high), accuracy in zip(grid.facts["bins"], point.extra["by_padding"], strict=True):
        row[f"accuracy, padding {low}–{high}"] = accuracy
    row["diverged"] = record.diverged is not None
    row["seconds"] = round(record.seconds)
    return row


def _bins(settings: Settings) -> list[tuple[int, int]]:
    return padding_bins(settings.seq_len, settings.min_len, settings.padding_groups)


def plot_by_padding(grid: Grid, path: Path) -> Path:
    """One panel per cell: final validation accuracy against the number of padding steps, a line per variant."""
    settings, plt = grid.settings, pyplot()
    cells = settings.cells
    figure, axes = plt.subplots(1, len(cells), figsize=(4.2 * len(cells), 3.4), squeeze=False, sharey=True)
    centres = [(low + high) / 2 for low, high in grid.facts["bins"]]
    for axis, cell in zip(axes[0], cells, strict=True):
        for position, variant in enumerate(settings.variants):
            dashed = variant == "packed"  # drawn over (b) lengths=, which it equals: dashed to show both
            accuracies = grid.point(cell=cell, variant=variant).extra["by_padding"]
            axis.plot(centres, accuracies, marker="x" if dashed else "o", markersize=4,
                      linewidth=1.2, linestyle="--" if dashed else "-", color=f"C{position % 10}",
                      label=VARIANT_NAMES[variant])
        axis.axhline(0.5, color="black", linestyle="--", linewidth=1)
        axis.set_title(CELL_NAMES[cell], fontsize=10)
        axis.set_xlabel("padding steps T − L")
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("final validation accuracy")
    axes[0][-1].legend(fontsize=7)
    figure.suptitle(f"tail task, T = {settings.seq_len}: accuracy by the amount of padding after the sequence",
                    fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


def conclusion(table: list[dict], grid: Grid) -> str:
    """One paragraph from the measured numbers."""
    settings, facts = grid.settings, grid.facts
    rows = {(r["model"], r["variant"]): r for r in table}
    sentences = [f"With {facts['val_padding']:.0%} of the steps padding (T = {settings.seq_len}, one seed, "
                 f"{settings.steps} steps), final validation accuracy:"]
    parts = []
    for cell in settings.cells:
        name = CELL_NAMES[cell]
        parts.append(f"{name} " + ", ".join(
            f"{VARIANT_NAMES[v].split()[0]} {rows[name, VARIANT_NAMES[v]]['final val accuracy']:.3f}"
            for v in settings.variants))
    sentences[0] += " " + "; ".join(parts) + "."
    if {"padded", "lengths"} <= set(settings.variants):
        for cell in settings.cells:
            sentences += _unmasked_cost(CELL_NAMES[cell], rows, facts["bins"])
    if {"bidirectional_padded", "bidirectional_lengths"} <= set(settings.variants):
        sentences += _bidirectional(settings, rows)
    sentences += _packing(facts["matches"])
    return " ".join(sentences)


def _unmasked_cost(name: str, rows: dict[tuple[str, str], dict], bins: list[tuple[int, int]]) -> list[str]:
    """What not passing the lengths cost the cell `name`, overall and by the amount of padding."""
    low, high = bins[0], bins[-1]
    padded, masked = rows[name, VARIANT_NAMES["padded"]], rows[name, VARIANT_NAMES["lengths"]]
    gap = masked["final val accuracy"] - padded["final val accuracy"]
    low_key, high_key = f"accuracy, padding {low[0]}–{low[1]}", f"accuracy, padding {high[0]}–{high[1]}"
    if gap > 0:
        verb = f"costs the {name} {100 * gap:.1f} accuracy points"
    else:
        verb = f"does not hurt the {name} here (lengths= is {100 * -gap:.1f} points behind)"
    sentences = [
        f"Not passing the lengths {verb} (val loss {padded['final val loss']:.3f} against "
        f"{masked['final val loss']:.3f}); without lengths its accuracy is "
        f"{padded[low_key]:.3f} on the sequences with {low[0]}–{low[1]} padding steps and "
        f"{padded[high_key]:.3f} on those with {high[0]}–{high[1]} (with lengths=: "
        f"{masked[low_key]:.3f} and {masked[high_key]:.3f})."]
    rise = padded["final val accuracy"] - padded["val accuracy at half the steps"]
    if gap > 0 and rise > 0.01:
        sentences.append(f"The {name} without lengths was still improving ({100 * rise:+.1f} points over "
                         "the second half of training): more training may narrow this gap.")
    elif gap > 0 and math.isfinite(rise):
        sentences.append(f"The {name} without lengths had levelled off ({100 * rise:+.1f} points over "
                         "the second half of training).")
    keys = [k for k in padded if k.startswith("accuracy, padding")]
    spread = max(padded[k] for k in keys) - min(padded[k] for k in keys)
    if len(keys) > 1 and gap > 0 and spread < gap:
        sentences.append(f"Across the padding ranges the {name}'s unmasked accuracy varies by only "
                         f"{100 * spread:.1f} points, less than the {100 * gap:.1f}-point gap: the cost is "
                         "not a state washed out by long padding (it is there with little padding too) "
                         "but that the model must learn where its sequence ended, which it does less "
                         "accurately than being told.")
    return sentences


def _bidirectional(settings: Settings, rows: dict[tuple[str, str], dict]) -> list[str]:
    """(d) against (e), and, when measured, (d) against the one-way (a) and (b)."""
    def accuracy(cell: str, variant: str) -> float:
        return rows[CELL_NAMES[cell], VARIANT_NAMES[variant]]["final val accuracy"]

    sentences = ["Bidirectional, no lengths against with lengths: " + "; ".join(
        f"{CELL_NAMES[c]} {accuracy(c, 'bidirectional_padded'):.3f} against "
        f"{accuracy(c, 'bidirectional_lengths'):.3f}" for c in settings.cells) + "."]
    if {"padded", "lengths"} <= set(settings.variants):
        below = all(accuracy(c, "bidirectional_padded") < accuracy(c, "lengths") for c in settings.cells)
        sentences.append(
            "Against (a), the same layer one-way without lengths, (d) scores "
            + ", ".join(f"{CELL_NAMES[c]} {accuracy(c, 'bidirectional_padded'):.3f} vs "
                        f"{accuracy(c, 'padded'):.3f}" for c in settings.cells)
            + (": the second direction, which reads the padding first and then the sequence's tail, does not "
               "make up for the missing lengths (every (d) is below its (b))." if below else
               ": here a bidirectional layer without lengths reached the one-way layer with lengths= for "
               "at least one cell."))
    return sentences


def _packing(matches: dict[str, tuple[bool, float]]) -> list[str]:
    """Whether (b) lengths= and (c) packing gave the same runs, per cell."""
    sentences = []
    same = [CELL_NAMES[c] for c, (equal, _) in matches.items() if equal]
    differ = {CELL_NAMES[c]: largest for c, (equal, largest) in matches.items() if not equal}
    if same:
        sentences.append(f"(b) lengths= and (c) packing gave bit-identical runs for the {' and '.join(same)}: "
                         "every training loss, gradient norm and validation number, and every final weight.")
    if differ:
        sentences.append("(b) and (c) differ for " + ", ".join(
            f"the {name} (largest difference {largest:.3g})" for name, largest in differ.items())
            + ": the same computation in a different order of floating-point operations.")
    return sentences


def _intro(grid: Grid) -> str:
    settings, facts = grid.settings, grid.facts
    return f"""
        Sequences of random length L, uniform in {settings.min_len}..{settings.seq_len}, are zero-padded to T
        = {settings.seq_len} steps; each valid step gives a value from N(0, 1) and the label is whether the
        sum of the last {settings.tail} valid values is positive (chance accuracy 1/2). A classifier reads the
        recurrent layer's final state h_n through a linear head, so the information it needs sits at the end
        of each valid span. Five ways of feeding the same padded batches are compared for an LSTM and a GRU
        (rnnkit layers), each trained with the same seed, initial weights, data, optimizer (Adam, constant lr,
        gradient-norm clipping) and budget: (a) no lengths, so h_n comes after T − L padding steps (the
        textbook mistake); (b) rnnkit's `lengths=`, which masks the padding and returns h_n at step L; (c)
        `torch.nn.utils.rnn.pack_padded_sequence(..., enforce_sorted=False)`; (d) a bidirectional layer
        without lengths, whose reverse direction starts in the padding; (e) the same with `lengths=`. Padding
        is {facts['val_padding']:.1%} of the validation batches' steps and {facts['train_padding']:.1%} of the
        training batches' steps.
    """


def _notes(grid: Grid) -> list[str]:
    settings, facts = grid.settings, grid.facts
    return [f"Padding fraction = 1 − Σ L / (B · T): {facts['val_padding']:.4f} on the validation set, "
            f"{facts['train_padding']:.4f} over the {settings.steps} training batches (expected (T − mean L) / T = "
            f"{(settings.seq_len - settings.min_len) / 2 / settings.seq_len:.4f}).",
            "The accuracy-by-padding columns evaluate each final model on the validation sequences whose "
            "padding T − L falls in the range (about equal numbers of sequences per range).",
            "One seed; rnnkit layers with backend 'auto' (torch's kernels on a CPU)."]


EXPERIMENT = Experiment(
    name="lengths", title="Variable lengths: padding with and without masking or packing",
    axes=(Axis("cell", over="cells"), Axis("variant", over="variants")),
    measure=measure, facts=facts, row=result_row,
    plots=(
        Curves("lengths.png", "Validation accuracy against optimizer steps (dashed: chance; (c) packed is drawn "
               "over (b) lengths= where they agree)", panel=lambda cell: CELL_NAMES[cell],
               label=lambda point: VARIANT_NAMES[point["variant"]], metric="val_accuracy",
               ylabel="validation accuracy", baseline=0.5, log_y=False,
               suptitle=lambda grid: f"tail task, T = {grid.settings.seq_len}, {grid.facts['val_padding']:.0%} "
                                     "padding: validation accuracy (dashed: chance)"),
        Figure("lengths_by_padding.png", "Final validation accuracy by the number of padding steps T − L after "
               "the sequence", plot_by_padding),
    ),
    intro=_intro,
    conclusion=conclusion,
    notes=_notes,
    full=Settings(),
    quick=Settings(seq_len=20, hidden_size=16, batch_size=32, steps=150, val_size=200, val_every=25,
                   padding_groups=2),
)
FULL, QUICK = EXPERIMENT.full, EXPERIMENT.quick
run = EXPERIMENT.run
