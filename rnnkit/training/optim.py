"""Optimizers chosen by name, learning-rate schedules as pure functions of the step, gradient clipping.

The schedule is `lr(step) = peak_lr * warmup(step) * decay(step) * plateau_scale`; only the plateau
scale has state (`Plateau`), so resuming needs one float and two counters, not a pickled scheduler.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from rnnkit.training.config import OptimizerConfig, ScheduleConfig

__all__ = ["build_optimizer", "lr_factor", "Plateau", "grad_norm", "clip_gradients", "set_parameter_groups"]


def build_optimizer(parameters: Iterable[nn.Parameter], config: OptimizerConfig) -> torch.optim.Optimizer:
    """Adam, AdamW, SGD (with momentum) or RMSprop as named by `config.name`."""
    params = [p for p in parameters if p.requires_grad]
    if config.name in ("adam", "adamw"):
        # fused: one kernel per parameter for the whole update (measured in docs/performance.md)
        fused = bool(params) and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
        optimizer = torch.optim.Adam if config.name == "adam" else torch.optim.AdamW
        return optimizer(params, lr=config.lr, betas=config.betas, eps=config.eps, weight_decay=config.weight_decay,
                         fused=fused or None)
    if config.name == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=config.lr, momentum=config.momentum, eps=config.eps, weight_decay=config.weight_decay
        )
    raise ValueError(f"optimizer.name: expected 'adam', 'adamw', 'sgd' or 'rmsprop', got {config.name!r}")


def lr_factor(step: int, max_steps: int, config: ScheduleConfig) -> float:
    """The multiplier of the peak lr for optimizer step `step` (0-based), without the plateau scale.

    warmup: (step + 1) / warmup_steps while step < warmup_steps, then 1.
    cosine: min_lr_ratio + (1 - min_lr_ratio) * (1 + cos(pi * p)) / 2, p the progress after warmup in [0, 1].
    step:   gamma ** ((step - warmup_steps) // step_size).
    """
    warmup = config.warmup_steps
    if step < warmup:
        return (step + 1) / warmup
    after = step - warmup
    if config.name == "cosine":
        progress = min(1.0, after / max(1, max_steps - warmup))
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    if config.name == "step":
        return config.gamma ** (after // config.step_size)
    return 1.0  # constant and plateau (whose decay lives in Plateau)


class Plateau:
    """Reduce-on-plateau: multiply `scale` by gamma after `patience` validations without improvement."""

    def __init__(self, config: ScheduleConfig, mode: str, min_delta: float) -> None:
        self.gamma, self.patience, self.mode, self.min_delta = config.gamma, config.patience, mode, min_delta
        self.enabled = config.name == "plateau"
        self.scale, self.best, self.bad = 1.0, None, 0

    def update(self, value: float) -> None:
        if not self.enabled:
            return
        better = self.best is None or (
            value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta
        )
        if better:
            self.best, self.bad = value, 0
            return
        self.bad += 1
        if self.bad > self.patience:
            self.scale *= self.gamma
            self.bad = 0

    def state_dict(self) -> dict:
        return {"scale": self.scale, "best": self.best, "bad": self.bad}

    def load_state_dict(self, state: dict) -> None:
        self.scale, self.best, self.bad = state["scale"], state["best"], state["bad"]


def grad_norm(parameters: list[nn.Parameter]) -> Tensor:
    """The global L2 norm of all gradients as a 0-dim tensor (no device sync); inf/nan if any gradient is."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.nn.utils.get_total_norm(grads)


def clip_gradients(
    parameters: list[nn.Parameter],
    clip_norm: float | None,
    clip_value: float | None,
    *,
    total_norm: Tensor | None = None,
) -> None:
    """Clip gradients in place: first each element to [-clip_value, clip_value], then the global norm.

    Equal to `torch.nn.utils.clip_grad_value_` followed by `torch.nn.utils.clip_grad_norm_`; pass the
    pre-clip `total_norm` (from `grad_norm`) to skip recomputing it when only norm clipping is on.
    """
    grads = [p for p in parameters if p.grad is not None]
    if not grads:
        return
    if clip_value is not None:
        torch.nn.utils.clip_grad_value_(grads, clip_value)
    if clip_norm is not None:
        if clip_value is None and total_norm is not None:
            torch.nn.utils.clip_grads_with_norm_(grads, clip_norm, total_norm)
        else:
            torch.nn.utils.clip_grad_norm_(grads, clip_norm)


def set_parameter_groups(optimizer: torch.optim.Optimizer, groups: list[dict]) -> None:
    """Split a fresh optimizer's parameters into ``groups``, each ``{"params": [...], "lr_scale": s}``.

    The engine sets each group's lr to the schedule's lr times its ``lr_scale`` (default 1), e.g. ULMFiT's
    discriminative learning rates (rnnkit.tasks.transfer). The groups must hold every parameter of the
    optimizer exactly once; other optimizer settings are the optimizer's defaults.
    """
    if any(optimizer.state.values()):
        raise ValueError("parameter_groups: expected an optimizer that has not stepped yet")
    expected = [id(p) for group in optimizer.param_groups for p in group["params"]]
    given = [id(p) for group in groups for p in group["params"] if p.requires_grad]
    if sorted(given) != sorted(expected):
        raise ValueError(f"parameter_groups: expected every trainable parameter exactly once ({len(expected)}), "
                         f"got {len(given)} entries covering {len(set(given) & set(expected))} of them")
    optimizer.param_groups.clear()
    for group in groups:
        params = [p for p in group["params"] if p.requires_grad]
        if params:
            optimizer.add_param_group({"params": params, "lr_scale": float(group.get("lr_scale", 1.0))})
