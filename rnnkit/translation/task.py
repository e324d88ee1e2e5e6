"""The ``translation`` task: an encoder-decoder (rnnkit.models.seq2seq) trained with teacher forcing.

Each pair becomes one row of a padded batch (rows of similar source length are batched together)::

    source           i    am   cold  .     <pad>            (B, S), with source_lengths (B,)
    target inputs    <s>  j'ai froid .                       (B, T)
    target outputs   j'ai froid .    </s>                    (B, T), <pad> past each row's length

The loss is the cross-entropy of every target output token (``<pad>`` ignored), with optional label
smoothing (Szegedy et al. 2016, arXiv:1512.00567, section 7) in training; validation reports the plain
cross-entropy (nats per target token), token accuracy and sentence exact match of greedy decoding.
``sampling_ratio`` > 0 turns on scheduled sampling (Bengio et al. 2015, arXiv:1506.03099) at a constant
ratio: each decoder input after the first is the model's own sampled token with that probability.

Corpora: ``eng_fra``, ``fra_eng``, ``eng_cmn``, ``cmn_eng`` and the toy ``reverse`` / ``sort`` digit
tasks (rnnkit.translation.data). ``rnnkit train configs/translation/eng_fra.yaml`` writes a bundle with
the source tokenizer and the target one (``tokenizer.target.json``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_sequence

from rnnkit.config import check
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.sequences import BucketBatchSampler
from rnnkit.text.tokenizer import Tokenizer
from rnnkit.training.registry import register_task
from rnnkit.training.task import StepOutput
from rnnkit.translation.data import (
    CORPORA,
    LANGUAGES,
    TOY_TASKS,
    SentencePair,
    Split,
    load_pairs,
    normalize,
    split_pairs,
    tokenizer_level,
    toy_pairs,
)

__all__ = ["TranslationBatch", "TranslationOptions", "TranslationTask", "make_batches"]


@dataclass(frozen=True)
class TranslationOptions:
    corpus: str = "eng_fra"  # eng_fra | fra_eng | eng_cmn | cmn_eng | reverse | sort (toy)
    max_source_tokens: int | None = 10  # keep pairs whose source has at most this many tokens; null: all
    max_target_tokens: int | None = 10  # likewise for the target
    max_source_vocab: int | None = 8000  # regular source tokens kept (the most frequent); null: all
    max_target_vocab: int | None = 8000
    min_count: int = 2  # tokens seen fewer times in training become <unk>
    val_size: int = 500  # pairs for the validation loss
    test_size: int = 1000  # held-out pairs for BLEU/chrF (rnnkit eval)
    split_seed: int = 0  # random.Random(split_seed) deals the sources to test/val/train
    batch_size: int = 64
    val_batch_size: int = 500  # one validation batch: val_exact_match is then exactly the sentence mean
    label_smoothing: float = 0.0  # training loss only
    sampling_ratio: float = 0.0  # scheduled sampling: P(feed the model's own token), training only
    toy_train_size: int = 20000  # toy tasks: training strings (validation and test: val_size, test_size)
    toy_min_length: int = 3  # toy tasks: digits per string
    toy_max_length: int = 8
    model: Seq2SeqConfig = field(default_factory=Seq2SeqConfig)

    def __post_init__(self) -> None:
        check(self.corpus in CORPORA, "corpus", f"one of {CORPORA}", self.corpus)
        for name in ("max_source_tokens", "max_target_tokens", "max_source_vocab", "max_target_vocab"):
            value = getattr(self, name)
            check(value is None or value >= 1, name, "null or an integer >= 1", value)
        for name in ("min_count", "val_size", "test_size", "batch_size", "val_batch_size", "toy_train_size",
                     "toy_min_length"):
            check(getattr(self, name) >= 1, name, "an integer >= 1", getattr(self, name))
        check(self.toy_max_length >= self.toy_min_length, "toy_max_length", f">= toy_min_length "
              f"({self.toy_min_length})", self.toy_max_length)
        check(0.0 <= self.label_smoothing < 1.0, "label_smoothing", "a value in [0, 1)", self.label_smoothing)
        check(0.0 <= self.sampling_ratio <= 1.0, "sampling_ratio", "a value in [0, 1]", self.sampling_ratio)


class TranslationBatch(NamedTuple):
    source: Tensor  # (B, S) long, <pad> past source_lengths
    source_lengths: Tensor  # (B,) int64, CPU
    target_inputs: Tensor  # (B, T): <s> then the target
    target_outputs: Tensor  # (B, T): the target then </s>, <pad> after


def make_batches(pairs: Sequence[tuple[list[int], list[int]]], order: Sequence[Sequence[int]],
                 target: Tokenizer) -> list[TranslationBatch]:
    """Token-id pairs (without specials) and batches of indices -> padded :class:`TranslationBatch` es."""
    batches = []
    for indices in order:
        sources = [torch.tensor(pairs[i][0], dtype=torch.long) for i in indices]
        inputs = [torch.tensor([target.start_id, *pairs[i][1]], dtype=torch.long) for i in indices]
        outputs = [torch.tensor([*pairs[i][1], target.end_id], dtype=torch.long) for i in indices]
        batches.append(TranslationBatch(
            pad_sequence(sources, batch_first=True, padding_value=0),
            torch.tensor([len(s) for s in sources], dtype=torch.long),
            pad_sequence(inputs, batch_first=True, padding_value=target.pad_id),
            pad_sequence(outputs, batch_first=True, padding_value=target.pad_id),
        ))
    return batches


class TranslationTask:
    """The Task for ``translation`` (see the module docstring).

    Args:
        options: a :class:`TranslationOptions`.
        seed: the batch order; batches depend only on (seed, epoch).
        split: the (train, val, test) pairs; by default loaded and split as ``options`` says.
    """

    def __init__(self, options: TranslationOptions | None = None, seed: int = 0, *, split: Split | None = None):
        self.options, self.seed = options or TranslationOptions(), seed
        self.source_language, self.target_language = LANGUAGES[self.options.corpus]
        self.split = load_split(self.options) if split is None else split
        train = self.split.train
        self.source_tokenizer = Tokenizer.build(
            [normalize(p.source, self.source_language) for p in train], level=tokenizer_level(self.source_language),
            min_count=self.options.min_count, max_size=self.options.max_source_vocab)
        self.target_tokenizer = Tokenizer.build(
            [normalize(p.target, self.target_language) for p in train], level=tokenizer_level(self.target_language),
            min_count=self.options.min_count, max_size=self.options.max_target_vocab)
        self.model_config = dataclasses.replace(self.options.model, source_vocab_size=len(self.source_tokenizer),
                                                target_vocab_size=len(self.target_tokenizer))
        self.train_ids = self.encode(train)
        self._val_batches = make_batches(self.encode(self.split.val), _chunks(len(self.split.val),
                                                                              self.options.val_batch_size),
                                         self.target_tokenizer)

    @property
    def tokenizer(self) -> Tokenizer:
        """The source tokenizer (the bundle's ``tokenizer.json``)."""
        return self.source_tokenizer

    def encode(self, pairs: Sequence[SentencePair]) -> list[tuple[list[int], list[int]]]:
        """Normalised, tokenised pairs; an empty side becomes one <unk> so every row has a length >= 1."""
        encoded = []
        for pair in pairs:
            source = self.source_tokenizer.encode(normalize(pair.source, self.source_language))
            target = self.target_tokenizer.encode(normalize(pair.target, self.target_language))
            encoded.append((source or [self.source_tokenizer.unk_id], target))
        return encoded

    def build_model(self) -> nn.Module:
        return Seq2Seq(self.model_config)

    def train_batches(self, epoch: int) -> Iterator[TranslationBatch]:
        sampler = BucketBatchSampler([len(s) for s, _ in self.train_ids], self.options.batch_size, seed=self.seed)
        sampler.set_epoch(epoch)
        return iter(make_batches(self.train_ids, list(sampler), self.target_tokenizer))

    def val_batches(self) -> Iterator[TranslationBatch]:
        return iter(self._val_batches)

    def step(self, model: nn.Module, batch: TranslationBatch, state: Any) -> StepOutput:
        training = model.training
        out = model(batch.source, batch.target_inputs, source_lengths=batch.source_lengths,
                    sampling_ratio=self.options.sampling_ratio if training else 0.0)
        targets = batch.target_outputs
        pad = self.target_tokenizer.pad_id
        loss = F.cross_entropy(out.logits.flatten(0, 1), targets.flatten(), ignore_index=pad,
                               label_smoothing=self.options.label_smoothing if training else 0.0)
        valid = targets != pad
        count = int(valid.sum())
        metrics = {"token_accuracy": float(((out.logits.argmax(-1) == targets) & valid).sum()) / count}
        if not training:  # the engine weights batch metrics by `count` (tokens): exact with one validation batch
            metrics["exact_match"] = greedy_exact_match(model, batch, self.target_tokenizer)
        return StepOutput(loss=loss, count=count, metrics=metrics)

    def bundle_parts(self) -> dict[str, Any]:
        """What `rnnkit train` stores in the run's bundle besides the weights (see rnnkit.training.run)."""
        return {"tokenizer": self.source_tokenizer, "tokenizers": {"target": self.target_tokenizer},
                "extra": {"translation": {"corpus": self.options.corpus, "source_language": self.source_language,
                                          "target_language": self.target_language}}}


def load_split(options: TranslationOptions) -> Split:
    """The corpus (or toy task) of ``options``, filtered by length and split with ``split_seed``."""
    if options.corpus in TOY_TASKS:
        lengths = dict(min_length=options.toy_min_length, max_length=options.toy_max_length)
        held = toy_pairs(options.corpus, options.test_size + options.val_size, seed=options.split_seed + 1, **lengths)
        train = toy_pairs(options.corpus, options.toy_train_size, seed=options.split_seed,
                          exclude={p.source for p in held}, **lengths)
        return Split(train, held[options.test_size:], held[:options.test_size])
    source_language, target_language = LANGUAGES[options.corpus]
    source_level, target_level = tokenizer_level(source_language), tokenizer_level(target_language)
    probe_source, probe_target = Tokenizer.build([], level=source_level), Tokenizer.build([], level=target_level)
    pairs = [
        pair for pair in load_pairs(options.corpus)
        if _fits(probe_source, normalize(pair.source, source_language), options.max_source_tokens)
        and _fits(probe_target, normalize(pair.target, target_language), options.max_target_tokens)
    ]
    return split_pairs(pairs, val_size=options.val_size, test_size=options.test_size, seed=options.split_seed)


def _fits(tokenizer: Tokenizer, text: str, limit: int | None) -> bool:
    count = len(tokenizer.split(text))
    return count >= 1 and (limit is None or count <= limit)


def _chunks(count: int, size: int) -> list[list[int]]:
    return [list(range(start, min(start + size, count))) for start in range(0, count, size)]


@torch.no_grad()
def greedy_exact_match(model: Seq2Seq, batch: TranslationBatch, target: Tokenizer) -> float:
    """Fraction of the batch's rows whose greedy translation equals the reference token for token."""
    from rnnkit.decoding import generate

    steps = batch.target_outputs.size(1)  # the longest reference, </s> included
    prompts = torch.full((batch.source.size(0), 1), target.start_id, dtype=torch.long, device=batch.source.device)
    result = generate(model.decoder(batch.source, batch.source_lengths), prompts, method="greedy",
                      max_new_tokens=steps, eos_id=target.end_id)
    generated = torch.full_like(batch.target_outputs, target.pad_id)
    width = result.tokens.size(1)
    valid = torch.arange(width, device=result.tokens.device)[None, :] < result.lengths[:, None].to(result.tokens.device)
    generated[:, :width] = torch.where(valid, result.tokens, torch.full_like(result.tokens, target.pad_id))
    return float((generated == batch.target_outputs).all(dim=1).float().mean())


def make_translation_task(options: TranslationOptions, seed: int) -> TranslationTask:
    return TranslationTask(options, seed)


register_task("translation", make_translation_task, options=TranslationOptions)
