"""Experiment `copy`: can the cells recall 10 symbols after a delay of T blanks?

The copy task of Arjovsky, Shah & Bengio 2016 (arXiv:1511.06464, section 4.1; see rnnkit.experiments.tasks):
the same cells as the adding experiment, the same seed, data, optimizer and budget per delay T. The baseline
is the memoryless strategy's cross-entropy 10 ln 8 / (T + 20); recall accuracy on the 10 symbols is 1/8 by
chance.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnkit.experiments.adding import CELL_NAMES
from rnnkit.experiments.grid import Axis, Curves, Experiment, Grid, Point, train_point
from rnnkit.experiments.runner import RunRecord, final_value
from rnnkit.experiments.tasks import CopyOptions, CopyTask, copy_baseline

__all__ = ["Settings", "EXPERIMENT", "FULL", "QUICK", "run"]

CHANCE = 1 / 8


@dataclass(frozen=True)
class Settings:
    cells: tuple[str, ...] = ("rnn", "irnn", "lstm", "gru", "mingru")
    delays: tuple[int, ...] = (10, 20, 40)  # T; sequences are T + 20 steps
    hidden_size: int = 64
    batch_size: int = 64
    steps: int = 1500  # optimizer steps per run (Adam, constant lr)
    lr: float = 0.01
    clip_norm: float | None = 1.0
    val_size: int = 1000
    val_every: int = 50
    seed: int = 0


def measure(settings: Settings, delay: int, cell: str) -> RunRecord:
    """Train one cell at one delay."""
    options = CopyOptions(cell=cell, hidden_size=settings.hidden_size, delay=delay,
                          batch_size=settings.batch_size, val_size=settings.val_size)
    return train_point(f"{cell} T={delay}", CopyTask(options, settings.seed), settings)


def result_row(point: Point, grid: Grid) -> dict:
    record, delay = point.record, point["delay"]
    final, baseline = final_value(record), copy_baseline(delay)
    recall = final_value(record, "val_recall")
    return {
        "T": delay, "model": CELL_NAMES[point["cell"]], "baseline": baseline, "final val CE": final,
        "final / baseline": final / baseline, "recall accuracy": recall,
        "verdict": _verdict(final, baseline, recall), "seconds": round(record.seconds),
    }


def _verdict(loss: float, baseline: float, recall: float) -> str:
    if not loss == loss:
        return "diverged"
    if recall > 0.99:
        return "solved"
    if loss < 0.9 * baseline and recall > 2 * CHANCE:
        return "learned"
    if loss < 0.98 * baseline:
        return "partial"
    return "baseline"


def conclusion(table: list[dict], grid: Grid) -> str:
    """One paragraph from the measured numbers."""
    settings, sentences = grid.settings, []
    for delay in settings.delays:
        rows = sorted((r for r in table if r["T"] == delay), key=lambda r: -r["recall accuracy"])
        groups = {}
        for row in rows:
            groups.setdefault(row["verdict"], []).append(f"{row['model']} recall {row['recall accuracy']:.2f}")
        sentences.append(f"At T = {delay} after {settings.steps} steps: "
                         + "; ".join(f"{word} ({', '.join(names)})" for word, names in groups.items()) + ".")
    longest = max(settings.delays)
    stuck = [r["model"] for r in table if r["T"] == longest and r["verdict"] == "baseline"]
    if stuck:
        sentences.append(f"At the longest delay (T = {longest}) {', '.join(stuck)} did not leave the memoryless "
                         "baseline within the budget.")
    sentences.append("Words: solved = recall > 99 %; learned = loss below 90 % of the baseline and recall above "
                     "twice chance; partial = loss below 98 % of the baseline; baseline = otherwise. One seed each.")
    return " ".join(sentences)


def _label(point: Point) -> str:
    return CELL_NAMES[point["cell"]]


def _panel(delay: int) -> str:
    return f"T = {delay}"


EXPERIMENT = Experiment(
    name="copy", title="Copy task: Elman vs IRNN vs LSTM vs GRU vs minGRU",
    axes=(Axis("delay", over="delays"), Axis("cell", over="cells")), measure=measure, row=result_row,
    plots=(
        Curves("copy.png", "Validation cross-entropy against optimizer steps", panel=_panel, label=_label,
               ylabel="validation cross-entropy per step", baseline=copy_baseline,
               suptitle="copy task: validation cross-entropy (dashed: memoryless baseline 10 ln 8/(T+20))"),
        Curves("copy_recall.png", "Recall accuracy on the 10 symbols against optimizer steps", panel=_panel,
               label=_label, metric="val_recall", ylabel="recall accuracy", baseline=CHANCE, log_y=False,
               suptitle="copy task: accuracy on the 10 recalled symbols (dashed: chance 1/8)"),
    ),
    intro="""
        The copy task (Arjovsky, Shah & Bengio 2016, arXiv:1511.06464, section 4.1): 10 symbols from a_1..a_8,
        T − 1 blanks, a delimiter, 10 blanks; the model must output blanks and then the 10 symbols after the
        delimiter. Loss: cross-entropy averaged over all T + 20 steps. A memoryless model scores
        10 ln 8 / (T + 20) (the baseline) and recalls 1/8 of the symbols. Every model is one recurrent layer
        (one-hot inputs) + a linear head, trained with the same seed, data, optimizer (Adam, constant lr,
        gradient-norm clipping) and step budget.
    """,
    conclusion=conclusion,
    full=Settings(),
    quick=Settings(delays=(5,), hidden_size=32, batch_size=32, steps=200, val_size=200, val_every=25),
)
FULL, QUICK = EXPERIMENT.full, EXPERIMENT.quick
run = EXPERIMENT.run
