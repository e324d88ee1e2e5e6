"""What a person sees while a run trains, and what stays on disk.

- `MetricsLog`: RUN/metrics.csv, always, one row per number in long form `step,epoch,split,name,value`
  (train rows every step: loss, lr, grad_norm (before clipping), items_per_s and the task's metrics;
  val rows at each validation). TensorBoard event files in RUN/tensorboard/ when `tensorboard` is installed.
- Callbacks the engine calls (`on_step(info)`, `on_validation(step, metrics)`, `on_end(result)`, all optional):
  `LogProgress` writes a plain log line every `log_every` steps (the library default; CI logs stay readable);
  `RichProgress` draws a rich progress bar with step, epoch, loss, lr, items/s and ETA. The CLI picks
  `RichProgress` when stdout is a terminal; library code never prints.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path
from typing import Any, NamedTuple

from rnnkit.training.checkpoint import write_atomic

logger = logging.getLogger("rnnkit.training")

__all__ = ["StepInfo", "MetricsLog", "LogProgress", "RichProgress", "format_seconds"]

FIELDS = ("step", "epoch", "split", "name", "value")


class StepInfo(NamedTuple):
    step: int  # optimizer steps done (1 after the first)
    max_steps: int
    epoch: int
    loss: float  # mean training loss of this step
    lr: float  # the learning rate this step used
    grad_norm: float  # global gradient norm before clipping
    items: int  # items (tokens, samples) in this step
    items_per_s: float
    eta_s: float  # estimated seconds to max_steps
    metrics: dict[str, float]  # the task's extra training metrics


def format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class MetricsLog:
    """Append-only metrics.csv (buffered, flushed with every checkpoint) plus optional TensorBoard."""

    def __init__(self, run_dir: str | Path, *, resume_step: int | None = None) -> None:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        self.path = Path(run_dir) / "metrics.csv"
        self.rows: list[tuple] = []
        if resume_step is not None and self.path.exists():
            # drop rows written after the checkpoint we resume from: they will be logged again
            with open(self.path, newline="") as handle:
                kept = [r for r in csv.DictReader(handle) if r["step"].isdigit() and int(r["step"]) <= resume_step]
            text = io.StringIO()
            writer = csv.DictWriter(text, FIELDS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(kept)
            write_atomic(self.path, text.getvalue().encode())
        else:
            write_atomic(self.path, (",".join(FIELDS) + "\n").encode())
        self.tensorboard = None
        try:
            from torch.utils.tensorboard import SummaryWriter  # optional: needs the tensorboard package
        except ImportError:
            logger.debug("tensorboard is not installed; writing metrics.csv only")
        else:
            self.tensorboard = SummaryWriter(str(Path(run_dir) / "tensorboard"))

    def log(self, step: int, epoch: int, split: str, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.rows.append((step, epoch, split, name, repr(float(value))))
            if self.tensorboard is not None:
                self.tensorboard.add_scalar(f"{split}/{name}", value, step)

    def flush(self) -> None:
        if self.rows:
            with open(self.path, "a", newline="") as handle:
                csv.writer(handle, lineterminator="\n").writerows(self.rows)
            self.rows.clear()
        if self.tensorboard is not None:
            self.tensorboard.flush()

    def close(self) -> None:
        self.flush()
        if self.tensorboard is not None:
            self.tensorboard.close()


class LogProgress:
    """Plain log lines: every `log_every` steps, at each validation and at the end."""

    def __init__(self, log_every: int = 10, log: logging.Logger = logger) -> None:
        if log_every < 1:
            raise ValueError(f"LogProgress: expected log_every >= 1, got {log_every}")
        self.log_every, self.logger = log_every, log

    def on_step(self, info: StepInfo) -> None:
        if info.step % self.log_every == 0 or info.step == info.max_steps or info.step == 1:
            self.logger.info(
                "step %d/%d epoch %d loss %.4f lr %.3g grad_norm %.3g %.0f items/s eta %s",
                info.step, info.max_steps, info.epoch, info.loss, info.lr, info.grad_norm,
                info.items_per_s, format_seconds(info.eta_s),
            )

    def on_validation(self, step: int, metrics: dict[str, float]) -> None:
        self.logger.info("step %d validation %s", step, " ".join(f"{k} {v:.4f}" for k, v in metrics.items()))

    def on_end(self, result: Any) -> None:
        self.logger.info("stopped at step %d (%s)", result.step, result.stopped)


class RichProgress:
    """A rich progress bar; use as a context manager around `Trainer.fit()` (the CLI does)."""

    def __init__(self, max_steps: int, console: Any = None) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("epoch {task.fields[epoch]} loss {task.fields[loss]} lr {task.fields[lr]} {task.fields[speed]}"),
            TimeRemainingColumn(),
            console=console,
        )
        self.bar = self.progress.add_task("train", total=max_steps, epoch=0, loss="-", lr="-", speed="")

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def on_step(self, info: StepInfo) -> None:
        self.progress.update(
            self.bar, completed=info.step, epoch=info.epoch, loss=f"{info.loss:.4f}", lr=f"{info.lr:.3g}",
            speed=f"{info.items_per_s:,.0f} items/s",
        )

    def on_validation(self, step: int, metrics: dict[str, float]) -> None:
        self.progress.console.log(f"step {step}: " + " ".join(f"{k} {v:.4f}" for k, v in metrics.items()))

    def on_end(self, result: Any) -> None:
        self.progress.update(self.bar, completed=result.step)
