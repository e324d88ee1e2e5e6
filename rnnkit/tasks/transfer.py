"""Transfer from a language model to the sentiment classifier, ULMFiT-style (Howard & Ruder 2018,
arXiv:1801.06146): pretrain a word-level LSTM language model on unlabelled text, then fine-tune it as the
encoder of the classifier on a small labelled set, with

* discriminative learning rates (§3.2): parameter group l (embedding, LSTM layer 0, ..., head) learns at
  lr / lr_decay ** (top - l), lr_decay = 2.6 as in the paper: lower layers hold general features and move less;
* gradual unfreezing (§3.3): in epoch 0 only the head trains, each further epoch unfreezes the next group down,
  until all train;
* concat pooling (§3.3): [last state; max; mean] over the valid steps (ClassifierConfig.pooling="concat").

Two tasks:

* ``sentence_lm``: the language model on SST-2's training sentences used as unlabelled text (labels ignored;
  the 2% validation rows of the sentiment split validate it, the sentiment test set is never seen).
* ``sentiment_transfer``: the ``sentiment`` task (rnnkit.tasks.sentiment) on ``train_size`` labelled examples,
  whose encoder starts from the language model bundle ``pretrained`` (its tokenizer and sizes), or from
  scratch with ``pretrained: null`` (the baseline, same network, vocabulary from the labelled examples).

The engine hook used: a task may define ``parameter_groups(model)`` (see rnnkit.training.task); gradual
unfreezing needs no hook (the epoch travels in each batch; frozen parameters get requires_grad=False for the
step, so they have no gradient and the optimizer skips them).

    rnnkit train configs/sst2_lm.yaml --out runs/sst2_lm
    rnnkit train configs/sst2_transfer.yaml --out runs/sst2_transfer
    rnnkit train configs/sst2_transfer.yaml --set task_options.pretrained=null --out runs/sst2_scratch
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from torch import Tensor, nn

from rnnkit.config import check
from rnnkit.models.classifier import ClassifierConfig
from rnnkit.models.lm import LanguageModel, LanguageModelConfig, sequence_nll
from rnnkit.tasks.common import bucketed, pad
from rnnkit.tasks.sentiment import SentimentOptions, SentimentTask, load_sentiment
from rnnkit.text.tokenizer import Tokenizer
from rnnkit.training.registry import register_task
from rnnkit.training.task import StepOutput

__all__ = ["SentenceLMOptions", "SentenceLMTask", "TransferOptions", "TransferTask", "layer_groups"]


# -- pretraining ----------------------------------------------------------------------------------------


def _default_lm() -> LanguageModelConfig:
    return LanguageModelConfig(embedding_size=200, hidden_size=256, num_layers=1, adaptive_cutoffs=(2000,))


@dataclass(frozen=True)
class SentenceLMOptions:
    dataset: Literal["sst2"] = "sst2"
    split_seed: int = 0  # the sentiment task's split: its validation rows validate the language model
    batch_size: int = 64
    min_count: int = 2
    max_length: int = 64  # words per sentence
    max_sentences: int | None = None  # use only the first N training sentences (None: all)
    model: LanguageModelConfig = field(default_factory=_default_lm)

    def __post_init__(self) -> None:
        for name in ("batch_size", "min_count", "max_length"):
            check(getattr(self, name) >= 1, name, "an int >= 1", getattr(self, name))
        check(self.max_sentences is None or self.max_sentences >= 1, "max_sentences", "None or an int >= 1",
              self.max_sentences)


class LMBatch(NamedTuple):
    inputs: Tensor  # (B, T) <s> w_1 .. w_n
    targets: Tensor  # (B, T) w_1 .. w_n </s>
    lengths: Tensor  # (B,) n + 1


class SentenceLMTask:
    """The Task for ``sentence_lm``: a word-level language model, one sentence per row (see the module docstring)."""

    def __init__(self, options: SentenceLMOptions | None = None, seed: int = 0, *,
                 texts: tuple[list[str], list[str]] | None = None):
        self.options, self.seed = options or SentenceLMOptions(), seed
        if texts is None:
            data = load_sentiment(self.options.dataset, self.options.split_seed)
            texts = ([e.text.lower() for e in data.train], [e.text.lower() for e in data.val])
        train, val = texts
        train = train[: self.options.max_sentences] if self.options.max_sentences else train
        if not train or not val:
            raise ValueError(f"SentenceLMTask: expected training and validation texts, got {len(train)} and {len(val)}")
        self.tokenizer = Tokenizer.build(train, level="word", min_count=self.options.min_count)
        self.model_config = dataclasses.replace(self.options.model, vocab_size=len(self.tokenizer))
        self.train_ids = [self._ids(text) for text in train]
        self.val_ids = [self._ids(text) for text in val]

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)[: self.options.max_length]

    def _batch(self, rows: list[list[int]]) -> LMBatch:
        start, end = self.tokenizer.start_id, self.tokenizer.end_id
        inputs, lengths = pad([[start, *row] for row in rows])
        targets, _ = pad([[*row, end] for row in rows])
        return LMBatch(inputs, targets, lengths)

    def build_model(self) -> nn.Module:
        return LanguageModel(self.model_config)

    def train_batches(self, epoch: int) -> Iterator[LMBatch]:
        order = bucketed([len(row) for row in self.train_ids], self.options.batch_size, self.seed, epoch)
        return (self._batch([self.train_ids[i] for i in index]) for index in order)

    def val_batches(self) -> Iterator[LMBatch]:
        size = 256
        return (self._batch(self.val_ids[i : i + size]) for i in range(0, len(self.val_ids), size))

    def step(self, model: nn.Module, batch: Any, state: Any) -> StepOutput:
        total, count, _ = sequence_nll(model, batch.inputs, batch.targets, batch.lengths)
        return StepOutput(loss=total / count, count=int(count))

    def bundle_parts(self) -> dict[str, Any]:
        return {"tokenizer": self.tokenizer, "extra": {"lowercase": True}}


# -- fine-tuning ----------------------------------------------------------------------------------------


def layer_groups(model: nn.Module) -> list[list[nn.Parameter]]:
    """ULMFiT's layer groups of a SequenceClassifier, bottom to top: [embedding], [recurrent layer 0 (both
    directions)], ..., [recurrent layer L-1], [attention and head]. Every trainable parameter is in one group."""
    layers = model.config.num_layers
    groups: list[list[nn.Parameter]] = [[] for _ in range(layers + 2)]
    for name, parameter in model.named_parameters():
        if name.startswith("embedding."):
            groups[0].append(parameter)
        elif name.startswith("rnn."):
            layer = int(name.split("_l")[-1].split("_")[0])  # weight_ih_l1_reverse -> 1
            groups[1 + layer].append(parameter)
        else:
            groups[-1].append(parameter)
    return [group for group in groups if group]


class TransferBatch(NamedTuple):
    inputs: Tensor
    lengths: Tensor
    labels: Tensor
    frozen: int  # the lowest `frozen` layer groups do not train in this batch (gradual unfreezing)


def _default_classifier() -> ClassifierConfig:
    return ClassifierConfig(embedding_size=200, hidden_size=256, bidirectional=False, pooling="concat", dropout=0.3)


@dataclass(frozen=True)
class TransferOptions(SentimentOptions):
    pretrained: str | None = "runs/sst2_lm/bundle"  # a sentence_lm bundle; None: train from scratch
    lr_decay: float = 2.6  # discriminative learning rates: each group down learns lr_decay times slower; 1 = off
    gradual_unfreezing: bool = True  # epoch e trains the top e + 1 groups
    train_size: int | None = 500
    model: ClassifierConfig = field(default_factory=_default_classifier)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.lr_decay >= 1.0, "lr_decay", "a value >= 1 (1 disables discriminative learning rates)",
              self.lr_decay)


class TransferTask(SentimentTask):
    """The Task for ``sentiment_transfer`` (see the module docstring)."""

    def __init__(self, options: TransferOptions | None = None, seed: int = 0, **kwargs: Any):
        options = options or TransferOptions()
        self.language_model = None
        if options.pretrained is not None:
            from rnnkit.bundle import load

            self.language_model = load(options.pretrained)
            if not isinstance(self.language_model.model, LanguageModel):
                raise ValueError(f"pretrained: expected a language model bundle, got kind "
                                 f"{self.language_model.info.get('kind')!r} at {options.pretrained}")
        super().__init__(options, seed, **kwargs)
        if self.language_model is not None:
            lm = self.language_model.model.config
            if lm.cell not in ("lstm", "gru"):
                raise ValueError(f"pretrained: expected a language model with cell 'lstm' or 'gru', got {lm.cell!r}")
            self.model_config = dataclasses.replace(
                self.model_config, embedding_size=lm.embedding_size, hidden_size=lm.hidden_size,
                num_layers=lm.num_layers, cell=lm.cell, bidirectional=False)

    def build_tokenizer(self, texts: list[str]) -> Tokenizer:
        if self.language_model is not None:
            return self.language_model.tokenizer  # the pretrained embedding rows follow its ids
        return super().build_tokenizer(texts)

    def build_model(self) -> nn.Module:
        model = super().build_model()
        if self.language_model is not None:
            model.load_encoder(self.language_model.model)
        return model

    def parameter_groups(self, model: nn.Module) -> list[dict[str, Any]]:
        """Discriminative learning rates: group l of L scales the lr by lr_decay ** -(L - 1 - l)."""
        groups = layer_groups(model)
        top = len(groups) - 1
        return [{"params": group, "lr_scale": self.options.lr_decay ** -(top - index)}
                for index, group in enumerate(groups)]

    def train_batches(self, epoch: int) -> Iterator[TransferBatch]:
        groups = self.model_config.num_layers + 2
        frozen = max(0, groups - 1 - epoch) if self.options.gradual_unfreezing else 0
        return (TransferBatch(*batch, frozen) for batch in super().train_batches(epoch))

    def step(self, model: nn.Module, batch: Any, state: Any) -> StepOutput:
        if model.training and isinstance(batch, TransferBatch):
            for index, group in enumerate(layer_groups(model)):
                for parameter in group:
                    parameter.requires_grad_(index >= batch.frozen)
        return super().step(model, batch, state)


def make_sentence_lm(options: SentenceLMOptions, seed: int) -> SentenceLMTask:
    return SentenceLMTask(options, seed)


def make_transfer(options: TransferOptions, seed: int) -> TransferTask:
    return TransferTask(options, seed)


register_task("sentence_lm", make_sentence_lm, options=SentenceLMOptions)
register_task("sentiment_transfer", make_transfer, options=TransferOptions)
