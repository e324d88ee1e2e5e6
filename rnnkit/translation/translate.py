"""Translate sentences with a seq2seq bundle: greedy or beam search (rnnkit.decoding), with attention weights.

    result = translate("runs/eng_fra/bundle", ["I am cold.", "Where is the station?"], method="beam")
    result.texts          # ['j'ai froid.', ...]
    result.attention[0]   # (output tokens incl. </s>, source tokens) weights; rows sum to 1

Decoding is rnnkit.decoding.generate on the model's bound decoder (rnnkit.models.seq2seq), batched over
the sentences: it is batch-invariant, so a sentence gets the same translation alone or in a batch. The
attention weights are recomputed afterwards by one teacher-forced pass over each chosen output (dropout is
off in eval mode, so they are the weights the decoder used). Empty sentences and sentences of only unknown
tokens are errors; other unknown tokens are reported in ``Translations.unknown``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from rnnkit.text.tokenizer import unknown_tokens
from rnnkit.translation.data import detokenize, normalize

__all__ = ["Translations", "load_translator", "translate"]

DEFAULT_MAX_LENGTH = 60
DEFAULT_BEAM_SIZE = 5


class Translations(NamedTuple):
    """One entry per input sentence, in input order."""

    texts: list[str]  # detokenized translations
    source_tokens: list[list[str]]  # what the encoder read (unknown tokens as <unk>)
    output_tokens: list[list[str]]  # what the decoder wrote, </s> included when it ended
    attention: list[Tensor | None]  # (len(output_tokens), len(source_tokens)); None without attention
    scores: list[float]  # sum of log-probabilities (beam search: divided by the length penalty)
    unknown: list[list[str]]  # the source tokens the model does not know (read as <unk>): a warning


class Translator(NamedTuple):
    """A loaded seq2seq bundle's parts."""

    model: Any  # rnnkit.models.seq2seq.Seq2Seq, eval mode
    source: Any  # source Tokenizer
    target: Any  # target Tokenizer
    source_language: str
    target_language: str


def load_translator(bundle: Any) -> Translator:
    """A bundle folder, or a loaded rnnkit.bundle.Bundle of kind ``seq2seq`` -> its :class:`Translator`."""
    from rnnkit.bundle import Bundle, load

    if isinstance(bundle, (str, Path)):
        bundle = load(bundle)
    if not isinstance(bundle, Bundle):
        raise TypeError(f"bundle: expected a bundle folder or an rnnkit.bundle.Bundle, got {type(bundle).__name__}")
    kind = bundle.info.get("kind", "language_model")
    if kind != "seq2seq":
        raise ValueError(f"bundle: expected a translation bundle (kind 'seq2seq'), got kind {kind!r} from {bundle.path}")
    if "target" not in bundle.tokenizers or bundle.tokenizer is None:
        raise ValueError(f"bundle: {bundle.path} lacks its source tokenizer.json or tokenizer.target.json")
    languages = bundle.info.get("translation", {})
    return Translator(bundle.model.eval(), bundle.tokenizer, bundle.tokenizers["target"],
                      languages.get("source_language", "eng"), languages.get("target_language", "eng"))


@torch.no_grad()
def translate(
    bundle: Any,
    sentences: Sequence[str],
    *,
    method: str = "greedy",
    beam_size: int | None = None,
    length_penalty: float = 1.0,
    max_length: int = DEFAULT_MAX_LENGTH,
    batch_size: int = 64,
) -> Translations:
    """Translate ``sentences`` with a seq2seq bundle.

    Args:
        bundle: a bundle folder, an rnnkit.bundle.Bundle, or a :class:`Translator` (load once, translate
            many times).
        sentences: a list of source sentences (raw text; normalised and tokenised as in training).
        method: ``"greedy"`` or ``"beam"`` (``"sample"`` works too, unseeded).
        beam_size: hypotheses kept per sentence (beam only; None: 5).
        length_penalty: GNMT's alpha (beam only; 0 ranks by log-probability).
        max_length: the most output tokens per sentence, </s> included.
        batch_size: sentences decoded together.

    Returns:
        :class:`Translations`.

    Raises ValueError naming ``sentences[i]`` for a sentence the model cannot read at all: empty, or only
    tokens its source vocabulary lacks. Sentences with some unknown tokens are translated and the tokens
    listed in ``Translations.unknown``. The decoder never writes ``<unk>``, ``<pad>`` or ``<s>``.
    """
    translator = bundle if isinstance(bundle, Translator) else load_translator(bundle)
    if isinstance(sentences, str) or not isinstance(sentences, Sequence):
        raise TypeError(f"sentences: expected a list of str, got {type(sentences).__name__}; wrap one sentence in "
                        "a list")
    if not all(isinstance(s, str) for s in sentences):
        raise TypeError("sentences: expected every sentence to be a str")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected an int >= 1, got {batch_size!r}")
    source = translator.source
    normalized = [normalize(s, translator.source_language) for s in sentences]
    unknown = [unknown_tokens(source.split(text), source.__contains__, argument=f"sentences[{index}]",
                              text=sentences[index]) for index, text in enumerate(normalized)]
    encoded = [source.encode(text) for text in normalized]
    beam = method == "beam"
    search = {"method": method, "max_new_tokens": max_length,
              "beam_size": (DEFAULT_BEAM_SIZE if beam_size is None else beam_size) if beam else None,
              "length_penalty": length_penalty if beam else None}
    parts = [_translate_batch(translator, encoded[start:start + batch_size], search)
             for start in range(0, len(encoded), batch_size)]
    columns = [[row for part in parts for row in part[field]] for field in range(5)]
    return Translations(*columns, unknown)


def _translate_batch(translator: Translator, encoded: list[list[int]], search: dict) -> tuple[list, ...]:
    """One batch of encoded source sentences -> (texts, source tokens, output tokens, attention, scores)."""
    from rnnkit.decoding import ban_special_tokens, generate

    model, source, target = translator.model, translator.source, translator.target
    device = next(model.parameters()).device
    rows = [torch.tensor(ids, dtype=torch.long) for ids in encoded]
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    batch = pad_sequence(rows, batch_first=True).to(device)  # (B, S)
    prompts = torch.full((len(rows), 1), target.start_id, dtype=torch.long, device=device)
    result = generate(model.decoder(batch, lengths), prompts, eos_id=target.end_id,
                      processors=[ban_special_tokens(target)], **search)
    outputs = [result.tokens[i, : int(result.lengths[i])].tolist() for i in range(len(rows))]
    weights = attention_weights(model, batch, lengths, outputs, target.start_id)
    texts = [detokenize(target.decode(ids), translator.target_language) for ids in outputs]
    source_tokens = [[source.id_to_token(t) for t in ids] for ids in encoded]
    output_tokens = [[target.id_to_token(t) for t in ids] for ids in outputs]
    return (texts, source_tokens, output_tokens, [weights[i] for i in range(len(outputs))],
            [float(result.scores[i]) for i in range(len(outputs))])


def attention_weights(model: Any, source: Tensor, source_lengths: Tensor, outputs: list[list[int]],
                      start_id: int) -> list[Tensor | None]:
    """Teacher-forced pass over given outputs -> per row the weights (len(output), source length), or None
    for a model without attention."""
    if model.attention is None or not outputs:
        return [None] * len(outputs)
    inputs = [torch.tensor([start_id, *ids[:-1]] if ids else [start_id], dtype=torch.long) for ids in outputs]
    out = model(source, pad_sequence(inputs, batch_first=True).to(source.device), source_lengths=source_lengths)
    return [out.attention[i, : max(len(ids), 1), : int(source_lengths[i])].cpu() for i, ids in enumerate(outputs)]
