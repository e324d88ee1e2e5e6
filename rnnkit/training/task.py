"""The contract between the training engine and a task (language model, classifier, ...).

The engine owns the loop (optimizer, clipping, checkpoints, validation, resume); a task owns the data
and the model. A task never writes its own training loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from torch import Tensor, nn


@dataclass
class StepOutput:
    """What a task returns for one batch."""

    loss: Tensor  # scalar, the mean loss over `count` items; the engine calls backward on it
    count: int  # items the loss averages over (tokens, samples): weights validation means
    state: Any = None  # recurrent state to carry to the next window (stateful TBPTT); None when stateless
    metrics: dict[str, float] = field(default_factory=dict)  # extra numbers to log (summed * count)


class Task(Protocol):
    """A trainable problem. Batches must be deterministic given (seed, epoch) so a resumed run
    that skips the first k batches of an epoch sees exactly what the uninterrupted run saw."""

    def build_model(self) -> nn.Module: ...

    def train_batches(self, epoch: int) -> Iterable[Any]: ...

    def val_batches(self) -> Iterable[Any]: ...

    def step(self, model: nn.Module, batch: Any, state: Any) -> StepOutput: ...

    # Optional: `parameter_groups(model) -> [{"params": [...], "lr_scale": float}, ...]` covering every trainable
    # parameter once; the engine then sets each group's lr to the schedule's lr times its lr_scale
    # (discriminative learning rates, rnnkit.tasks.transfer). Tasks without it get one group at the full lr.
