"""Experiment `copy`: can the cells recall 10 symbols after a delay of T blanks?

The copy task of Arjovsky, Shah & Bengio 2016 (arXiv:1511.06464, section 4.1; see rnnkit.experiments.tasks):
the same cells as the adding experiment, the same seed, data, optimizer and budget per delay T. The baseline
is the memoryless strategy's cross-entropy 10 ln 8 / (T + 20); recall accuracy on the 10 symbols is 1/8 by
chance.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rnnkit.experiments.adding import CELL_NAMES
from rnnkit.experiments.runner import (
    ExperimentResult,
    RunRecord,
    final_value,
    plot_curves,
    run_config,
    train_run,
    write_metrics,
    write_report,
    write_table,
)
from rnnkit.experiments.tasks import CopyOptions, CopyTask, copy_baseline

__all__ = ["Settings", "FULL", "QUICK", "run"]

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


FULL = Settings()
QUICK = Settings(delays=(5,), hidden_size=32, batch_size=32, steps=200, val_size=200, val_every=25)


def run(settings: Settings, out: Path, *, quick: bool = False) -> ExperimentResult:
    """Train every (T, cell) pair, write metrics.csv, results.csv, copy.png, copy_recall.png and report.md."""
    out.mkdir(parents=True, exist_ok=True)
    tic = time.perf_counter()
    records: dict[tuple[int, str], RunRecord] = {}
    for delay in settings.delays:
        for cell in settings.cells:
            options = CopyOptions(cell=cell, hidden_size=settings.hidden_size, delay=delay,
                                  batch_size=settings.batch_size, val_size=settings.val_size)
            config = run_config("copy", options, steps=settings.steps, lr=settings.lr, seed=settings.seed,
                                val_every=settings.val_every, clip_norm=settings.clip_norm)
            records[delay, cell] = train_run(f"{cell} T={delay}", CopyTask(options, settings.seed), config)

    table = []
    for (delay, cell), record in records.items():
        final, baseline = final_value(record), copy_baseline(delay)
        recall = final_value(record, "val_recall")
        table.append({
            "T": delay, "model": CELL_NAMES[cell], "baseline": baseline, "final val CE": final,
            "final / baseline": final / baseline, "recall accuracy": recall,
            "verdict": _verdict(final, baseline, recall), "seconds": round(record.seconds),
        })
    files = [write_metrics(records.values(), out / "metrics.csv"), write_table(table, out / "results.csv")]
    panels = [(f"T = {delay}", [records[delay, c] for c in settings.cells]) for delay in settings.delays]
    label = lambda record: CELL_NAMES[record.label.split()[0]]  # noqa: E731
    loss_plot = plot_curves(panels, out / "copy.png", ylabel="validation cross-entropy per step",
                            baselines=[copy_baseline(d) for d in settings.delays], label=label,
                            suptitle="copy task: validation cross-entropy (dashed: memoryless baseline 10 ln 8/(T+20))")
    recall_plot = plot_curves(panels, out / "copy_recall.png", name="val_recall", ylabel="recall accuracy",
                              baselines=[CHANCE] * len(settings.delays), log_y=False, label=label,
                              suptitle="copy task: accuracy on the 10 recalled symbols (dashed: chance 1/8)")
    files += [loss_plot, recall_plot]
    seconds = time.perf_counter() - tic
    report = write_report(
        out, title="Copy task: Elman vs IRNN vs LSTM vs GRU vs minGRU",
        command="rnnkit experiment copy" + (" --quick" if quick else ""), quick=quick,
        intro=(
            "The copy task (Arjovsky, Shah & Bengio 2016, arXiv:1511.06464, section 4.1): 10 symbols from "
            "a_1..a_8, T − 1 blanks, a delimiter, 10 blanks; the model must output blanks and then the 10 symbols "
            "after the delimiter. Loss: cross-entropy averaged over all T + 20 steps. A memoryless model scores "
            "10 ln 8 / (T + 20) (the baseline) and recalls 1/8 of the symbols. Every model is one recurrent "
            "layer (one-hot inputs) + a linear head, trained with the same seed, data, optimizer (Adam, constant "
            "lr, gradient-norm clipping) and step budget."
        ),
        settings=settings, table=table,
        plots=[("Validation cross-entropy against optimizer steps", loss_plot),
               ("Recall accuracy on the 10 symbols against optimizer steps", recall_plot)],
        conclusion=conclusion(table, settings), seconds=seconds,
    )
    files.append(report)
    return ExperimentResult("copy", out, report, files, table)


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


def conclusion(table: list[dict], settings: Settings) -> str:
    """One paragraph from the measured numbers."""
    sentences = []
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
