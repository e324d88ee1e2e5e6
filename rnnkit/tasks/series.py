"""`series`: classify numeric sequences (multivariate, variable length) with a recurrent classifier.

Data (the repository's data/seq_classification, sktime/UEA ``.ts`` files, original train/test splits):

* ``japanese_vowels``: 12 LPC cepstrum coefficients per frame, 7-29 frames; 9 speakers. Train 270, test 370.
* ``italy_power``: 24 hourly demand values (univariate); winter vs summer days. Train 67, test 1,029.

A fixed-seed ``val_fraction`` of the training set (``random.Random(split_seed)``) validates (model selection);
the rest trains; the test split is only scored by ``SeriesTask.evaluate(model, "test")``. Features are
standardised per channel with the training part's mean and standard deviation (stored in the bundle).

    rnnkit train configs/japanese_vowels.yaml --out runs/japanese_vowels
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.config import check
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.tasks.common import ClassBatch, bucketed, chunks, classification_metrics, pad, read_data
from rnnkit.training.registry import register_task
from rnnkit.training.task import StepOutput

__all__ = ["SeriesOptions", "SeriesTask", "SeriesData", "load_series", "read_ts"]

FILES = {"japanese_vowels": "JapaneseVowels", "italy_power": "ItalyPowerDemand"}


class SeriesData(NamedTuple):
    train: list[tuple[Tensor, str]]  # ((T, F) float tensor, label name)
    test: list[tuple[Tensor, str]]


def read_ts(text: str) -> list[tuple[Tensor, str]]:
    """Cases of an sktime/UEA ``.ts`` file: one line per case after ``@data``, dimensions separated by ``:``,
    values by ``,``, the class label last. Returns ((T, F) float32 tensor, label) per case."""
    cases, in_data = [], False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            in_data = line.lower() == "@data"
            continue
        *dimensions, label = line.split(":")
        values = [[float(v) for v in dimension.split(",")] for dimension in dimensions]
        if len({len(v) for v in values}) != 1:
            raise ValueError(f"text: expected dimensions of equal length in each case, got {[len(v) for v in values]}")
        cases.append((torch.tensor(values, dtype=torch.float32).t().contiguous(), label.strip()))  # (T, F)
    return cases


def load_series(dataset: str) -> SeriesData:
    """The train and test cases of "japanese_vowels" or "italy_power"."""
    if dataset not in FILES:
        raise ValueError(f"dataset: expected one of {sorted(FILES)}, got {dataset!r}")
    name = FILES[dataset]
    return SeriesData(*(read_ts(read_data("seq_classification", name, f"{name}_{split}.ts.xz"))
                        for split in ("TRAIN", "TEST")))


def _default_model() -> ClassifierConfig:
    return ClassifierConfig(hidden_size=64, pooling="mean", dropout=0.2)


@dataclass(frozen=True)
class SeriesOptions:
    dataset: Literal["japanese_vowels", "italy_power"] = "japanese_vowels"
    batch_size: int = 16
    val_fraction: float = 0.2  # of the training cases, for model selection
    split_seed: int = 0
    model: ClassifierConfig = field(default_factory=_default_model)

    def __post_init__(self) -> None:
        check(self.batch_size >= 1, "batch_size", "an int >= 1", self.batch_size)
        check(0.0 < self.val_fraction < 1.0, "val_fraction", "a value in (0, 1)", self.val_fraction)


class SeriesTask:
    """The Task for ``series`` (see the module docstring).

    Args:
        options: a :class:`SeriesOptions`.
        seed: the batch order; batches depend only on (seed, epoch).
        data: cases to use instead of loading ``options.dataset`` (tests pass synthetic ones).
    """

    def __init__(self, options: SeriesOptions | None = None, seed: int = 0, *, data: SeriesData | None = None):
        self.options, self.seed = options or SeriesOptions(), seed
        self.data = load_series(self.options.dataset) if data is None else data
        order = list(range(len(self.data.train)))
        random.Random(self.options.split_seed).shuffle(order)
        cut = max(1, round(self.options.val_fraction * len(order)))
        self.val_cases = [self.data.train[i] for i in order[:cut]]
        self.train_cases = [self.data.train[i] for i in order[cut:]]
        if not self.train_cases:
            raise ValueError(f"SeriesTask: expected training cases after the validation split, got "
                             f"{len(self.data.train)} cases and val_fraction={self.options.val_fraction}")
        self.labels = tuple(sorted({label for _, label in self.data.train}, key=_label_key))
        self.label_ids = {label: i for i, label in enumerate(self.labels)}
        frames = torch.cat([series for series, _ in self.train_cases])  # (sum T, F)
        self.mean, self.std = frames.mean(0), frames.std(0).clamp_min(1e-6)
        self.model_config = dataclasses.replace(self.options.model, vocab_size=None, input_size=frames.size(1),
                                                num_classes=len(self.labels))

    def _batch(self, cases: Sequence[tuple[Tensor, str]]) -> ClassBatch:
        inputs, lengths = pad([(series - self.mean) / self.std for series, _ in cases])
        labels = torch.tensor([self.label_ids.get(label, -100) for _, label in cases], dtype=torch.long)
        return ClassBatch(inputs, lengths, labels)

    def build_model(self) -> nn.Module:
        return SequenceClassifier(self.model_config)

    def train_batches(self, epoch: int) -> Iterator[ClassBatch]:
        order = bucketed([len(series) for series, _ in self.train_cases], self.options.batch_size, self.seed, epoch)
        return (self._batch([self.train_cases[i] for i in index]) for index in order)

    def val_batches(self) -> Iterator[ClassBatch]:
        return iter([self._batch(self.val_cases)])

    def step(self, model: nn.Module, batch: Any, state: Any) -> StepOutput:
        logits = model(batch.inputs, batch.lengths)
        loss = F.cross_entropy(logits, batch.labels)
        metrics = {} if model.training else classification_metrics(logits.argmax(-1), batch.labels, len(self.labels))
        return StepOutput(loss=loss, count=batch.labels.numel(), metrics=metrics)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str = "test") -> dict[str, float]:
        """Accuracy and macro-F1 of ``model`` on "train", "val" or "test"."""
        cases = {"train": self.train_cases, "val": self.val_cases, "test": self.data.test}.get(split)
        if cases is None:
            raise ValueError(f"split: expected 'train', 'val' or 'test', got {split!r}")
        was_training = model.training
        model.eval()
        predicted, gold = [], []
        for index in chunks(len(cases), 512):
            batch = self._batch([cases[i] for i in index])
            predicted.append(model(batch.inputs, batch.lengths).argmax(-1))
            gold.append(batch.labels)
        model.train(was_training)
        return {**classification_metrics(torch.cat(predicted), torch.cat(gold), len(self.labels)),
                "examples": float(len(cases))}

    def bundle_parts(self) -> dict[str, Any]:
        """What `rnnkit train` stores in the run's bundle besides the weights (see rnnkit.training.run)."""
        return {"extra": {"labels": list(self.labels), "mean": self.mean.tolist(), "std": self.std.tolist()}}


def _label_key(label: str) -> tuple[int, Any]:
    return (0, int(label)) if label.lstrip("-").isdigit() else (1, label)


def make_series(options: SeriesOptions, seed: int) -> SeriesTask:
    return SeriesTask(options, seed)


register_task("series", make_series, options=SeriesOptions)
