"""Count-based baselines for the poem model: unigram and interpolated Kneser-Ney bigram, in nats per token.

They score exactly what the poem task's validation loss scores: every sequence is
``[form token, characters (punctuation included)..., </s>]`` and every token after the first is
predicted (the form token is given, as it is to the LSTM), with the same tokenizer (rare characters
are ``<unk>``). ``python benchmarks/poem_baselines.py`` prints both next to each other.

Interpolated Kneser-Ney (Kneser & Ney 1995; the interpolated form of Chen & Goodman 1998, eq. 26)::

    P(w | v) = max(c(v, w) - D, 0) / c(v)  +  D * N1+(v •) / c(v) * P_cont(w)          (c(v) > 0)
    P(w | v) = P_cont(w)                                                               (c(v) = 0)
    P_cont(w) = max(N1+(• w) - D', 0) / N1+(• •)  +  D' * |{w: N1+(• w) > 0}| / N1+(• •) / V

c counts bigram tokens with v as context, N1+(v •) the distinct words after v, N1+(• w) the distinct
contexts before w, N1+(• •) the distinct bigrams; V is the vocabulary size. The discounts are Ney's
estimates D = n1 / (n1 + 2 n2) from the numbers of bigram types seen once (n1) and twice (n2), and D'
the same over the continuation counts N1+(• w).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

from rnnkit.poems.data import poem_form
from rnnkit.text.tokenizer import Tokenizer


def poem_sequences(poems: Sequence[str], tokenizer: Tokenizer) -> list[list[int]]:
    """Each poem as ``[form token, characters..., end]`` ids, as the poem task feeds them."""
    return [
        [tokenizer.token_to_id(poem_form(p).token), *tokenizer.encode(p), tokenizer.end_id] for p in poems
    ]


def ney_discount(counts: Counter) -> float:
    """D = n1 / (n1 + 2 n2) (Ney, Essen & Kneser 1994); 0.5 when there are no singletons or doubletons."""
    n1 = sum(1 for c in counts.values() if c == 1)
    n2 = sum(1 for c in counts.values() if c == 2)
    return n1 / (n1 + 2 * n2) if n1 + n2 else 0.5


class UnigramModel:
    """P(w) = (c(w) + alpha) / (N + alpha V) over the predicted tokens (add-alpha; alpha=0 is the MLE)."""

    def __init__(self, sequences: Sequence[Sequence[int]], vocab_size: int, alpha: float = 1.0):
        if alpha < 0:
            raise ValueError(f"alpha: expected a value >= 0, got {alpha}")
        self.counts = Counter(t for s in sequences for t in s[1:])
        self.total = sum(self.counts.values())
        self.vocab_size, self.alpha = vocab_size, alpha

    def prob(self, word: int) -> float:
        return (self.counts[word] + self.alpha) / (self.total + self.alpha * self.vocab_size)


class KneserNeyBigramModel:
    """Interpolated Kneser-Ney bigram (see the module docstring)."""

    def __init__(self, sequences: Sequence[Sequence[int]], vocab_size: int, discount: float | None = None):
        self.vocab_size = vocab_size
        self.bigrams = Counter((v, w) for s in sequences for v, w in zip(s[:-1], s[1:], strict=True))
        self.context_counts: Counter = Counter()
        self.followers: Counter = Counter()  # N1+(v •)
        self.continuations: Counter = Counter()  # N1+(• w)
        for (v, w), count in self.bigrams.items():
            self.context_counts[v] += count
            self.followers[v] += 1
            self.continuations[w] += 1
        self.num_types = len(self.bigrams)  # N1+(• •)
        self.discount = ney_discount(self.bigrams) if discount is None else discount
        self.continuation_discount = ney_discount(self.continuations)
        if not 0 <= self.discount <= 1:
            raise ValueError(f"discount: expected a value in [0, 1], got {self.discount}")

    def continuation_prob(self, word: int) -> float:
        d = self.continuation_discount
        seen = max(self.continuations[word] - d, 0.0) / self.num_types
        return seen + d * len(self.continuations) / self.num_types / self.vocab_size

    def prob(self, word: int, context: int) -> float:
        total = self.context_counts[context]
        if total == 0:
            return self.continuation_prob(word)
        d = self.discount
        seen = max(self.bigrams[(context, word)] - d, 0.0) / total
        return seen + d * self.followers[context] / total * self.continuation_prob(word)


class BaselineResult(NamedTuple):
    unigram: float  # nats per predicted token on the validation sequences
    bigram_kn: float
    tokens: int  # predicted validation tokens


def evaluate_baselines(train: Sequence[Sequence[int]], val: Sequence[Sequence[int]], vocab_size: int) -> BaselineResult:
    """Mean negative log-likelihood (nats per token) of the validation tokens after each first token."""
    unigram = UnigramModel(train, vocab_size)
    bigram = KneserNeyBigramModel(train, vocab_size)
    nll_unigram = nll_bigram = 0.0
    count = 0
    for sequence in val:
        for context, word in zip(sequence[:-1], sequence[1:], strict=True):
            nll_unigram -= math.log(unigram.prob(word))
            nll_bigram -= math.log(bigram.prob(word, context))
            count += 1
    if count == 0:
        raise ValueError("val: expected at least one sequence of two or more tokens, got none")
    return BaselineResult(nll_unigram / count, nll_bigram / count, count)
