"""`make demo` (``python -m rnnkit.demo``): train a Tang-poem LSTM for at most 5 minutes, then write poems.

1. Reads configs/tang_poems.yaml (task ``poems``: a character LSTM, one poem per sequence, conditioned on
   its form) and times a few training steps to choose ``max_steps`` so that training, validation
   included, fits the budget (default 300 s). The choice is kept in runs/demo/demo.json.
2. Trains through the training engine (rnnkit.training.Trainer) with a rich progress bar, checkpoints
   every 200 steps in runs/demo/checkpoints/. A previous unfinished demo run is resumed; a finished one
   is reused (``--fresh`` starts over). Training also stops at the time budget, whatever the step.
3. Prints the loss curve, the validation nats per character, one poem of each form and an acrostic poem,
   and writes the model bundle runs/demo/bundle/ that ``rnnkit poem`` and ``rnnkit eval`` use.

Ctrl-C stops training and still writes the bundle from the current weights; the last checkpoint lets
the next ``make demo`` resume.

On CPU the OpenMP runtime's default busy-waiting slows training badly on a busy machine (docs/performance.md,
"OpenMP wait policy"); the demo therefore runs with OMP_WAIT_POLICY=PASSIVE unless it is already set (it
re-executes itself, because OpenMP reads the variable when torch loads; rnnkit.threads.passive_openmp).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "configs" / "tang_poems.yaml"
CHECKPOINT_EVERY = 200
DEMO_POEMS = (("wujue", 1), ("qijue", 2), ("wulv", 3), ("qilv", 4))
ACROSTIC = ("qijue", "春夏秋冬")


def calibrate_max_steps(task, config, budget_s: float, validations: int) -> tuple[int, float]:
    """Time about 5 s of optimizer steps on a throwaway model; return (max_steps fitting the budget, s/step)."""
    import torch

    from rnnkit.training.optim import build_optimizer

    model = task.build_model()
    optimizer = build_optimizer(list(model.parameters()), config.optimizer)
    timings, tokens = [], 0
    for index, batch in enumerate(task.train_batches(0)):
        tic = time.perf_counter()
        out = task.step(model, batch, None)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if index >= 3:  # the first steps pay for allocations
            timings.append(time.perf_counter() - tic)
            tokens += out.count
        if sum(timings) > 5.0 and len(timings) >= 5:  # about 5 s of timing
            break
    step_s = sum(timings) / len(timings)
    train_tokens_per_s = tokens / sum(timings)
    val_tokens = sum(batch.targets.numel() for batch in task.val_batches())
    val_s = val_tokens / (3.0 * train_tokens_per_s)  # forward only: about a third of a training step
    # Plan for the whole budget: if the machine slows down, the deadline only cuts the end of the cosine
    # schedule (the learning rate is small by then); if it speeds up, finishing early wastes budget.
    usable = budget_s - validations * val_s - 2.0
    return max(10, int(usable / step_s)), step_s


def loss_curve(metrics_csv: Path, points: int = 8) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(train curve: mean training loss over ``points`` equal step ranges, validation points)."""
    train, val = [], []
    with open(metrics_csv, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["name"] == "loss" and row["split"] == "train":
                train.append((int(row["step"]), float(row["value"])))
            elif row["name"] == "val_loss" and row["split"] == "val":
                val.append((int(row["step"]), float(row["value"])))
    if not train:
        return [], val
    size = max(1, math.ceil(len(train) / points))
    curve = []
    for begin in range(0, len(train), size):
        chunk = train[begin : begin + size]
        curve.append((chunk[-1][0], sum(v for _, v in chunk) / len(chunk)))
    return curve, val


@dataclasses.dataclass
class _Outcome:
    """What training left: the model (None: no weights yet), its validation loss and why it stopped early."""

    model: Any
    val: float | None
    interrupted: str | None  # None: finished (or reused); else the reason, printed
    train_s: float  # seconds spent training in this call

    @property
    def ctrl_c(self) -> bool:
        return bool(self.interrupted and "Ctrl-C" in self.interrupted)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    from rich.console import Console

    console = Console()
    console.rule("[bold]rnnkit demo: a Tang-poem LSTM")
    config, task = _load(args, console)
    previous, max_steps, done = _plan(task, config, args.out, args.budget, console)
    config = _run_config(config, max_steps, args.budget)
    outcome = _train(task, config, args.out, previous, done, args.budget, console)
    if outcome.model is None:
        console.print(f"[yellow]{outcome.interrupted or 'stopped'} before any weights were trained; "
                      "run `make demo` again.[/]")
        return 130
    outcome.model.eval()
    _finish(task, outcome, args.out, console)
    bundle = _save(task, config, outcome, args.out)
    _print_summary(outcome.val, args.out, console)
    _write_sample_poems(outcome.model, task.tokenizer, bundle, args.seed, console)
    return 130 if outcome.ctrl_c else 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m rnnkit.demo", description="Train a Tang-poem LSTM, then write poems.")
    parser.add_argument("--budget", type=float, default=300.0, help="training seconds, validation included (300)")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="run folder (runs/demo)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="run config (configs/tang_poems.yaml)")
    parser.add_argument("--fresh", action="store_true", help="delete a previous demo run and start over")
    parser.add_argument("--seed", type=int, default=0, help="poem sampling seed")
    args = parser.parse_args(argv)
    if args.budget <= 0:
        parser.error(f"--budget: expected seconds > 0, got {args.budget}")
    return args


def _load(args: argparse.Namespace, console: Any) -> tuple[Any, Any]:
    """The run config and the poem task (``--fresh`` first deletes the run folder); prints the corpus, the
    vocabulary and the torch threads and OpenMP wait policy in use."""
    import torch

    from rnnkit.config import load_config
    from rnnkit.training import RunConfig
    from rnnkit.training.registry import build_task

    if args.fresh and args.out.exists():
        shutil.rmtree(args.out)
    config = load_config(args.config, RunConfig)
    with console.status("loading 36,613 Tang poems and building the vocabulary..."):
        task = build_task(config.task, config.task_options, seed=config.seed, source=str(args.config))
    console.print(f"poems: {sum(t.size(0) for t in task.train_data.values()):,} training, "
                  f"{sum(t.size(0) for t in task.val_data.values()):,} validation; "
                  f"vocabulary {len(task.tokenizer):,} tokens; torch {torch.__version__}, "
                  f"{torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    return config, task


def _latest(out: Path) -> Any:
    from rnnkit.training.checkpoint import latest_checkpoint

    return latest_checkpoint(out / "checkpoints") if (out / "checkpoints").is_dir() else None


def _plan(task: Any, config: Any, out: Path, budget: float, console: Any) -> tuple[Any, int, bool]:
    """(the checkpoint to resume or None, max_steps, already trained): a previous run's plan from
    demo.json, else a new one timed on this machine (a run folder without its plan is deleted)."""
    state_file = out / "demo.json"
    previous = _latest(out)
    if previous is not None and state_file.is_file():
        max_steps = int(json.loads(state_file.read_text())["max_steps"])
        done = int(previous.meta["step"]) >= max_steps
        console.print(f"found the demo run in {out} at step {previous.meta['step']}/{max_steps}: "
                      + ("already trained (use --fresh to train again)" if done else "resuming"))
        return previous, max_steps, done
    if out.exists() and any(out.iterdir()):
        shutil.rmtree(out)  # a run without its plan (or without checkpoints) cannot be resumed
    with console.status("timing a few training steps to fit the budget..."):
        max_steps, step_s = calibrate_max_steps(task, config, budget, validations=1)
    console.print(f"{step_s * 1000:.0f} ms per step here: {max_steps} steps fit in {budget:.0f} s")
    out.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps({"max_steps": max_steps, "budget_s": budget, "step_s": step_s}))
    return previous, max_steps, False


def _run_config(config: Any, max_steps: int, budget: float) -> Any:
    return dataclasses.replace(
        config,
        max_steps=max_steps,
        max_time_s=budget,  # the engine stops there cleanly (validates, checkpoints) if the steps run slow
        validation=dataclasses.replace(config.validation, every=max_steps),  # once, at the end: time is short
        checkpoint=dataclasses.replace(config.checkpoint, every=CHECKPOINT_EVERY),
    )


def _train(task: Any, config: Any, out: Path, previous: Any, done: bool, budget: float, console: Any) -> _Outcome:
    """Train (unless ``done``) with a progress bar, stopping at the budget or on Ctrl-C; the model is the
    trained one, else the newest checkpoint's, else None."""
    from rnnkit.training import Trainer
    from rnnkit.training.progress import RichProgress

    trainer = Trainer(task, config, out_dir=out, resume=previous is not None)
    interrupted, val = None, None
    tic = time.monotonic()
    if not done:
        progress = RichProgress(config.max_steps, console=console)
        trainer.callbacks = [progress]
        with progress:
            result = trainer.fit()  # the engine validates at the last step and checkpoints on Ctrl-C
        val = result.metrics.get("val_loss")
        if result.stopped == "interrupted":
            interrupted = "interrupted (Ctrl-C)"
        elif result.stopped == "max_time":
            interrupted = f"time budget of {budget:.0f} s reached at step {result.step}/{config.max_steps}"
    train_s = time.monotonic() - tic
    model = trainer.model
    if model is None or done:  # nothing trained in this call: the newest checkpoint has the weights
        last = _latest(out)
        model = None
        if last is not None:
            model = task.build_model()
            model.load_state_dict(last.weights)
    return _Outcome(model, val, interrupted, train_s)


def _finish(task: Any, outcome: _Outcome, out: Path, console: Any) -> None:
    """Validate a model that was not validated in this call (unless Ctrl-C); say how to resume a stopped run."""
    if outcome.val is None and not outcome.ctrl_c:  # e.g. a finished run reused
        from rnnkit.training.trainer import evaluate

        with console.status("validating..."):  # after the budget: reporting, not training
            outcome.val = evaluate(task, outcome.model, next(outcome.model.parameters()).device)["val_loss"]
    if outcome.interrupted:
        last = _latest(out)
        resume = (f"`make demo` resumes from the checkpoint at step {last.meta['step']}" if last is not None
                  else f"no checkpoint yet (the first comes at step {CHECKPOINT_EVERY}): `make demo` starts over")
        console.print(f"[yellow]{outcome.interrupted}; the bundle is written from the current weights; {resume}.[/]")


def _save(task: Any, config: Any, outcome: _Outcome, out: Path) -> Path:
    from rnnkit.bundle import save as save_bundle
    from rnnkit.config import to_dict

    val = outcome.val
    metrics = {} if val is None else {"val_loss": val, "val_bits_per_char": val / math.log(2),
                                      "val_perplexity": math.exp(val)}
    return save_bundle(out / "bundle", outcome.model, task.tokenizer, task="poems", metrics=metrics,
                       extra={"run_config": to_dict(config), "train_seconds_this_call": round(outcome.train_s, 1)})


def _print_summary(val: float | None, out: Path, console: Any) -> None:
    """The loss curve from metrics.csv (with this call's validation) and the validation figures."""
    from rich.table import Table

    curve, val_points = loss_curve(out / "metrics.csv") if (out / "metrics.csv").is_file() else ([], [])
    if val is not None and (not val_points or val_points[-1][1] != val):
        val_points.append((curve[-1][0] if curve else 0, val))  # validated here, after a stop
    if curve:
        table = Table(title="loss curve (nats per character)")
        table.add_column("step", justify="right")
        table.add_column("train loss", justify="right")
        table.add_column("validation", justify="right")
        train_at, val_at = dict(curve), dict(val_points)
        for step in sorted(set(train_at) | set(val_at)):
            table.add_row(str(step), f"{train_at[step]:.3f}" if step in train_at else "",
                          f"{val_at[step]:.3f}" if step in val_at else "")
        console.print(table)
    if val is not None:
        console.print(f"[bold]validation: {val:.3f} nats/char ({val / math.log(2):.3f} bits/char, "
                      f"perplexity {math.exp(val):.1f})[/]  baselines on the same split: unigram 6.50, "
                      "Kneser-Ney bigram 5.44 (benchmarks/poem_baselines.py)")


def _write_sample_poems(model: Any, tokenizer: Any, bundle: Path, seed: int, console: Any) -> None:
    """One poem of each form and an acrostic one, seeded from ``seed``."""
    from rnnkit.bundle import Bundle
    from rnnkit.poems import write_poems

    poet = Bundle(model, tokenizer, {}, bundle)
    console.rule("[bold]poems")
    for form, offset in DEMO_POEMS:
        (poem,) = write_poems(poet, form=form, seed=seed + offset)
        _print_poem(console, f"{poem.form_chinese} ({form})", poem.lines)
    form, acrostic = ACROSTIC
    (poem,) = write_poems(poet, form=form, acrostic=acrostic, seed=seed + 5)
    _print_poem(console, f"藏头诗 {acrostic} ({form}, acrostic)", poem.lines)
    console.print(f"model bundle: {bundle}\nmore: rnnkit poem --form qilv --acrostic 一二三四五六七八 --num 3 "
                  "(see docs/poems.md)")


def _print_poem(console, title: str, lines: list[str]) -> None:
    console.print(f"[bold cyan]{title}[/]")
    for index in range(0, len(lines), 2):
        console.print(f"  {lines[index]}，{lines[index + 1]}。")
    console.print()


if __name__ == "__main__":
    from rnnkit.threads import passive_openmp

    passive_openmp("rnnkit.demo")  # only as a program: a Python caller keeps its own process
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # before or after training (during training main() handles it)
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
