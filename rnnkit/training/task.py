"""The contract between the training engine and a task (language model, classifier, ...).

The engine owns the loop (optimizer, clipping, checkpoints, validation, resume); a task owns the data
and the model. A task never writes its own training loop.

:class:`Task` is what every task has. The optional hooks are protocols of their own, checked with
``isinstance(task, HasBundle)`` and so on (a hook set to None counts as absent):

* :class:`HasParameterGroups`: ``parameter_groups(model)``, per-group learning-rate scales;
* :class:`HasBundle`: ``bundle_parts()``, what ``rnnkit train`` stores in the run's bundle;
* :class:`HasEvaluation`: ``evaluate(model, split)``, the figures ``rnnkit eval`` prints;
* :class:`HasTokenizer`: ``tokenizer``, the vocabulary the task encodes its data with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from torch import Tensor, nn

__all__ = ["StepOutput", "Task", "HasParameterGroups", "HasBundle", "HasEvaluation", "HasTokenizer"]


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


@runtime_checkable
class HasParameterGroups(Protocol):
    """A task with per-group learning rates (discriminative learning rates, e.g. ``sentiment_transfer``).

    ``parameter_groups(model)`` returns ``[{"params": [...], "lr_scale": float}, ...]`` covering every trainable
    parameter once; the engine sets each group's lr to the schedule's lr times its ``lr_scale``. Tasks without
    it get one group at the full lr."""

    def parameter_groups(self, model: nn.Module) -> list[dict[str, Any]]: ...


@runtime_checkable
class HasBundle(Protocol):
    """A task whose trained model ``rnnkit train`` saves as a bundle (rnnkit.training.run.save_run_bundle).

    ``bundle_parts()`` returns the keyword arguments of ``rnnkit.bundle.save`` besides the model and the task
    name: ``tokenizer``, ``tokenizers``, ``extra`` (label names, scaling statistics, ...)."""

    def bundle_parts(self) -> dict[str, Any]: ...


@runtime_checkable
class HasEvaluation(Protocol):
    """A task that scores a model on one of its splits with its own figures (accuracy, F1, MASE, ...).

    ``evaluate(model, split)`` takes ``split`` in ``"train"``, ``"val"``, ``"test"`` and returns figures by
    name; ``rnnkit eval`` and ``rnnkit.tasks.evaluate_bundle`` call it on the test split."""

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]: ...


@runtime_checkable
class HasTokenizer(Protocol):
    """A task that encodes its text with ``tokenizer`` (an ``rnnkit.text.Tokenizer``, or None when it reads
    numbers); evaluating a bundle checks that the rebuilt task's tokenizer is the bundle's."""

    tokenizer: Any
