"""Predictions from a trained classifier or tagger bundle: labels with probabilities, or entity spans.

    from rnnkit.predict import predict
    predict("runs/sst2/bundle", ["a gorgeous , witty , seductive movie ."])
    # [Prediction(text=..., label='positive', probability=0.97, probabilities={'negative': 0.03, ...}, ...)]
    predict("runs/wnut17/bundle", ["Going to see Taylor Swift in London tonight"])[0].entities
    # [Entity(text='Taylor Swift', label='person', start=3, end=5, probability=0.91), ...]

Every call returns one :class:`Prediction` per input, whatever the bundle's kind; the fields a kind does not
fill stay empty (a classifier gives no tokens or entities, a tagger no label). Inputs are prepared the way
the bundle's task prepared its training data (bundle.json's extra: lower-casing, truncation, whitespace or
character splitting for tagging, feature standardisation for numeric series).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

from rnnkit.bundle import Bundle, load
from rnnkit.text.tokenizer import unknown_tokens

__all__ = ["Entity", "Prediction", "predict", "entities_from_tags"]


class Entity(NamedTuple):
    text: str  # the entity's tokens joined (by a space for whitespace-split text, directly for characters)
    label: str  # the entity type, e.g. "person"
    start: int  # first token
    end: int  # one past the last token
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
                       *, joiner: str = " ") -> list[Entity]:
    """BIO tags -> entity spans: B-X starts one, I-X continues one of type X; an I-X after anything else
    starts a new one (the conlleval reading, as seqeval does)."""
    if len(tokens) != len(tags):
        raise ValueError(f"tags: expected one per token ({len(tokens)}), got {len(tags)}")
    probabilities = [1.0] * len(tags) if probabilities is None else list(probabilities)
    spans: list[tuple[str, int, int]] = []
    for index, tag in enumerate(tags):
        kind = tag[2:] if tag[:2] in ("B-", "I-") else None
        if kind is None:
            continue
        if tag.startswith("I-") and spans and spans[-1][0] == kind and spans[-1][2] == index:
            spans[-1] = (kind, spans[-1][1], index + 1)
        else:
            spans.append((kind, index, index + 1))
    return [Entity(joiner.join(tokens[start:end]), kind, start, end,
                   float(sum(probabilities[start:end]) / (end - start))) for kind, start, end in spans]


def predict(bundle_or_path: Bundle | str | Path, inputs: Sequence[Any]) -> list[Prediction]:
    """Predict for each input with a classifier or tagger bundle (a folder path or a loaded Bundle).

    Args:
        inputs: texts for token-input bundles; for a numeric-series classifier, sequences of shape (T, F)
            (nested lists, arrays or tensors).
    """
    bundle = bundle_or_path if isinstance(bundle_or_path, Bundle) else load(bundle_or_path)
    if isinstance(inputs, str):
        raise TypeError(f"inputs: expected a list of inputs, got the string {inputs!r}; wrap it: [text]")
    inputs = list(inputs)
    kind = bundle.info.get("kind", "language_model")
    if kind == "classifier":
        return _classify(bundle, inputs)
    if kind == "tagger":
        return _tag(bundle, inputs)
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
def _tag(bundle: Bundle, inputs: list[Any]) -> list[Prediction]:
    from rnnkit.tasks.ner import encode_chars

    model, info = bundle.model, bundle.info
    labels = list(model.config.labels)
    for item in inputs:
        if not isinstance(item, str):
            raise TypeError(f"inputs: expected texts (str) for a tagger, got {type(item).__name__}")
    by_char = info.get("split") == "char"
    sentences = [[c for c in text if not c.isspace()] if by_char else text.split() for text in inputs]
    unknown = [unknown_tokens(tokens, _tagger_knows(bundle), argument=f"inputs[{index}]", text=inputs[index])
               for index, tokens in enumerate(sentences)]
    out: list[Prediction | None] = [None] * len(inputs)
    keep = [i for i, tokens in enumerate(sentences) if tokens]
    for i in set(range(len(inputs))) - set(keep):
        out[i] = Prediction(inputs[i], None, None, {}, [], [], [])
    if keep:
        lower = info.get("lowercase", False)
        rows = [[bundle.tokenizer.token_to_id(t.lower() if lower else t) for t in sentences[i]] for i in keep]
        lengths = torch.tensor([len(row) for row in rows])
        tokens = torch.nn.utils.rnn.pad_sequence([torch.tensor(row) for row in rows], batch_first=True)
        chars = char_lengths = None
        if model.config.char_vocab_size:
            chars, char_lengths = encode_chars([sentences[i] for i in keep], bundle.tokenizers["chars"],
                                               info.get("max_word_length", 20))
        emissions = model(tokens, lengths, chars, char_lengths)
        best = model.decode(emissions, lengths)
        marginals = model.probabilities(emissions, lengths)  # (B, T, K)
        for row, i in enumerate(keep):
            tags = [labels[t] for t in best[row]]
            # clamp: marginals from autograd can exceed 1 by a rounding error
            confidence = [min(1.0, float(marginals[row, t, tag])) for t, tag in enumerate(best[row])]
            entities = entities_from_tags(sentences[i], tags, confidence, joiner="" if by_char else " ")
            out[i] = Prediction(inputs[i], None, None, {}, sentences[i], tags, entities)
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
