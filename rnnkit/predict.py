"""Predictions from a trained classifier or tagger bundle: labels with probabilities, or entity spans.

    from rnnkit.predict import predict
    predict("runs/sst2/bundle", ["a gorgeous , witty , seductive movie ."])
    # [Prediction(text=..., label='positive', probability=0.97, probabilities={'negative': 0.03, ...}, ...)]
    predict("runs/wnut17/bundle", ["Going to see Taylor Swift in London tonight"])[0].entities
    # [Entity(text='Taylor Swift', label='person', start=13, end=25, probability=0.91), ...]

Every call returns one :class:`Prediction` per input, whatever the bundle's kind; the fields a kind does not
fill stay empty (a classifier gives no tokens or entities, a tagger no label). Inputs are prepared the way
the bundle's task prepared its training data (bundle.json's extra: lower-casing, truncation, word or
character splitting for tagging (rnnkit.tasks.ner.tokenize), feature standardisation for numeric series).
Entity offsets index the text as given (``text[entity.start:entity.end] == entity.text``). A text longer
than ``max_tokens`` tokens is tagged in pieces of at most that many tokens, cut after a sentence end where
there is one, else at a space (see :func:`split_pieces`), so that a long text costs time linear in its length.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

from rnnkit.bundle import Bundle, load
from rnnkit.text.tokenizer import unknown_tokens

__all__ = ["Entity", "Prediction", "predict", "entities_from_tags", "split_pieces"]

MAX_TOKENS = 256  # tokens tagged as one piece: above the longest sentences of the shipped NER data
PIECES_PER_BATCH = 64  # pieces run through the model together


class Entity(NamedTuple):
    text: str  # the entity as it stands in the input: text[start:end]
    label: str  # the entity type, e.g. "person"
    start: int  # character offset of its first character in the input text
    end: int  # one past its last character: input[start:end] == text
    probability: float  # the mean over its tokens of p(tag) (CRF marginals or the softmax)


class Prediction(NamedTuple):
    text: str  # the input as given (str(series) for numeric input)
    label: str | None  # classification: the most probable class; tagging: None
    probability: float | None  # its probability
    probabilities: dict[str, float]  # classification: every class's probability
    tokens: list[str]  # tagging: the tokens the text was split into
    tags: list[str]  # tagging: one BIO tag per token
    entities: list[Entity]  # tagging: the spans the tags describe
    unknown: tuple[str, ...] = ()  # a warning: tokens the model does not know, read as <unk> (for a tagger with
    # character features, words none of whose characters it knows either)

    def to_json(self) -> dict[str, Any]:
        out = self._asdict()
        out["entities"] = [entity._asdict() for entity in self.entities]
        return out


def entities_from_tags(tokens: Sequence[str], tags: Sequence[str], probabilities: Sequence[float] | None = None,
                       *, joiner: str = " ", text: str | None = None,
                       spans: Sequence[tuple[int, int]] | None = None) -> list[Entity]:
    """BIO tags -> entity spans: B-X starts one, I-X continues one of type X; an I-X after anything else
    starts a new one (the conlleval reading, as seqeval does).

    Offsets are character offsets into ``text``, where token i stands at ``spans[i]`` (start, end), as
    rnnkit.tasks.ner.tokenize returns them; without them, into ``joiner.join(tokens)``."""
    if len(tokens) != len(tags):
        raise ValueError(f"tags: expected one per token ({len(tokens)}), got {len(tags)}")
    if (text is None) != (spans is None):
        raise ValueError("text, spans: expected both (the tokens' character spans in text) or neither, got one")
    if spans is None:
        text, spans, position = joiner.join(tokens), [], 0
        for token in tokens:
            spans.append((position, position + len(token)))
            position += len(token) + len(joiner)
    elif len(spans) != len(tokens):
        raise ValueError(f"spans: expected one per token ({len(tokens)}), got {len(spans)}")
    probabilities = [1.0] * len(tags) if probabilities is None else list(probabilities)
    found: list[tuple[str, int, int]] = []
    for index, tag in enumerate(tags):
        kind = tag[2:] if tag[:2] in ("B-", "I-") else None
        if kind is None:
            continue
        if tag.startswith("I-") and found and found[-1][0] == kind and found[-1][2] == index:
            found[-1] = (kind, found[-1][1], index + 1)
        else:
            found.append((kind, index, index + 1))
    entities = []
    for kind, first, stop in found:
        start, end = spans[first][0], spans[stop - 1][1]
        entities.append(Entity(text[start:end], kind, start, end, float(sum(probabilities[first:stop]) / (stop - first))))
    return entities


_SENTENCE_END = frozenset(".!?;\u3002\uff01\uff1f\uff1b\u2026")  # . ! ? ; and the full-width 。！？； and …


def split_pieces(tokens: Sequence[str], spans: Sequence[tuple[int, int]], max_tokens: int) -> list[tuple[int, int]]:
    """Cut a token sequence into pieces of at most ``max_tokens``: (first, stop) token ranges covering it in order.

    Each cut falls in the second half of a full window: after the last token there made only of sentence-end
    punctuation (. ! ? ; … and the full-width 。！？；), else at the widest gap between two tokens' spans (a
    space), else (no space, as in Chinese without punctuation) at the window's end."""
    pieces, first, count = [], 0, len(tokens)
    while count - first > max_tokens:
        candidates = range(first + max_tokens - 1, first + max_tokens // 2 - 1, -1)  # a piece's last token, latest first
        last = next((i for i in candidates if set(tokens[i]) <= _SENTENCE_END), None)
        if last is None:  # max() keeps the first (latest) of equal gaps
            last = max(candidates, key=lambda i: spans[i + 1][0] - spans[i][1])
        pieces.append((first, last + 1))
        first = last + 1
    pieces.append((first, count))
    return pieces


def predict(bundle_or_path: Bundle | str | Path, inputs: Sequence[Any], *,
            max_tokens: int = MAX_TOKENS) -> list[Prediction]:
    """Predict for each input with a classifier or tagger bundle (a folder path or a loaded Bundle).

    Args:
        inputs: texts for token-input bundles; for a numeric-series classifier, sequences of shape (T, F)
            (nested lists, arrays or tensors).
        max_tokens: tagging: texts longer than this are tagged in pieces of at most this many tokens
            (:func:`split_pieces`); entity offsets still index the whole text.
    """
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 2:
        raise ValueError(f"max_tokens: expected an int >= 2, got {max_tokens!r}")
    bundle = bundle_or_path if isinstance(bundle_or_path, Bundle) else load(bundle_or_path)
    if isinstance(inputs, str):
        raise TypeError(f"inputs: expected a list of inputs, got the string {inputs!r}; wrap it: [text]")
    inputs = list(inputs)
    kind = bundle.info.get("kind", "language_model")
    if kind == "classifier":
        return _classify(bundle, inputs)
    if kind == "tagger":
        return _tag(bundle, inputs, max_tokens)
    raise ValueError(f"bundle_or_path: expected a 'classifier' or 'tagger' bundle, got kind {kind!r} "
                     f"({bundle.path})")


@torch.no_grad()
def _classify(bundle: Bundle, inputs: list[Any]) -> list[Prediction]:
    model, info = bundle.model, bundle.info
    labels = info.get("labels") or [str(i) for i in range(model.config.num_classes)]
    if model.config.vocab_size is not None:
        for item in inputs:
            if not isinstance(item, str):
                raise TypeError(f"inputs: expected texts (str) for this text classifier, got {type(item).__name__}")
        lower, limit = info.get("lowercase", False), info.get("max_length")
        unknown = [unknown_tokens(bundle.tokenizer.split(text.lower() if lower else text)[:limit],
                                  bundle.tokenizer.__contains__, argument=f"inputs[{index}]", text=text)
                   for index, text in enumerate(inputs)]
        rows = [bundle.tokenizer.encode(text.lower() if lower else text)[:limit] for text in inputs]
        tensors = [torch.tensor(row, dtype=torch.long) for row in rows]
        texts = list(inputs)
    else:
        mean = torch.tensor(info["mean"]) if "mean" in info else 0.0
        std = torch.tensor(info["std"]) if "std" in info else 1.0
        tensors, texts = [], []
        for item in inputs:
            series = torch.as_tensor(item, dtype=torch.float32)
            if series.dim() == 1 and model.config.input_size == 1:
                series = series.unsqueeze(1)  # a univariate series given as a flat list
            if series.dim() != 2 or series.size(1) != model.config.input_size or series.size(0) < 1:
                raise ValueError(f"inputs: expected series of shape (T, {model.config.input_size}), got "
                                 f"{tuple(series.shape)}")
            tensors.append((series - mean) / std)
            texts.append(str(item if not isinstance(item, torch.Tensor) else item.tolist()))
        unknown = [[] for _ in inputs]
    if not tensors:
        return []
    lengths = torch.tensor([t.size(0) for t in tensors])
    padded = torch.nn.utils.rnn.pad_sequence(tensors, batch_first=True)
    device = next(model.parameters()).device
    probabilities = model(padded.to(device), lengths).softmax(-1).cpu()
    out = []
    for text, row, found in zip(texts, probabilities, unknown, strict=True):
        best = int(row.argmax())
        out.append(Prediction(text, labels[best], float(row[best]),
                              {label: float(p) for label, p in zip(labels, row, strict=True)}, [], [], [],
                              tuple(found)))
    return out


@torch.no_grad()
def _tag(bundle: Bundle, inputs: list[Any], max_tokens: int) -> list[Prediction]:
    from rnnkit.tasks.ner import encode_chars, tokenize

    model, info = bundle.model, bundle.info
    labels = list(model.config.labels)
    for item in inputs:
        if not isinstance(item, str):
            raise TypeError(f"inputs: expected texts (str) for a tagger, got {type(item).__name__}")
    split = info.get("split", "word")
    tokenized = [tokenize(text, split) for text in inputs]
    unknown = [unknown_tokens(tokens, _tagger_knows(bundle), argument=f"inputs[{index}]", text=inputs[index])
               for index, (tokens, _) in enumerate(tokenized)]
    # every text's pieces, all run through the model in batches: (input index, first token, stop)
    pieces = [(i, first, stop) for i, (tokens, spans) in enumerate(tokenized) if tokens
              for first, stop in split_pieces(tokens, spans, max_tokens)]
    lower = info.get("lowercase", False)
    tags: list[list[int]] = [[] for _ in inputs]
    confidence: list[list[float]] = [[] for _ in inputs]
    for batch_start in range(0, len(pieces), PIECES_PER_BATCH):
        batch = pieces[batch_start:batch_start + PIECES_PER_BATCH]
        sentences = [tokenized[i][0][first:stop] for i, first, stop in batch]
        rows = [[bundle.tokenizer.token_to_id(t.lower() if lower else t) for t in sentence] for sentence in sentences]
        lengths = torch.tensor([len(row) for row in rows])
        tokens = torch.nn.utils.rnn.pad_sequence([torch.tensor(row) for row in rows], batch_first=True)
        chars = char_lengths = None
        if model.config.char_vocab_size:
            chars, char_lengths = encode_chars(sentences, bundle.tokenizers["chars"], info.get("max_word_length", 20))
        emissions = model(tokens, lengths, chars, char_lengths)
        best = model.decode(emissions, lengths)
        marginals = model.probabilities(emissions, lengths)  # (B, T, K)
        for row, (i, _, _) in enumerate(batch):  # pieces of one text come in order
            tags[i] += best[row]
            # clamp: marginals from autograd can exceed 1 by a rounding error
            confidence[i] += [min(1.0, float(p)) for p in marginals[row, torch.arange(len(best[row])), best[row]]]
    out = []
    for text, (tokens, spans), ids, probabilities in zip(inputs, tokenized, tags, confidence, strict=True):
        names = [labels[t] for t in ids]
        entities = entities_from_tags(tokens, names, probabilities, text=text, spans=spans)
        out.append(Prediction(text, None, None, {}, tokens, names, entities))
    return [item._replace(unknown=tuple(found)) for item, found in zip(out, unknown, strict=True)]


def _tagger_knows(bundle: Bundle):
    """token -> whether the tagger reads more of it than <unk>: its word, or with character features any of
    its characters."""
    lower, words, chars = bundle.info.get("lowercase", False), bundle.tokenizer, bundle.tokenizers.get("chars")
    use_chars = chars is not None and bool(bundle.model.config.char_vocab_size)
    width = bundle.info.get("max_word_length", 20)  # encode_chars reads this many characters of a word

    def knows(token: str) -> bool:
        return (token.lower() if lower else token) in words or (use_chars and any(c in chars for c in token[:width]))

    return knows
