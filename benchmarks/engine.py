"""Engine overhead: steps/s of a small LSTM language model through `Trainer` vs a bare hand-written loop.

Both do the same work per step on the same batches: `task.step` (embedding -> LSTM -> linear -> cross
entropy) on the toy_lm task, `backward`, global-norm clipping at 1.0, `Adam.step`, `zero_grad`, and one read
of the loss on the host (the engine reads loss and the pre-clip norm in one sync; the bare loop calls
`loss.item()`, as any loop that logs does). Variants:

* bare: the hand-written loop.
* engine: `Trainer(..., out_dir=None, callbacks=[])`, validation and checkpoints off.
* engine+files: the same with a run folder: metrics.csv rows every step (buffered), no checkpoints.

Timing excludes set-up: the clock starts after `--warmup` steps (a callback in the engine, the same step
count in the loop). Configurations run interleaved, `--repeats` times, and the median is reported, with
the ratio engine / bare. Writes benchmarks/results/engine.json and prints a table.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/engine.py [--threads 1] [--steps 60] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from rnnkit.training import RunConfig, Trainer, build_task
from rnnkit.training.config import CheckpointConfig, OptimizerConfig, ValidationConfig

RESULTS = Path(__file__).resolve().parent / "results"
OPTIONS = {"cell": "lstm", "embedding_size": 32, "hidden_size": 128, "batch_size": 32, "seq_len": 64,
           "train_documents": 4000, "val_documents": 10}


def _config(steps: int) -> RunConfig:
    return RunConfig(task="toy_lm", task_options=OPTIONS, seed=0, device="cpu", max_steps=steps, clip_norm=1.0,
                     optimizer=OptimizerConfig(name="adam", lr=1e-3), validation=ValidationConfig(every=0),
                     checkpoint=CheckpointConfig(every=10**9, keep_last=1), log_every=10**9)


class _Clock:
    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end, self.steps = warmup, None, None, 0

    def on_step(self, info) -> None:
        if info.step == self.warmup:
            self.start = time.perf_counter()
        self.end, self.steps = time.perf_counter(), info.step - self.warmup


def run_engine(task, steps: int, warmup: int, files: bool) -> float:
    clock = _Clock(warmup)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run" if files else None
        config = _config(steps)
        if files:  # the final step always checkpoints: stop the clock before it
            config = replace(config, max_steps=steps + 1)
        Trainer(task, config, out_dir=out, callbacks=[clock]).fit()
    return clock.steps / (clock.end - clock.start)


def run_bare(task, steps: int, warmup: int) -> float:
    torch.manual_seed(0)
    model = task.build_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    done, start = 0, None
    epoch = 0
    while done < steps:
        for batch in task.train_batches(epoch):
            out = task.step(model, batch, None)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            out.loss.item()
            done += 1
            if done == warmup:
                start = time.perf_counter()
            if done == steps:
                break
        epoch += 1
    return (steps - warmup) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = build_task("toy_lm", OPTIONS, seed=0)
    variants = {
        "bare": lambda: run_bare(task, args.steps, args.warmup),
        "engine": lambda: run_engine(task, args.steps, args.warmup, files=False),
        "engine+files": lambda: run_engine(task, args.steps, args.warmup, files=True),
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, variant in variants.items():  # interleaved: drifts in machine load hit all variants alike
            samples[name].append(variant())
    medians = {name: statistics.median(values) for name, values in samples.items()}
    result = {
        "machine": platform.machine(), "processor": platform.processor(), "python": platform.python_version(),
        "torch": torch.__version__, "threads": args.threads, "steps": args.steps, "warmup": args.warmup,
        "repeats": args.repeats, "model": OPTIONS, "steps_per_s": samples, "median_steps_per_s": medians,
        "ratio_to_bare": {name: medians[name] / medians["bare"] for name in medians},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "engine.json").write_text(json.dumps(result, indent=1))
    print(f"{'variant':<14}{'steps/s (median)':>18}{'vs bare':>10}")
    for name, value in medians.items():
        print(f"{name:<14}{value:>18.2f}{value / medians['bare']:>10.3f}")


if __name__ == "__main__":
    main()
