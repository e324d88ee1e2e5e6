"""The one training loop of rnnkit.

    task = build_task("toy_lm", {"hidden_size": 32}, seed=0)
    result = Trainer(task, RunConfig(max_steps=200), out_dir="runs/toy").fit()

One optimizer step: for each of `grad_accum` batches, `task.step(model, batch, state)` under optional
bf16 autocast, `backward(loss / grad_accum)`, carry `state` detached (truncated BPTT); then the global
gradient norm before clipping (logged every step), a NaN/inf check, clipping by value and/or norm, the
learning rate of the schedule, `optimizer.step()`. Validation every `validation.every` steps tracks the
best `validation.monitor`, drives reduce-on-plateau and early stopping; checkpoints every
`checkpoint.every` steps, at a new best and at the end (see rnnkit/training/checkpoint.py).

Exact resume: a checkpoint holds weights, optimizer, schedule, the RNG states of python, numpy and torch,
the data position (epoch, batches consumed in it) and the carried recurrent state. Tasks yield the same
batches for the same (seed, epoch), so the resumed run skips the consumed batches and continues exactly;
with `deterministic: true` on CPU the final weights equal those of an uninterrupted run bit for bit.
"""

from __future__ import annotations

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
from rnnkit.training.config import RunConfig
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
from rnnkit.training.task import StepOutput, Task
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


def _rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    state = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos,
                  "has_gauss": has_gauss, "gauss": gauss},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy = state["numpy"]
    np.random.set_state(
        (numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"], numpy["gauss"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


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
            for name, value in out.metrics.items():
                sums[name] = sums.get(name, 0.0) + float(value) * out.count
    model.train(was_training)
    if count == 0:
        return {}
    return {"val_loss": total / count, **{f"val_{k}": v / count for k, v in sums.items()}}


class _Position(NamedTuple):
    epoch: int
    batch: int  # batches of `epoch` consumed so far


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
        self.resume = resume
        self.callbacks = list(callbacks) if callbacks is not None else [LogProgress(config.log_every)]

    # -- public ------------------------------------------------------------------------------------------

    def fit(self) -> FitResult:
        """Train until max_steps, max_epochs or early stopping; return where it stopped and the best metric."""
        previous = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
        if self.config.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS determinism needs it
            # MKL picks kernels by memory alignment, so two processes can differ in the last bit; STRICT stops
            # that. MKL reads this at its first call: effective only if nothing used MKL yet in this process.
            os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        try:
            if self.out_dir is None:
                return self._fit()
            with run_lock(self.out_dir):  # one run per folder; RunLockedError names the holder
                return self._fit()
        finally:
            torch.use_deterministic_algorithms(previous[0])
            torch.backends.cudnn.benchmark = previous[1]

    # -- the loop ----------------------------------------------------------------------------------------

    def _fit(self) -> FitResult:
        config = self.config
        seed_everything(config.seed)
        device = resolve_device(config.device)
        model = self.model if self.model is not None else self.task.build_model()
        if not isinstance(model, nn.Module):
            raise TypeError(f"Trainer: expected task.build_model() to return an nn.Module, got {type(model).__name__}")
        model.to(device)
        self.model = model
        parameters = [p for p in model.parameters() if p.requires_grad]
        names = {id(p): n for n, p in model.named_parameters()}
        optimizer = build_optimizer(parameters, config.optimizer)
        if callable(getattr(self.task, "parameter_groups", None)):  # optional: per-group lr scales (ULMFiT)
            set_parameter_groups(optimizer, self.task.parameter_groups(model))
        plateau = Plateau(config.schedule, config.validation.mode, config.validation.min_delta)
        checkpoints = None if self.out_dir is None else self.out_dir / "checkpoints"

        step, position, carried = 0, _Position(0, 0), None
        best_value, best_step, bad_validations, last_val = None, None, 0, {}
        if checkpoints is not None and list_checkpoints(checkpoints) and not self.resume:
            raise ValueError(
                f"out_dir: {self.out_dir} already holds checkpoints; pass resume=True (--resume) to continue "
                "that run, or choose another out_dir (--out)"
            )
        resumed = latest_checkpoint(checkpoints, map_location=device) if self.resume else None
        if self.resume and resumed is None:
            logger.warning("resume: no usable checkpoint in %s; starting from step 0", checkpoints)
        if resumed is not None:
            self._check_compatible(model, resumed)
            model.load_state_dict(resumed.weights)
            state = resumed.state
            optimizer.load_state_dict(state["optimizer"])
            plateau.load_state_dict(state["schedule"])
            counters = state["trainer"]
            step, position = int(resumed.meta["step"]), _Position(*state["data"])
            best_value, best_step = counters["best_value"], counters["best_step"]
            bad_validations, last_val = counters["bad_validations"], dict(counters["last_val"])
            carried = state["carried_state"]
            _set_rng_state(state["rng"])
            logger.info("resumed from %s (step %d, epoch %d)", resumed.path, step, position.epoch)
        metrics_log = None if self.out_dir is None else MetricsLog(
            self.out_dir, resume_step=step if resumed is not None else None
        )

        def save(is_best_now: bool = False, rng: Any = None) -> Path | None:
            if checkpoints is None:
                return None
            state = {
                "optimizer": optimizer.state_dict(),
                "schedule": plateau.state_dict(),
                "rng": _rng_state() if rng is None else rng,
                "data": tuple(position),
                "carried_state": carried,
                "trainer": {"best_value": best_value, "best_step": best_step, "bad_validations": bad_validations,
                            "last_val": last_val},
            }
            meta = {"epoch": position.epoch, "config": to_dict(config), "metrics": last_val,
                    "best_step": best_step, "best_value": best_value}
            path = save_checkpoint(checkpoints, step, model.state_dict(), state, meta)
            prune_checkpoints(checkpoints, config.checkpoint.keep_last, keep=[] if best_step is None else [best_step])
            if metrics_log is not None:
                metrics_log.flush()
            logger.debug("saved checkpoint %s", path)
            return path

        batches = self._batches(position)
        stopped = "max_steps"
        model.train()
        step_time = None
        tic = started = time.perf_counter()
        # where the run stands after its last completed optimizer step: what a checkpoint after Ctrl-C holds
        boundary = (position, carried, _rng_state())
        try:
            while step < config.max_steps:
                losses: list[Tensor] = []
                items = 0
                sums: dict[str, float] = {}
                out_of_epochs = False
                for _ in range(config.grad_accum):
                    batch = next(batches, None)
                    while batch is None:  # the epoch is over: the state of the last track ends here
                        position, carried = _Position(position.epoch + 1, 0), None
                        if config.max_epochs is not None and position.epoch >= config.max_epochs:
                            out_of_epochs = True
                            break
                        batches = self._batches(position)
                        batch = next(batches, None)
                        if batch is None:
                            raise ValueError(f"task.train_batches({position.epoch}) yielded no batches")
                    if out_of_epochs:
                        break
                    position = _Position(position.epoch, position.batch + 1)
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16"):
                        out = self.task.step(model, _to_device(batch, device), carried)
                    if not isinstance(out, StepOutput):
                        raise TypeError(f"task.step: expected a StepOutput, got {type(out).__name__}")
                    (out.loss / config.grad_accum).backward()
                    carried = detach_state(out.state)  # BPTT stops at the window edge
                    losses.append(out.loss.detach().float())
                    items += out.count
                    for name, value in out.metrics.items():
                        sums[name] = sums.get(name, 0.0) + float(value) * out.count
                if out_of_epochs:
                    optimizer.zero_grad(set_to_none=True)  # a partial accumulation is dropped
                    stopped = "max_epochs"
                    break

                lr = config.optimizer.lr * lr_factor(step, config.max_steps, config.schedule) * plateau.scale
                for group in optimizer.param_groups:
                    group["lr"] = lr * group.get("lr_scale", 1.0)
                norm = grad_norm(parameters)
                loss_value, norm_value = torch.stack([torch.stack(losses).mean(), norm.float().cpu()]).tolist()
                if not (math.isfinite(loss_value) and math.isfinite(norm_value)):
                    if metrics_log is not None:
                        metrics_log.flush()
                    raise TrainingDiverged(self._diverged_message(step + 1, loss_value, parameters, names, checkpoints))
                clip_gradients(parameters, config.clip_norm, config.clip_value, total_norm=norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                boundary = (position, carried, _rng_state())

                toc = time.perf_counter()
                elapsed, tic = toc - tic, toc
                step_time = elapsed if step_time is None else 0.9 * step_time + 0.1 * elapsed
                task_metrics = {k: v / max(items, 1) for k, v in sums.items()}
                info = StepInfo(step, config.max_steps, position.epoch, loss_value, lr, norm_value, items,
                                items / elapsed if elapsed > 0 else float("inf"),
                                (config.max_steps - step) * step_time, task_metrics)
                if metrics_log is not None:
                    metrics_log.log(step, position.epoch, "train", {
                        "loss": loss_value, "lr": lr, "grad_norm": norm_value, "items_per_s": info.items_per_s,
                        **task_metrics})
                self._call("on_step", info)

                is_best = early_stop = False
                out_of_time = config.max_time_s is not None and time.perf_counter() - started >= config.max_time_s
                last = step == config.max_steps or out_of_time
                every = config.validation.every
                if every and (step % every == 0 or last):
                    last_val = evaluate(self.task, model, device, config.precision)
                    if last_val:
                        if metrics_log is not None:
                            metrics_log.log(step, position.epoch, "val", last_val)
                        self._call("on_validation", step, last_val)
                        value = self._monitored(last_val)
                        plateau.update(value)
                        if self._improved(value, best_value):
                            best_value, best_step, bad_validations, is_best = value, step, 0, True
                        else:
                            bad_validations += 1
                            patience = config.validation.patience
                            early_stop = patience is not None and bad_validations >= patience
                if is_best or early_stop or last or step % config.checkpoint.every == 0:
                    save()
                if early_stop:
                    stopped = "early_stopping"
                    logger.info("early stopping at step %d: %s did not improve for %d validations",
                                step, config.validation.monitor, bad_validations)
                    break
                if out_of_time and step < config.max_steps:
                    stopped = "max_time"
                    logger.info("stopping at step %d: max_time_s=%s reached", step, config.max_time_s)
                    break
                tic = time.perf_counter()  # validation and checkpoint time is not step time
            if stopped == "max_epochs" and checkpoints is not None:
                save()
        except StopTraining as stop:  # raised by a callback after a completed step
            stopped = str(stop) or "callback"
            logger.info("stopping at step %d: %s", step, stopped)
            save()
        except KeyboardInterrupt:
            # Ctrl-C can land inside a step: the checkpoint holds the last completed step, with the data
            # position, carried state and RNG state as they were right after it, so a resumed run continues
            # exactly.
            position, carried, rng = boundary
            optimizer.zero_grad(set_to_none=True)
            stopped = "interrupted"
            logger.warning("interrupted at step %d: saving a checkpoint", step)
            if step > 0:
                save(rng=rng)
        finally:
            if metrics_log is not None:
                metrics_log.close()
        result = FitResult(step, position.epoch, stopped, last_val, best_step, best_value, self.out_dir)
        self._call("on_end", result)
        return result

    # -- helpers -----------------------------------------------------------------------------------------

    def _batches(self, position: _Position) -> Iterator[Any]:
        # batches are deterministic given (seed, epoch): skipping the consumed ones restores the position
        return itertools.islice(iter(self.task.train_batches(position.epoch)), position.batch, None)

    def _call(self, name: str, *args: Any) -> None:
        for callback in self.callbacks:
            method = getattr(callback, name, None)
            if method is not None:
                method(*args)

    def _monitored(self, metrics: dict[str, float]) -> float:
        monitor = self.config.validation.monitor
        if monitor not in metrics:
            raise ValueError(
                f"validation.monitor: expected one of {sorted(metrics)} (what the task's validation reports), "
                f"got {monitor!r}"
            )
        return metrics[monitor]

    def _improved(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        delta = self.config.validation.min_delta
        return value < best - delta if self.config.validation.mode == "min" else value > best + delta

    def _check_compatible(self, model: nn.Module, checkpoint: Any) -> None:
        """Refuse a checkpoint whose tensors do not fit the model; name the config fields that differ."""
        now = flatten(to_dict(self.config))
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

    def _diverged_message(
        self, step: int, loss: float, parameters: list[nn.Parameter], names: dict[int, str], checkpoints: Path | None
    ) -> str:
        if not math.isfinite(loss):
            what = f"the loss is {loss}"
        else:
            bad = [names.get(id(p), "?") for p in parameters
                   if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
            what = f"the gradient of {', '.join(map(repr, bad[:3])) or 'a parameter'} is not finite (loss {loss:.4g})"
        found = list_checkpoints(checkpoints) if checkpoints is not None else []
        kept = f"the last good checkpoint is {found[-1][1]}" if found else "no checkpoint was written yet"
        config = self.config
        return (
            f"step {step}: {what}; training stopped and {kept}. Remedies: a lower learning rate "
            f"(optimizer.lr={config.optimizer.lr:g}, try {config.optimizer.lr / 3:.2g}), gradient clipping "
            f"(clip_norm={config.clip_norm}, try 1.0 or less), a learning-rate warmup (schedule.warmup_steps)"
            + (", or precision: fp32" if config.precision == "bf16" else "")
            + "."
        )
