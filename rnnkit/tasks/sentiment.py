"""`sentiment`: sentence/review polarity with a BiLSTM/BiGRU classifier (rnnkit.models.classifier).

Data (the repository's data/sentiment, see its README):

* ``sst2``: SST-2 as GLUE distributes it, word level (lower-cased, tokenised). A fixed-seed 2% of the 67,349
  training rows validates; the labelled GLUE dev set (872 sentences) is the test set, as usual, since the
  GLUE test labels are hidden.
* ``chnsenticorp``: ChnSentiCorp hotel reviews (7,765 non-empty), character level, no official split:
  ``random.Random(split_seed)`` shuffles them into 80% train / 10% validation / 10% test.

Validation is one batch holding the whole validation split, so the engine's ``val_accuracy`` and
``val_macro_f1`` are exact (macro-F1 does not average over batches). ``SentimentTask.evaluate(model, split)``
scores any split; ``rnnkit.tasks.evaluate_bundle`` does it for a trained bundle.

    rnnkit train configs/sst2.yaml --out runs/sst2
    rnnkit predict runs/sst2/bundle "a gorgeous , witty , seductive movie ."
"""

from __future__ import annotations

import csv
import dataclasses
import io
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.config import check
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.tasks.common import ClassBatch, bucketed, chunks, classification_metrics, pad, read_data
from rnnkit.text.tokenizer import Tokenizer
from rnnkit.training.registry import register_task
from rnnkit.training.task import StepOutput

__all__ = ["SentimentOptions", "SentimentTask", "SentimentData", "load_sentiment"]

LABELS = ("negative", "positive")


class Example(NamedTuple):
    text: str
    label: int


class SentimentData(NamedTuple):
    train: list[Example]
    val: list[Example]
    test: list[Example]
    level: str  # tokenizer level: "word" or "char"
    lowercase: bool


def _sst2(split_seed: int) -> SentimentData:
    def rows(name: str) -> list[Example]:
        reader = csv.reader(io.StringIO(read_data("sentiment", "sst2", name)), delimiter="\t",
                            quoting=csv.QUOTE_NONE)
        next(reader)  # header: sentence, label
        return [Example(sentence.strip(), int(label)) for sentence, label in reader]

    train = rows("train.tsv.xz")
    order = list(range(len(train)))
    random.Random(split_seed).shuffle(order)
    cut = len(train) // 50  # 2% validates
    return SentimentData([train[i] for i in order[cut:]], [train[i] for i in order[:cut]], rows("dev.tsv.xz"),
                         "word", True)


def _chnsenticorp(split_seed: int) -> SentimentData:
    reader = csv.reader(io.StringIO(read_data("sentiment", "chnsenticorp_htl", "ChnSentiCorp_htl_all.csv.xz")))
    next(reader)  # header: label, review
    examples = [Example(review.strip(), int(label)) for label, review in reader if review.strip()]
    random.Random(split_seed).shuffle(examples)
    a, b = int(0.8 * len(examples)), int(0.9 * len(examples))
    return SentimentData(examples[:a], examples[a:b], examples[b:], "char", False)


DATASETS = {"sst2": _sst2, "chnsenticorp": _chnsenticorp}


def load_sentiment(dataset: str, split_seed: int = 0) -> SentimentData:
    """The (train, val, test) examples of ``dataset`` ("sst2" or "chnsenticorp"), split as the module says."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset: expected one of {sorted(DATASETS)}, got {dataset!r}")
    return DATASETS[dataset](split_seed)


def _default_model() -> ClassifierConfig:
    return ClassifierConfig(embedding_size=128, hidden_size=128, pooling="max", dropout=0.3)


@dataclass(frozen=True)
class SentimentOptions:
    dataset: Literal["sst2", "chnsenticorp"] = "sst2"
    batch_size: int = 64
    eval_batch_size: int = 512  # for evaluate(); validation is always one batch (exact macro-F1)
    split_seed: int = 0  # the fixed-seed split (see the module docstring)
    min_count: int = 2  # tokens seen fewer times in training become <unk>
    max_length: int = 200  # tokens (characters for chnsenticorp) kept from the start of each text
    train_size: int | None = None  # use only this many training examples (the first after the split's shuffle)
    model: ClassifierConfig = field(default_factory=_default_model)

    def __post_init__(self) -> None:
        for name in ("batch_size", "eval_batch_size", "min_count", "max_length"):
            check(getattr(self, name) >= 1, name, "an int >= 1", getattr(self, name))
        check(self.train_size is None or self.train_size >= 1, "train_size", "None or an int >= 1", self.train_size)


class SentimentTask:
    """The Task for ``sentiment`` (see the module docstring).

    Args:
        options: a :class:`SentimentOptions`.
        seed: the batch order; batches depend only on (seed, epoch).
        data: the examples to use instead of loading ``options.dataset`` (tests pass tiny slices).
    """

    def __init__(self, options: SentimentOptions | None = None, seed: int = 0, *, data: SentimentData | None = None):
        self.options, self.seed = options or SentimentOptions(), seed
        self.data = load_sentiment(self.options.dataset, self.options.split_seed) if data is None else data
        train = self.data.train[: self.options.train_size] if self.options.train_size else self.data.train
        if not train or not self.data.val:
            raise ValueError(f"SentimentTask: expected training and validation examples, got {len(train)} and "
                             f"{len(self.data.val)}")
        self.train_examples = train
        self.tokenizer = self.build_tokenizer([example.text for example in train])
        self.model_config = dataclasses.replace(self.options.model, vocab_size=len(self.tokenizer), input_size=None,
                                                num_classes=len(LABELS))
        self.train_ids = self.encode(train)
        self.val_ids = self.encode(self.data.val)

    def build_tokenizer(self, texts: Sequence[str]) -> Tokenizer:
        texts = [self.normalize(text) for text in texts]
        return Tokenizer.build(texts, level=self.data.level, min_count=self.options.min_count)

    def normalize(self, text: str) -> str:
        return text.lower() if self.data.lowercase else text

    def encode(self, examples: Sequence[Example]) -> list[list[int]]:
        """Token ids of each text, cut to max_length; an empty text becomes one <unk>."""
        limit = self.options.max_length
        return [self.tokenizer.encode(self.normalize(e.text))[:limit] or [self.tokenizer.unk_id] for e in examples]

    def build_model(self) -> nn.Module:
        return SequenceClassifier(self.model_config)

    def _batch(self, ids: list[list[int]], examples: Sequence[Example], index: list[int]) -> ClassBatch:
        inputs, lengths = pad([ids[i] for i in index])
        return ClassBatch(inputs, lengths, torch.tensor([examples[i].label for i in index], dtype=torch.long))

    def train_batches(self, epoch: int) -> Iterator[ClassBatch]:
        order = bucketed([len(row) for row in self.train_ids], self.options.batch_size, self.seed, epoch)
        return (self._batch(self.train_ids, self.train_examples, index) for index in order)

    def val_batches(self) -> Iterator[ClassBatch]:
        return iter([self._batch(self.val_ids, self.data.val, list(range(len(self.val_ids))))])

    def step(self, model: nn.Module, batch: Any, state: Any) -> StepOutput:
        logits = model(batch.inputs, batch.lengths)  # (B, C)
        loss = F.cross_entropy(logits, batch.labels)
        metrics = {} if model.training else classification_metrics(logits.argmax(-1), batch.labels, len(LABELS))
        return StepOutput(loss=loss, count=batch.labels.numel(), metrics=metrics)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str = "test") -> dict[str, float]:
        """Accuracy and macro-F1 of ``model`` on "train", "val" or "test", over the whole split."""
        examples = {"train": self.train_examples, "val": self.data.val, "test": self.data.test}.get(split)
        if examples is None:
            raise ValueError(f"split: expected 'train', 'val' or 'test', got {split!r}")
        ids = self.encode(examples)
        was_training = model.training
        model.eval()
        predicted, gold = [], []
        for index in chunks(len(ids), self.options.eval_batch_size):
            batch = self._batch(ids, examples, index)
            predicted.append(model(batch.inputs, batch.lengths).argmax(-1))
            gold.append(batch.labels)
        model.train(was_training)
        return {**classification_metrics(torch.cat(predicted), torch.cat(gold), len(LABELS)),
                "examples": float(len(ids))}

    def bundle_parts(self) -> dict[str, Any]:
        """What `rnnkit train` stores in the run's bundle besides the weights (see rnnkit.training.run)."""
        return {"tokenizer": self.tokenizer,
                "extra": {"labels": list(LABELS), "lowercase": self.data.lowercase,
                          "max_length": self.options.max_length}}


def make_sentiment(options: SentimentOptions, seed: int) -> SentimentTask:
    return SentimentTask(options, seed)


register_task("sentiment", make_sentiment, options=SentimentOptions)
