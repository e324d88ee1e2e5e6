"""The mutable state of one training run, in one place: what a checkpoint stores besides weights and optimizer.

    state = TrainState()
    ...                                  # the Trainer advances step, epoch, batch, carried, best_*, ...
    checkpoint_state = {"optimizer": ..., "schedule": ..., **state.state_dict()}
    TrainState().load_state_dict(checkpoint_state)   # also restores the RNG states of python, numpy, torch

`state_dict()` keeps the layout of `state.pt` that the Trainer has always written (keys ``rng``, ``data``,
``carried_state``, ``trainer``), plus the step in ``trainer``; a checkpoint written before the step was stored
there gets it from its meta.json (`from_checkpoint`). Timing (the clock of the run in this process) is state
too but is not stored: a resumed run starts its own clock.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = ["TrainState", "rng_state", "set_rng_state"]


def rng_state() -> dict[str, Any]:
    """The RNG states of python, numpy (as a tensor: checkpoints load with weights_only=True), torch and cuda."""
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


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` returned (the cuda states only where a GPU is visible)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy = state["numpy"]
    np.random.set_state(
        (numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"], numpy["gauss"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class TrainState:
    """Where a run stands: counters, data position, best metric, carried TBPTT state, RNG snapshot, clock.

    `completed` is the position, carried state and RNG states right after the last completed optimizer step
    (`mark_completed`); `rewind` goes back to it when Ctrl-C lands inside a step, so that the checkpoint then
    written resumes exactly.
    """

    step: int = 0  # optimizer steps done
    epoch: int = 0
    batch: int = 0  # batches of `epoch` consumed so far
    carried: Any = None  # the detached recurrent state carried between windows (truncated BPTT), or None
    best_value: float | None = None  # the best `validation.monitor` value so far
    best_step: int | None = None
    bad_validations: int = 0  # validations since the best one (early stopping's patience counter)
    last_val: dict[str, float] = field(default_factory=dict)  # the last validation's metrics
    rng: dict[str, Any] | None = field(default=None, repr=False)  # RNG states to store; None: the current ones
    completed: tuple | None = field(default=None, repr=False)  # (epoch, batch, carried, rng) after the last step
    started: float = field(default_factory=time.perf_counter, repr=False)  # the clock of this process's run
    tic: float = field(default_factory=time.perf_counter, repr=False)  # start of the current step's timing
    step_time: float | None = field(default=None, repr=False)  # moving average of seconds per step

    def state_dict(self) -> dict[str, Any]:
        return {
            "rng": rng_state() if self.rng is None else self.rng,
            "data": (self.epoch, self.batch),
            "carried_state": self.carried,
            "trainer": {"step": self.step, "best_value": self.best_value, "best_step": self.best_step,
                        "bad_validations": self.bad_validations, "last_val": self.last_val},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore counters, position and carried state from `state_dict()`'s layout, and set the RNG states."""
        counters = state["trainer"]
        self.step, (self.epoch, self.batch) = int(counters["step"]), state["data"]
        self.best_value, self.best_step = counters["best_value"], counters["best_step"]
        self.bad_validations, self.last_val = counters["bad_validations"], dict(counters["last_val"])
        self.carried, self.rng, self.completed = state["carried_state"], None, None
        set_rng_state(state["rng"])

    @classmethod
    def from_checkpoint(cls, state: dict[str, Any], meta: dict[str, Any]) -> TrainState:
        """The state of a checkpoint's state.pt; its meta.json gives the step where state.pt lacks it (older runs)."""
        trainer = {"step": meta["step"], **state["trainer"]}
        loaded = cls()
        loaded.load_state_dict({**state, "trainer": trainer})
        return loaded

    def mark_completed(self) -> None:
        """Remember the position, carried state and RNG states as they are right after a completed step."""
        self.completed = (self.epoch, self.batch, self.carried, rng_state())

    def rewind(self) -> None:
        """Back to the last completed step (`mark_completed`); `state_dict()` then stores its RNG states."""
        self.epoch, self.batch, self.carried, self.rng = self.completed

    def start_clock(self) -> None:
        self.started = self.tic = time.perf_counter()

    def lap(self) -> float:
        """Seconds since `tic` (the step just done); updates the moving average `step_time` and `tic`."""
        toc = time.perf_counter()
        elapsed, self.tic = toc - self.tic, toc
        self.step_time = elapsed if self.step_time is None else 0.9 * self.step_time + 0.1 * elapsed
        return elapsed
