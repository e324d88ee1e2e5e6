"""The run configuration: what `rnnkit train CONFIG.yaml` reads (see docs/training.md for a reference).

A run config names its task by plain string (`task: toy_lm`) and passes `task_options:` through to the
task's own options dataclass (validated by `rnnkit.training.registry.build_task`). Everything else is
the engine's: optimizer, schedule, clipping, checkpoints, validation, seeds, device, precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from rnnkit.config import check


@dataclass(frozen=True)
class OptimizerConfig:
    name: Literal["adam", "adamw", "sgd", "rmsprop"] = "adamw"
    lr: float = 1e-3  # peak learning rate (after warmup)
    weight_decay: float = 0.0  # decoupled for adamw, L2 for the others
    momentum: float = 0.9  # sgd and rmsprop only
    betas: tuple[float, float] = (0.9, 0.999)  # adam and adamw only
    eps: float = 1e-8  # adam, adamw, rmsprop

    def __post_init__(self) -> None:
        check(self.lr > 0, "lr", "a value > 0", self.lr)
        check(self.weight_decay >= 0, "weight_decay", "a value >= 0", self.weight_decay)
        check(0 <= self.momentum < 1, "momentum", "a value in [0, 1)", self.momentum)
        check(all(0 <= b < 1 for b in self.betas), "betas", "two values in [0, 1)", self.betas)
        check(self.eps > 0, "eps", "a value > 0", self.eps)


@dataclass(frozen=True)
class ScheduleConfig:
    name: Literal["constant", "cosine", "step", "plateau"] = "constant"
    warmup_steps: int = 0  # linear warmup from lr/warmup_steps to lr; applies to every schedule
    min_lr_ratio: float = 0.0  # cosine: the lr at max_steps, as a fraction of the peak lr
    step_size: int = 1000  # step: multiply the lr by gamma every step_size steps
    gamma: float = 0.1  # step and plateau: the factor applied at each decay
    patience: int = 2  # plateau: validations without improvement of `monitor` before decaying

    def __post_init__(self) -> None:
        check(self.warmup_steps >= 0, "warmup_steps", "an integer >= 0", self.warmup_steps)
        check(0 <= self.min_lr_ratio <= 1, "min_lr_ratio", "a value in [0, 1]", self.min_lr_ratio)
        check(self.step_size >= 1, "step_size", "an integer >= 1", self.step_size)
        check(0 < self.gamma <= 1, "gamma", "a value in (0, 1]", self.gamma)
        check(self.patience >= 0, "patience", "an integer >= 0", self.patience)


@dataclass(frozen=True)
class CheckpointConfig:
    every: int = 100  # steps between checkpoints; the last step is always saved
    keep_last: int = 3  # newest checkpoints kept on disk (the best one is kept in addition)

    def __post_init__(self) -> None:
        check(self.every >= 1, "every", "an integer >= 1", self.every)
        check(self.keep_last >= 1, "keep_last", "an integer >= 1", self.keep_last)


@dataclass(frozen=True)
class ValidationConfig:
    every: int = 100  # steps between validations (and at the last step); 0 disables validation
    monitor: str = "val_loss"  # metric choosing the best checkpoint, early stopping and plateau decay
    mode: Literal["min", "max"] = "min"
    patience: int | None = None  # early stopping: validations without improvement; None never stops
    min_delta: float = 0.0  # an improvement must beat the best by more than this

    def __post_init__(self) -> None:
        check(self.every >= 0, "every", "an integer >= 0", self.every)
        check(self.monitor.startswith("val_"), "monitor", "a validation metric named 'val_...'", self.monitor)
        check(self.patience is None or self.patience >= 1, "patience", "null or an integer >= 1", self.patience)
        check(self.min_delta >= 0, "min_delta", "a value >= 0", self.min_delta)


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run needs; the YAML file is this, key for key."""

    task: str = "toy_lm"  # a name registered with rnnkit.training.registry.register_task
    task_options: dict[str, Any] = field(default_factory=dict)  # validated by the task's options class
    seed: int = 0  # seeds python, numpy and torch (and the task's data order)
    deterministic: bool = False  # torch.use_deterministic_algorithms(True); needed for bitwise resume
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: cuda when available, else cpu
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: autocast the task's step to bfloat16
    max_steps: int = 1000  # optimizer steps
    max_epochs: int | None = None  # stop earlier after this many passes over train_batches
    max_time_s: float | None = None  # stop earlier after this many seconds of training in this process
    grad_accum: int = 1  # batches whose gradients are averaged into one optimizer step
    clip_norm: float | None = 1.0  # clip the global gradient norm to this; null disables
    clip_value: float | None = None  # clip each gradient element to [-v, v]; null disables
    log_every: int = 10  # steps between plain log lines (metrics.csv gets every step)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)

    def __post_init__(self) -> None:
        check(bool(self.task), "task", "a registered task name", self.task)
        check(self.seed >= 0, "seed", "an integer >= 0", self.seed)
        check(self.max_steps >= 1, "max_steps", "an integer >= 1", self.max_steps)
        check(self.max_epochs is None or self.max_epochs >= 1, "max_epochs", "null or an integer >= 1", self.max_epochs)
        check(self.max_time_s is None or self.max_time_s > 0, "max_time_s", "null or seconds > 0", self.max_time_s)
        check(self.grad_accum >= 1, "grad_accum", "an integer >= 1", self.grad_accum)
        check(self.clip_norm is None or self.clip_norm > 0, "clip_norm", "null or a value > 0", self.clip_norm)
        check(self.clip_value is None or self.clip_value > 0, "clip_value", "null or a value > 0", self.clip_value)
        check(self.log_every >= 1, "log_every", "an integer >= 1", self.log_every)
