"""`ner`: named-entity recognition with a BiLSTM-CRF (or softmax) tagger, scored by seqeval.

Data (the repository's data/ner, BIO tags, original train/dev/test splits; see its README):

* ``wnut17``: English tweets and forum text, word level. Words are lower-cased for the word embedding; the
  optional character BiLSTM (``model.char_vocab_size`` is set from ``char_features: true``) sees the original
  case. At prediction time :func:`tokenize` splits text as the training tokens were split: URLs, @mentions,
  #hashtags and words (with inner apostrophes or hyphens) are tokens, and runs of punctuation are split off.
* ``weibo`` and ``resume``: Chinese, character level (each character is a token; whitespace is no token).

An ``I-X`` that follows neither ``B-X`` nor ``I-X`` in the gold data becomes ``B-X`` (:func:`repair_bio`), the
reading seqeval and conlleval give it; the CRF's BIO constraints could not score it otherwise.

Metrics: entity-level precision, recall and F1 of seqeval (``seqeval.metrics``, default conlleval-style
matching: an entity counts when its type and both boundaries are right). Validation is one batch holding the
whole dev split, so ``val_f1`` is exact. ``NERTask.evaluate(model, "test")`` scores the test split.

    rnnkit train configs/wnut17.yaml --out runs/wnut17
    rnnkit train configs/wnut17.yaml --set task_options.model.output=softmax --out runs/wnut17_softmax
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor, nn

from rnnkit.config import check
from rnnkit.models.tagger import Tagger, TaggerConfig
from rnnkit.tasks.common import bucketed, chunks, pad, read_data
from rnnkit.text.tokenizer import SPECIAL_TOKENS, Tokenizer
from rnnkit.training.registry import register_task
from rnnkit.training.task import StepOutput

__all__ = ["NEROptions", "NERTask", "Sentence", "TagBatch", "entity_metrics", "load_ner", "read_conll", "repair_bio",
           "tokenize"]

FILES = {"wnut17": ("wnut17", "conll"), "weibo": ("weibo_ner", "bio"), "resume": ("resume_ner", "bio")}
CHARACTER_LEVEL = ("weibo", "resume")


# WNUT-17's tokens: URLs, HTML entities, @mentions/#hashtags and words whole, a punctuation run (".", "...",
# "!!", ":)") one token; the first alternative that matches at a position wins
_WORD_TOKEN = re.compile(r"(?:https?://|www\.)\S+|&#?\w+;|[@#]?\w+(?:[-'\u2019]\w+)*|[^\w\s]+")
SPLITS = ("char", "word", "whitespace")  # "whitespace": the name older bundles give "word"


def tokenize(text: str, split: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Split ``text`` as a data set's training tokens were split: the tokens and their (start, end) character
    spans in ``text`` (``text[start:end] == token``).

    ``split="char"``: every character but whitespace (Weibo, Resume); ``"word"`` (or ``"whitespace"``, its
    name in older bundles): words, URLs, @mentions and #hashtags, with punctuation runs split off (WNUT-17).

    >>> tokenize("See  Paris, then 北京.", "word")[0]
    ['See', 'Paris', ',', 'then', '北京', '.']
    >>> tokenize(" 北 京", "char")
    (['北', '京'], [(1, 2), (3, 4)])
    """
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
    if split == "char":
        spans = [(index, index + 1) for index, character in enumerate(text) if not character.isspace()]
    else:
        spans = [match.span() for match in _WORD_TOKEN.finditer(text)]
    return [text[start:end] for start, end in spans], spans


class Sentence(NamedTuple):
    tokens: list[str]
    tags: list[str]


class TagBatch(NamedTuple):
    tokens: Tensor  # (B, T) word ids
    lengths: Tensor  # (B,)
    tags: Tensor  # (B, T) tag ids, 0 past each length
    chars: Tensor | None  # (B, T, C) character ids of each word, or None without character features
    char_lengths: Tensor | None  # (B, T)


def read_conll(text: str) -> list[Sentence]:
    """``token<TAB>tag`` lines, a blank line between sentences -> sentences (tags repaired, see repair_bio)."""
    sentences, tokens, tags = [], [], []
    for line in text.splitlines():
        if not line.strip():
            if tokens:
                sentences.append(Sentence(tokens, repair_bio(tags)))
                tokens, tags = [], []
            continue
        token, _, tag = line.rstrip("\n").rpartition("\t")
        if not token:
            raise ValueError(f"text: expected 'token<TAB>tag' lines, got {line!r}")
        tokens.append(token)
        tags.append(tag.strip())
    if tokens:
        sentences.append(Sentence(tokens, repair_bio(tags)))
    return sentences


def repair_bio(tags: Sequence[str]) -> list[str]:
    """Turn each I-X that follows neither B-X nor I-X into B-X (the conlleval reading of such a tag)."""
    repaired, previous = [], "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        repaired.append(tag)
        previous = tag
    return repaired


class NERData(NamedTuple):
    train: list[Sentence]
    val: list[Sentence]
    test: list[Sentence]


def load_ner(dataset: str) -> NERData:
    """The train/dev/test sentences of "wnut17", "weibo" or "resume"."""
    if dataset not in FILES:
        raise ValueError(f"dataset: expected one of {sorted(FILES)}, got {dataset!r}")
    folder, suffix = FILES[dataset]
    return NERData(*(read_conll(read_data("ner", folder, f"{split}.{suffix}.xz")) for split in ("train", "dev", "test")))


def entity_metrics(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict[str, float]:
    """Entity-level precision, recall and F1 (seqeval, conlleval-style) and token accuracy."""
    try:
        from seqeval.metrics import f1_score, precision_score, recall_score
    except ImportError as error:
        raise ImportError(f"{error}: entity-level NER metrics need seqeval: pip install 'rnnkit[tasks]'") from None
    gold, predicted = [list(s) for s in gold], [list(s) for s in predicted]
    tokens = sum(len(s) for s in gold)
    correct = sum(g == p for gs, ps in zip(gold, predicted, strict=True) for g, p in zip(gs, ps, strict=True))
    return {"precision": float(precision_score(gold, predicted, zero_division=0)),
            "recall": float(recall_score(gold, predicted, zero_division=0)),
            "f1": float(f1_score(gold, predicted, zero_division=0)),
            "token_accuracy": correct / max(tokens, 1)}


def _default_model() -> TaggerConfig:
    return TaggerConfig(embedding_size=100, hidden_size=100, dropout=0.5)


@dataclass(frozen=True)
class NEROptions:
    dataset: Literal["wnut17", "weibo", "resume"] = "wnut17"
    batch_size: int = 16
    eval_batch_size: int = 256  # for evaluate(); validation is always one batch (exact F1)
    min_count: int = 2  # tokens seen fewer times in training become <unk>
    lowercase: bool = True  # word embeddings of lower-cased words (the character features keep the case)
    char_features: bool = True  # a character BiLSTM per word (word-level data sets only)
    max_word_length: int = 20  # characters of a word the character BiLSTM reads
    model: TaggerConfig = field(default_factory=_default_model)

    def __post_init__(self) -> None:
        for name in ("batch_size", "eval_batch_size", "min_count", "max_word_length"):
            check(getattr(self, name) >= 1, name, "an int >= 1", getattr(self, name))


class NERTask:
    """The Task for ``ner`` (see the module docstring).

    Args:
        options: a :class:`NEROptions`.
        seed: the batch order; batches depend only on (seed, epoch).
        data: sentences to use instead of loading ``options.dataset`` (tests pass tiny slices).
    """

    def __init__(self, options: NEROptions | None = None, seed: int = 0, *, data: NERData | None = None):
        self.options, self.seed = options or NEROptions(), seed
        self.data = load_ner(self.options.dataset) if data is None else data
        if not self.data.train or not self.data.val:
            raise ValueError(f"NERTask: expected training and validation sentences, got {len(self.data.train)} "
                             f"and {len(self.data.val)}")
        self.character_level = self.options.dataset in CHARACTER_LEVEL
        self.lowercase = self.options.lowercase and not self.character_level
        labels = sorted({tag for s in self.data.train for tag in s.tags} - {"O"}, key=lambda t: (t[2:], t[:2]))
        self.labels = ("O", *labels)
        self.label_ids = {label: i for i, label in enumerate(self.labels)}
        counts = Counter(self._word(token) for s in self.data.train for token in s.tokens)
        words = sorted((w for w, n in counts.items() if n >= self.options.min_count), key=lambda w: (-counts[w], w))
        self.tokenizer = Tokenizer([*SPECIAL_TOKENS, *(w for w in words if w not in SPECIAL_TOKENS)], level="word")
        use_chars = self.options.char_features and not self.character_level
        self.char_tokenizer = Tokenizer.build([t for s in self.data.train for t in s.tokens], level="char") \
            if use_chars else None
        self.model_config = dataclasses.replace(
            self.options.model, vocab_size=len(self.tokenizer), labels=self.labels,
            char_vocab_size=len(self.char_tokenizer) if use_chars else 0)
        self.train_batches_data = self.data.train
        self.val_batch = self._batch(self.data.val)

    def _word(self, token: str) -> str:
        return token.lower() if self.lowercase else token

    def _batch(self, sentences: Sequence[Sentence]) -> TagBatch:
        tokens, lengths = pad([[self.tokenizer.token_to_id(self._word(t)) for t in s.tokens] for s in sentences])
        # a tag unseen in training (none in the shipped splits) scores as O
        tags, _ = pad([[self.label_ids.get(tag, 0) for tag in s.tags] for s in sentences])
        chars = char_lengths = None
        if self.char_tokenizer is not None:
            chars, char_lengths = encode_chars([s.tokens for s in sentences], self.char_tokenizer,
                                               self.options.max_word_length)
        return TagBatch(tokens, lengths, tags, chars, char_lengths)

    def build_model(self) -> nn.Module:
        return Tagger(self.model_config)

    def train_batches(self, epoch: int) -> Iterator[TagBatch]:
        order = bucketed([len(s.tokens) for s in self.data.train], self.options.batch_size, self.seed, epoch)
        return (self._batch([self.data.train[i] for i in index]) for index in order)

    def val_batches(self) -> Iterator[TagBatch]:
        return iter([self.val_batch])

    def step(self, model: nn.Module, batch: Any, state: Any) -> StepOutput:
        emissions = model(batch.tokens, batch.lengths, batch.chars, batch.char_lengths)  # (B, T, K)
        loss = model.loss(emissions, batch.tags, batch.lengths)
        count = int(batch.lengths.sum())
        metrics = {}
        if not model.training:
            predicted = model.decode(emissions, batch.lengths)
            gold = [row[:n].tolist() for row, n in zip(batch.tags.cpu(), batch.lengths.tolist(), strict=True)]
            metrics = entity_metrics(self.names(gold), self.names(predicted))
        return StepOutput(loss=loss, count=count, metrics=metrics)

    def names(self, rows: Sequence[Sequence[int]]) -> list[list[str]]:
        return [[self.labels[i] for i in row] for row in rows]

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str = "test") -> dict[str, float]:
        """seqeval precision/recall/F1 and token accuracy of ``model`` on "train", "val" or "test"."""
        sentences = {"train": self.data.train, "val": self.data.val, "test": self.data.test}.get(split)
        if sentences is None:
            raise ValueError(f"split: expected 'train', 'val' or 'test', got {split!r}")
        was_training = model.training
        model.eval()
        predicted = []
        for index in chunks(len(sentences), self.options.eval_batch_size):
            batch = self._batch([sentences[i] for i in index])
            emissions = model(batch.tokens, batch.lengths, batch.chars, batch.char_lengths)
            predicted += model.decode(emissions, batch.lengths)
        model.train(was_training)
        return {**entity_metrics([s.tags for s in sentences], self.names(predicted)),
                "sentences": float(len(sentences))}

    def bundle_parts(self) -> dict[str, Any]:
        """What `rnnkit train` stores in the run's bundle besides the weights (see rnnkit.training.run)."""
        tokenizers = {"chars": self.char_tokenizer} if self.char_tokenizer is not None else {}
        return {"tokenizer": self.tokenizer, "tokenizers": tokenizers,
                "extra": {"labels": list(self.labels), "lowercase": self.lowercase,
                          "split": "char" if self.character_level else "word",
                          "max_word_length": self.options.max_word_length}}


def encode_chars(sentences: Sequence[Sequence[str]], tokenizer: Tokenizer, max_word_length: int
                 ) -> tuple[Tensor, Tensor]:
    """Character ids of every word: (B, T, C) (0 = padding) and the word lengths (B, T) (0 at padded words)."""
    steps = max(len(s) for s in sentences)
    words = [[tokenizer.encode(word)[:max_word_length] or [tokenizer.unk_id] for word in s] for s in sentences]
    width = max(len(w) for s in words for w in s)
    chars = torch.zeros(len(sentences), steps, width, dtype=torch.long)
    lengths = torch.zeros(len(sentences), steps, dtype=torch.long)
    for b, sentence in enumerate(words):
        for t, word in enumerate(sentence):
            chars[b, t, : len(word)] = torch.tensor(word)
            lengths[b, t] = len(word)
    return chars, lengths


def make_ner(options: NEROptions, seed: int) -> NERTask:
    return NERTask(options, seed)


register_task("ner", make_ner, options=NEROptions)
