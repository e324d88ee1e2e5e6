"""The one training loop of rnnkit, written as a recipe: setup, one training step, validation, save.

    task = build_task("toy_lm", {"hidden_size": 32}, seed=0)
    result = Trainer(task, RunConfig(max_steps=200), out_dir="runs/toy").fit()

- setup (`Trainer._setup`): seed, device, model, optimizer (with the task's parameter groups), the plateau
  scale of the schedule, the run's `TrainState` (rnnkit/training/state.py), resume from the newest good
  checkpoint, metrics.csv, the batch stream.
- one training step (`Trainer._train_step`): for each of `grad_accum` batches, `task.step(model, batch, state)`
  under optional bf16 autocast, `backward(loss / grad_accum)`, carry `state` detached (truncated BPTT); then
  the learning rate of the schedule, the global gradient norm before clipping (logged every step), a NaN/inf
  check, clipping by value and/or norm, `optimizer.step()`, the step's metrics and callbacks.
- validation (`Trainer._validate`) every `validation.every` steps and at the end: tracks the best
  `validation.monitor`, drives reduce-on-plateau and early stopping.
- save (`Trainer.save`): a checkpoint every `checkpoint.every` steps, at a new best and at the end
  (rnnkit/training/checkpoint.py); `rnnkit.training.train` adds the bundle (rnnkit/training/run.py).

Exact resume: a checkpoint holds weights, optimizer, schedule and the `TrainState` (RNG states of python,
numpy and torch, the data position, the carried recurrent state, the best metric and patience counters).
Tasks yield the same batches for the same (seed, epoch), so the resumed run skips the consumed batches and
continues exactly; with `deterministic: true` on CPU the final weights equal those of an uninterrupted run
bit for bit (docs/training.md).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import random
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.config import flatten, to_dict
from rnnkit.training.checkpoint import latest_checkpoint, list_checkpoints, prune_checkpoints, save_checkpoint
from rnnkit.training.config import RunConfig, ValidationConfig
from rnnkit.training.lock import run_lock
from rnnkit.training.optim import (
    Plateau,
    build_optimizer,
    clip_gradients,
    grad_norm,
    lr_factor,
    set_parameter_groups,
)
from rnnkit.training.progress import LogProgress, MetricsLog, StepInfo
from rnnkit.training.state import TrainState
from rnnkit.training.task import HasParameterGroups, StepOutput, Task
from rnnkit.training.tbptt import detach_state

logger = logging.getLogger("rnnkit.training")

__all__ = ["Trainer", "FitResult", "StopTraining", "TrainingDiverged", "seed_everything", "resolve_device", "evaluate"]


class FitResult(NamedTuple):
    step: int  # optimizer steps done
    epoch: int
    stopped: str  # "max_steps", "max_epochs", "max_time", "early_stopping", "interrupted" or a callback's reason
    metrics: dict[str, float]  # the last validation's metrics ({} without validation)
    best_step: int | None  # step of the best `monitor` value, None without validation
    best_value: float | None
    out_dir: Path | None


class StopTraining(Exception):
    """Raised by a callback to end training cleanly: the engine saves a checkpoint and returns a FitResult
    whose ``stopped`` is the exception's message (or "callback")."""


class TrainingDiverged(RuntimeError):
    """The loss or a gradient became NaN or infinite; the message names the step and parameter."""


def seed_everything(seed: int) -> None:
    """Seed python's `random`, numpy's global RNG and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """"auto" -> cuda when available, else cpu; "cuda" raises when no GPU is visible."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: expected a visible CUDA GPU for device 'cuda', found none; use 'auto' or 'cpu'")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device: expected 'auto', 'cpu' or 'cuda', got {name!r}")
    return torch.device(name)


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # NamedTuple
        return type(batch)(*(_to_device(b, device) for b in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


def _add_metrics(sums: dict[str, float], out: StepOutput) -> None:
    for name, value in out.metrics.items():
        sums[name] = sums.get(name, 0.0) + float(value) * out.count


def evaluate(task: Task, model: nn.Module, device: torch.device, precision: str = "fp32") -> dict[str, float]:
    """Mean loss and task metrics over `task.val_batches()`, weighted by each batch's `count`.

    The state is carried between validation batches (stateful tasks read the validation stream in order).
    Returns {"val_loss": ..., "val_<metric>": ...}; {} when the task has no validation batches.
    """
    was_training = model.training
    model.eval()
    total, count, sums, state = 0.0, 0, {}, None
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        for batch in task.val_batches():
            out = task.step(model, _to_device(batch, device), state)
            state = out.state
            total += float(out.loss) * out.count
            count += out.count
            _add_metrics(sums, out)
    model.train(was_training)
    if count == 0:
        return {}
    return {"val_loss": total / count, **{f"val_{k}": v / count for k, v in sums.items()}}


class _Accumulated(NamedTuple):
    """What the `grad_accum` batches of one optimizer step add up to (their gradients are in the model)."""

    losses: list[Tensor]  # each batch's detached loss
    items: int
    sums: dict[str, float]  # task metrics weighted by each batch's count


class _Batches:
    """The training batches from `state`'s position on, epoch after epoch; it advances the position."""

    def __init__(self, task: Task, state: TrainState, max_epochs: int | None) -> None:
        self.task, self.state, self.max_epochs = task, state, max_epochs
        self.stream = self._open()

    def _open(self) -> Iterator[Any]:
        # batches are deterministic given (seed, epoch): skipping the consumed ones restores the position
        return itertools.islice(iter(self.task.train_batches(self.state.epoch)), self.state.batch, None)

    def next(self) -> Any:
        """The next batch, moving to the next epoch when one ends; None after max_epochs."""
        state = self.state
        batch = next(self.stream, None)
        while batch is None:  # the epoch is over: the state of the last track ends here
            state.epoch, state.batch, state.carried = state.epoch + 1, 0, None
            if self.max_epochs is not None and state.epoch >= self.max_epochs:
                return None
            self.stream = self._open()
            batch = next(self.stream, None)
            if batch is None:
                raise ValueError(f"task.train_batches({state.epoch}) yielded no batches")
        state.batch += 1
        return batch


@contextlib.contextmanager
def _determinism(config: RunConfig) -> Iterator[None]:
    """Deterministic algorithms (and no cudnn benchmark) while the block runs when `config.deterministic`."""
    previous = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    if config.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS determinism needs it
        # MKL picks kernels by memory alignment, so two processes can differ in the last bit; STRICT stops
        # that. MKL reads this at its first call: effective only if nothing used MKL yet in this process.
        os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0])
        torch.backends.cudnn.benchmark = previous[1]


class Trainer:
    """Train `task`'s model (or `model`) as `config` says; checkpoints and metrics go to `out_dir`.

    Args:
        task: the data and loss (rnnkit.training.task.Task).
        config: a RunConfig; `task`/`task_options` in it are only recorded (the task is already built).
        model: train this module instead of `task.build_model()` (built after seeding, so init is seeded).
        out_dir: run folder for checkpoints/ and metrics.csv; None keeps everything in memory. It is locked
            while fit() runs (rnnkit.training.lock): a second run into it raises RunLockedError.
        resume: continue from the newest good checkpoint in `out_dir` (starts fresh when there is none).
        callbacks: objects with optional `on_step(StepInfo)`, `on_validation(step, metrics)`,
            `on_end(FitResult)`; default: `LogProgress(config.log_every)`.

    During and after `fit()`: `model`, `optimizer`, `plateau` (the schedule's state) and `state` (the run's
    TrainState: step, epoch, position, best metric, ...) are attributes.
    """

    def __init__(
        self,
        task: Task,
        config: RunConfig,
        *,
        model: nn.Module | None = None,
        out_dir: str | Path | None = None,
        resume: bool = False,
        callbacks: Sequence[Any] | None = None,
    ) -> None:
        if not isinstance(config, RunConfig):
            raise TypeError(f"Trainer: expected config to be a RunConfig, got {type(config).__name__}")
        for method in ("build_model", "train_batches", "val_batches", "step"):
            if not callable(getattr(task, method, None)):
                raise TypeError(f"Trainer: expected task to have a {method}() method (see Task), got {task!r}")
        if resume and out_dir is None:
            raise ValueError("Trainer: resume=True needs out_dir, the run folder holding checkpoints/")
        self.task, self.config, self.model = task, config, model
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.checkpoints = None if self.out_dir is None else self.out_dir / "checkpoints"
        self.resume = resume
        self.callbacks = list(callbacks) if callbacks is not None else [LogProgress(config.log_every)]
        # set up by fit() (see _setup)
        self.device: torch.device | None = None
        self.parameters: list[nn.Parameter] = []
        self.optimizer: torch.optim.Optimizer | None = None
        self.plateau: Plateau | None = None
        self.state = TrainState()
        self.metrics_log: MetricsLog | None = None
        self.batches: _Batches | None = None

    # -- public ------------------------------------------------------------------------------------------

    def fit(self) -> FitResult:
        """Train until max_steps, max_epochs or early stopping; return where it stopped and the best metric."""
        with _determinism(self.config):
            if self.out_dir is None:
                return self._run()
            with run_lock(self.out_dir):  # one run per folder; RunLockedError names the holder
                return self._run()

    def save(self) -> Path | None:
        """Write a checkpoint of the current step atomically (None without out_dir), prune old ones, flush logs."""
        if self.checkpoints is None:
            return None
        state, config = self.state, self.config
        checkpoint_state = {"optimizer": self.optimizer.state_dict(), "schedule": self.plateau.state_dict(),
                            **state.state_dict()}
        meta = {"epoch": state.epoch, "config": to_dict(config), "metrics": state.last_val,
                "best_step": state.best_step, "best_value": state.best_value}
        path = save_checkpoint(self.checkpoints, state.step, self.model.state_dict(), checkpoint_state, meta)
        keep = [] if state.best_step is None else [state.best_step]
        prune_checkpoints(self.checkpoints, config.checkpoint.keep_last, keep=keep)
        if self.metrics_log is not None:
            self.metrics_log.flush()
        logger.debug("saved checkpoint %s", path)
        return path

    # -- the recipe: setup, loop, step, validation --------------------------------------------------------

    def _run(self) -> FitResult:
        self._setup()
        state, stopped = self.state, "max_steps"
        self.model.train()
        state.start_clock()
        state.mark_completed()  # what a checkpoint after Ctrl-C holds before the first step
        try:
            stopped = self._loop()
        except StopTraining as stop:  # raised by a callback after a completed step
            stopped = str(stop) or "callback"
            logger.info("stopping at step %d: %s", state.step, stopped)
            self.save()
        except KeyboardInterrupt:
            # Ctrl-C can land inside a step: the checkpoint holds the last completed step, with the data
            # position, carried state and RNG state as they were right after it, so a resumed run continues
            # exactly.
            state.rewind()
            self.optimizer.zero_grad(set_to_none=True)
            stopped = "interrupted"
            logger.warning("interrupted at step %d: saving a checkpoint", state.step)
            if state.step > 0:
                self.save()
        finally:
            if self.metrics_log is not None:
                self.metrics_log.close()
        result = FitResult(state.step, state.epoch, stopped, state.last_val, state.best_step, state.best_value,
                           self.out_dir)
        self._call("on_end", result)
        return result

    def _setup(self) -> None:
        config = self.config
        seed_everything(config.seed)
        self.device = resolve_device(config.device)
        model = self.model if self.model is not None else self.task.build_model()
        if not isinstance(model, nn.Module):
            raise TypeError(f"Trainer: expected task.build_model() to return an nn.Module, got {type(model).__name__}")
        self.model = model.to(self.device)
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(self.parameters, config.optimizer)
        if isinstance(self.task, HasParameterGroups):  # optional: per-group lr scales (ULMFiT)
            set_parameter_groups(self.optimizer, self.task.parameter_groups(model))
        self.plateau = Plateau(config.schedule, config.validation.mode, config.validation.min_delta)
        self.state = TrainState()
        resumed = self._resume()
        self.metrics_log = None if self.out_dir is None else MetricsLog(
            self.out_dir, resume_step=self.state.step if resumed else None
        )
        self.batches = _Batches(self.task, self.state, config.max_epochs)

    def _resume(self) -> bool:
        """Load the newest good checkpoint into model, optimizer, schedule and state; False: a fresh start."""
        if self.checkpoints is not None and list_checkpoints(self.checkpoints) and not self.resume:
            raise ValueError(
                f"out_dir: {self.out_dir} already holds checkpoints; pass resume=True (--resume) to continue "
                "that run, or choose another out_dir (--out)"
            )
        if not self.resume:
            return False
        checkpoint = latest_checkpoint(self.checkpoints, map_location=self.device)
        if checkpoint is None:
            logger.warning("resume: no usable checkpoint in %s; starting from step 0", self.checkpoints)
            return False
        _check_compatible(self.config, self.model, checkpoint)
        self.model.load_state_dict(checkpoint.weights)
        self.optimizer.load_state_dict(checkpoint.state["optimizer"])
        self.plateau.load_state_dict(checkpoint.state["schedule"])
        self.state = TrainState.from_checkpoint(checkpoint.state, checkpoint.meta)  # sets the RNG states last
        logger.info("resumed from %s (step %d, epoch %d)", checkpoint.path, self.state.step, self.state.epoch)
        return True

    def _loop(self) -> str:
        """Steps until a stop; returns why it stopped."""
        while self.state.step < self.config.max_steps:
            if not self._train_step():
                self.optimizer.zero_grad(set_to_none=True)  # a partial accumulation is dropped
                self.save()
                return "max_epochs"
            stopped = self._after_step()
            if stopped is not None:
                return stopped
        return "max_steps"

    def _train_step(self) -> bool:
        """One optimizer step over `grad_accum` batches; False when max_epochs ran out before it was complete."""
        accumulated = self._accumulate()
        if accumulated is None:
            return False
        config, state = self.config, self.state
        lr = config.optimizer.lr * lr_factor(state.step, config.max_steps, config.schedule) * self.plateau.scale
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        norm = grad_norm(self.parameters)
        loss, norm_value = torch.stack([torch.stack(accumulated.losses).mean(), norm.float().cpu()]).tolist()
        if not (math.isfinite(loss) and math.isfinite(norm_value)):
            if self.metrics_log is not None:
                self.metrics_log.flush()
            raise TrainingDiverged(_diverged_message(config, state.step + 1, loss, self.model, self.checkpoints))
        clip_gradients(self.parameters, config.clip_norm, config.clip_value, total_norm=norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        state.step += 1
        state.mark_completed()
        self._log_step(loss, lr, norm_value, accumulated)
        return True

    def _accumulate(self) -> _Accumulated | None:
        """Forward and backward of `grad_accum` batches; None when max_epochs ran out first."""
        losses, items, sums = [], 0, {}
        for _ in range(self.config.grad_accum):
            batch = self.batches.next()
            if batch is None:
                return None
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.precision == "bf16"):
                out = self.task.step(self.model, _to_device(batch, self.device), self.state.carried)
            if not isinstance(out, StepOutput):
                raise TypeError(f"task.step: expected a StepOutput, got {type(out).__name__}")
            (out.loss / self.config.grad_accum).backward()
            self.state.carried = detach_state(out.state)  # BPTT stops at the window edge
            losses.append(out.loss.detach().float())
            items += out.count
            _add_metrics(sums, out)
        return _Accumulated(losses, items, sums)

    def _log_step(self, loss: float, lr: float, norm: float, accumulated: _Accumulated) -> None:
        state, config, items = self.state, self.config, accumulated.items
        elapsed = state.lap()
        task_metrics = {k: v / max(items, 1) for k, v in accumulated.sums.items()}
        info = StepInfo(state.step, config.max_steps, state.epoch, loss, lr, norm, items,
                        items / elapsed if elapsed > 0 else float("inf"),
                        (config.max_steps - state.step) * state.step_time, task_metrics)
        if self.metrics_log is not None:
            self.metrics_log.log(state.step, state.epoch, "train", {
                "loss": loss, "lr": lr, "grad_norm": norm, "items_per_s": info.items_per_s, **task_metrics})
        self._call("on_step", info)

    def _after_step(self) -> str | None:
        """Validate and checkpoint when due; the reason to stop (early stopping, max_time) or None."""
        config, state = self.config, self.state
        out_of_time = config.max_time_s is not None and time.perf_counter() - state.started >= config.max_time_s
        last = state.step == config.max_steps or out_of_time
        is_best, early_stop = self._validate(last)
        if is_best or early_stop or last or state.step % config.checkpoint.every == 0:
            self.save()
        if early_stop:
            logger.info("early stopping at step %d: %s did not improve for %d validations",
                        state.step, config.validation.monitor, state.bad_validations)
            return "early_stopping"
        if out_of_time and state.step < config.max_steps:
            logger.info("stopping at step %d: max_time_s=%s reached", state.step, config.max_time_s)
            return "max_time"
        state.tic = time.perf_counter()  # validation and checkpoint time is not step time
        return None

    def _validate(self, last: bool) -> tuple[bool, bool]:
        """Validate when due (every `validation.every` steps and at the `last` one); (new best, early stop)."""
        validation, state = self.config.validation, self.state
        if not validation.every or (state.step % validation.every and not last):
            return False, False
        state.last_val = evaluate(self.task, self.model, self.device, self.config.precision)
        if not state.last_val:
            return False, False
        if self.metrics_log is not None:
            self.metrics_log.log(state.step, state.epoch, "val", state.last_val)
        self._call("on_validation", state.step, state.last_val)
        value = _monitored(validation, state.last_val)
        self.plateau.update(value)
        if _improved(validation, value, state.best_value):
            state.best_value, state.best_step, state.bad_validations = value, state.step, 0
            return True, False
        state.bad_validations += 1
        return False, validation.patience is not None and state.bad_validations >= validation.patience

    def _call(self, name: str, *args: Any) -> None:
        for callback in self.callbacks:
            method = getattr(callback, name, None)
            if method is not None:
                method(*args)


# -- helpers ---------------------------------------------------------------------------------------------


def _monitored(validation: ValidationConfig, metrics: dict[str, float]) -> float:
    if validation.monitor not in metrics:
        raise ValueError(
            f"validation.monitor: expected one of {sorted(metrics)} (what the task's validation reports), "
            f"got {validation.monitor!r}"
        )
    return metrics[validation.monitor]


def _improved(validation: ValidationConfig, value: float, best: float | None) -> bool:
    if best is None:
        return True
    delta = validation.min_delta
    return value < best - delta if validation.mode == "min" else value > best + delta


def _check_compatible(config: RunConfig, model: nn.Module, checkpoint: Any) -> None:
    """Refuse a checkpoint whose tensors do not fit the model; name the config fields that differ."""
    now = flatten(to_dict(config))
    then = flatten(checkpoint.meta.get("config", {}))
    changed = [f"{k}: {then.get(k, '<unset>')!r} (checkpoint) vs {now.get(k, '<unset>')!r} (now)"
               for k in sorted(set(now) | set(then)) if now.get(k) != then.get(k)]
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in checkpoint.weights.items()}
    problems = [f"{k}: {found.get(k, 'missing')} in the checkpoint, {expected.get(k, 'missing')} now"
                for k in sorted(set(expected) | set(found)) if expected.get(k) != found.get(k)]
    if problems:
        raise ValueError(
            f"resume: {checkpoint.path} holds a model of another shape ({'; '.join(problems[:5])}). "
            f"Config fields that differ: {'; '.join(changed) or 'none'}. Resume with the checkpoint's "
            "config or start a new run in another out_dir (--out)."
        )
    if changed:
        logger.warning("resume: the config differs from the checkpoint's in %s", "; ".join(changed))


def _diverged_message(config: RunConfig, step: int, loss: float, model: nn.Module, checkpoints: Path | None) -> str:
    if not math.isfinite(loss):
        what = f"the loss is {loss}"
    else:
        bad = [name for name, p in model.named_parameters()
               if p.requires_grad and p.grad is not None and not bool(torch.isfinite(p.grad).all())]
        what = f"the gradient of {', '.join(map(repr, bad[:3])) or 'a parameter'} is not finite (loss {loss:.4g})"
    found = list_checkpoints(checkpoints) if checkpoints is not None else []
    kept = f"the last good checkpoint is {found[-1][1]}" if found else "no checkpoint was written yet"
    return (
        f"step {step}: {what}; training stopped and {kept}. Remedies: a lower learning rate "
        f"(optimizer.lr={config.optimizer.lr:g}, try {config.optimizer.lr / 3:.2g}), gradient clipping "
        f"(clip_norm={config.clip_norm}, try 1.0 or less), a learning-rate warmup (schedule.warmup_steps)"
        + (", or precision: fp32" if config.precision == "bf16" else "")
        + "."
    )
