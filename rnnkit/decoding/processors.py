"""Logits processors: small callables that reshape the next-token scores before a token is chosen.

A processor is ``(tokens (B, t), logits (B, V)) -> logits (B, V)``:

* ``tokens`` are the tokens generated so far for each row (the prompt is not included, so ``t`` is the
  step number and is the same for every row). In beam search the rows are the beams, prompt-major: row
  ``r`` belongs to prompt ``r // (rows // num_prompts)``.
* ``logits`` are unnormalised scores (log-probabilities are fine too); ``-inf`` forbids a token.

The built-in processors are small frozen dataclasses, checked when they are made and shown by their repr
(``Temperature(value=0.8)``); the lower-case names (:func:`temperature`, :func:`top_k`, ...) make them. Any
function with the same signature is a processor too: a step-dependent constraint (a verse form, an
acrostic, forced opening tokens) is just a function that looks at ``tokens`` and masks the logits.
Processors are composed in order with :func:`compose` or by passing a list to ``generate``. The usual
order is: constraints (:func:`ban_tokens`, :func:`allow_tokens`, :func:`min_length`),
:func:`repetition_penalty`, :func:`temperature`, then the truncations :func:`top_k` and :func:`top_p`.

Rows that have already finished (emitted EOS, or a finished prompt in beam search) are padded with the
EOS id and their processed scores are ignored, so a processor must accept any token history there.

Example:
    >>> import torch
    >>> process = compose([temperature(0.7), top_k(2)])
    >>> process
    Compose(processors=(Temperature(value=0.7), TopK(k=2)))
    >>> process(torch.empty(1, 0, dtype=torch.long), torch.tensor([[1.0, 3.0, 2.0]]))
    tensor([[  -inf, 4.2857, 2.8571]])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from rnnkit.decoding.checks import check_float, check_int, check_token_ids, check_vocabulary

__all__ = [
    "Processor",
    "AllowTokens",
    "BanTokens",
    "Compose",
    "MinLength",
    "RepetitionPenalty",
    "Temperature",
    "TopK",
    "TopP",
    "compose",
    "temperature",
    "top_k",
    "top_p",
    "repetition_penalty",
    "ban_tokens",
    "ban_special_tokens",
    "allow_tokens",
    "min_length",
    "processed_log_probs",
]

Processor = Callable[[Tensor, Tensor], Tensor]  # (tokens (B, t), logits (B, V)) -> (B, V)


@dataclass(frozen=True)
class Compose:
    """One processor that applies ``processors`` in order (an empty list leaves the logits unchanged)."""

    processors: tuple[Processor, ...]

    def __post_init__(self):
        processors = self.processors
        if callable(processors) or not isinstance(processors, Iterable):
            raise TypeError(
                f"compose: expected a list of processors, got {type(processors).__name__}; "
                "wrap a single processor in a list"
            )
        chain = tuple(processors)
        for index, processor in enumerate(chain):
            if not callable(processor):
                raise TypeError(
                    f"compose: processor {index} must be callable as (tokens, logits) -> logits, "
                    f"got {type(processor).__name__}"
                )
        object.__setattr__(self, "processors", chain)

    def __call__(self, tokens: Tensor, logits: Tensor) -> Tensor:
        for processor in self.processors:
            logits = processor(tokens, logits)
        return logits


@dataclass(frozen=True)
class Temperature:
    """Divide the logits by ``value`` (> 0): below 1 sharpens the distribution, above 1 flattens it."""

    value: float

    def __post_init__(self):
        value = check_float("temperature", self.value)
        if value == 0:
            raise ValueError(
                "temperature: expected a value > 0, got 0; for deterministic decoding use method='greedy' "
                "(or top_k(1))"
            )
        if value < 0:
            raise ValueError(f"temperature: expected a value > 0, got {value}")
        object.__setattr__(self, "value", value)

    def __call__(self, tokens: Tensor, logits: Tensor) -> Tensor:
        return logits / self.value


@dataclass(frozen=True)
class TopK:
    """Keep the ``k`` highest-scoring tokens (ties with the k-th are kept), set the rest to -inf."""

    k: int

    def __post_init__(self):
        check_int("top_k", self.k, 1)

    def __call__(self, tokens: Tensor, logits: Tensor) -> Tensor:
        kth = logits.topk(min(self.k, logits.size(-1)), dim=-1).values[..., -1:]  # (B, 1)
        return logits.masked_fill(logits < kth, float("-inf"))


@dataclass(frozen=True)
class TopP:
    """Nucleus filtering (Holtzman et al. 2020, arXiv:1904.09751, section 3.1): keep the smallest set of
    most probable tokens whose probabilities sum to at least ``p`` (0 < p <= 1), set the rest to -inf.

    The most probable token is always kept; ``p = 1`` keeps every token.
    """

    p: float

    def __post_init__(self):
        p = check_float("top_p", self.p)
        if not 0 < p <= 1:
            raise ValueError(f"top_p: expected 0 < p <= 1, got {p}; use p=1 to disable nucleus filtering")
        object.__setattr__(self, "p", p)

    def __call__(self, tokens: Tensor, logits: Tensor) -> Tensor:
        if self.p == 1:
            return logits
        sorted_logits, order = logits.sort(dim=-1, descending=True)  # (B, V)
        probs = sorted_logits.softmax(dim=-1)
        before = probs.cumsum(dim=-1) - probs  # probability mass of the tokens ranked above each token
        drop_sorted = before >= self.p  # a token is needed only while the mass above it is still < p
        drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
        return logits.masked_fill(drop, float("-inf"))


@dataclass(frozen=True)
class RepetitionPenalty:
    """Discourage tokens already generated (CTRL, Keskar et al. 2019, arXiv:1909.05858, section 4.1).

    CTRL divides the logits of generated tokens by ``penalty`` (it suggests 1.2). Dividing a negative
    logit would raise it, so here positive logits are divided and negative ones multiplied by ``penalty``:
    with ``penalty > 1`` a repeated token always becomes less likely, ``penalty = 1`` changes nothing and
    ``penalty < 1`` favours repetition. Each distinct token is penalised once, however often it occurred.
    """

    penalty: float

    def __post_init__(self):
        penalty = check_float("repetition_penalty", self.penalty)
        if penalty <= 0:
            raise ValueError(
                f"repetition_penalty: expected a value > 0 (1 disables it, 1.2 is CTRL's suggestion), got {penalty}"
            )
        object.__setattr__(self, "penalty", penalty)

    def __call__(self, tokens: Tensor, logits: Tensor) -> Tensor:
        if tokens.size(1) == 0:
            return logits
        seen = logits.gather(-1, tokens)  # (B, t)
        seen = torch.where(seen > 0, seen / self.penalty, seen * self.penalty)
        return logits.scatter(-1, tokens, seen)


@dataclass(frozen=True)
class BanTokens:
    """Never generate the given token ids (their logits become -inf), e.g. padding or unknown."""

    token_ids: tuple[int, ...]
    # the ids as a tensor, per (device, vocabulary size): made (and range-checked) at the first call there
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "token_ids", tuple(check_token_ids("ban_tokens", self.token_ids)))

    def __call__(self, tokens: Tensor, logits: Tensor) -> Tensor:
        key = (logits.device, logits.size(-1))
        if key not in self._cache:
            check_vocabulary("ban_tokens", self.token_ids, logits.size(-1))
            self._cache[key] = torch.tensor(self.token_ids, dtype=torch.long, device=logits.device)
        banned = self._cache[key].expand(logits.size(0), -1)  # (B, n)
        return logits.scatter(-1, banned, float("-inf"))


@dataclass(frozen=True, eq=False)  # eq=False: a tensor field has no boolean ==; processors compare by identity
class AllowTokens:
    """Generate only allowed tokens: every other logit becomes -inf.

    Args:
        allowed: a bool tensor (V,) or (B, V), True where a token is allowed, or a function
            ``tokens (B, t) -> bool (V,) or (B, V)`` for constraints that change with the step or the
            tokens generated so far (a verse form: characters, then a comma, ...).
    """

    allowed: Tensor | Callable[[Tensor], Tensor]

    def __post_init__(self):
        allowed = self.allowed
        if not callable(allowed) and not isinstance(allowed, Tensor):
            raise TypeError(
                f"allow_tokens: expected a bool tensor (V,) or (B, V) or a function tokens -> mask, "
                f"got {type(allowed).__name__}"
            )
        if isinstance(allowed, Tensor) and allowed.dtype != torch.bool:
            raise TypeError(f"allow_tokens: expected a bool mask, got dtype {allowed.dtype}")

    def __repr__(self) -> str:
        allowed = self.allowed
        if isinstance(allowed, Tensor):
            shown = f"<bool mask {tuple(allowed.shape)}, {int(allowed.sum())} allowed>"
        else:
            shown = getattr(allowed, "__qualname__", None) or repr(allowed)
        return f"AllowTokens(allowed={shown})"

    def __call__(self, tokens: Tensor, logits: Tensor) -> Tensor:
        mask = self.allowed(tokens) if callable(self.allowed) else self.allowed
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            raise TypeError(f"allow_tokens: the mask function must return a bool tensor, got {mask!r:.80}")
        if mask.shape not in (logits.shape[-1:], logits.shape):
            raise ValueError(
                f"allow_tokens: expected a mask of shape ({logits.size(-1)},) or {tuple(logits.shape)}, "
                f"got {tuple(mask.shape)}"
            )
        return logits.masked_fill(~mask.to(logits.device), float("-inf"))


@dataclass(frozen=True)
class MinLength:
    """Forbid ``eos_id`` until ``length`` tokens have been generated (EOS not counted)."""

    length: int
    eos_id: int

    def __post_init__(self):
        check_int("min_length", self.length, 0)
        check_int("min_length: eos_id", self.eos_id, 0)

    def __call__(self, tokens: Tensor, logits: Tensor) -> Tensor:
        if tokens.size(1) >= self.length:
            return logits
        check_vocabulary("min_length: eos_id", [self.eos_id], logits.size(-1))
        logits = logits.clone()
        logits[:, self.eos_id] = float("-inf")
        return logits


# The names generate's callers write: processors=[temperature(0.8), top_p(0.9)].
compose = Compose
temperature = Temperature
top_k = TopK
top_p = TopP
repetition_penalty = RepetitionPenalty
ban_tokens = BanTokens
allow_tokens = AllowTokens
min_length = MinLength


def ban_special_tokens(tokenizer) -> BanTokens:
    """Never generate a special token but the end token: padding, ``<unk>``, the start token and any extra
    specials. ``tokenizer`` is an rnnkit.text.Tokenizer (its specials are ids ``0 .. num_specials - 1``)."""
    return BanTokens([i for i in range(tokenizer.num_specials) if i != tokenizer.end_id])


def processed_log_probs(processor: Processor, tokens: Tensor, logits: Tensor) -> Tensor:
    """``log_softmax(processor(tokens, logits))``, checking that the processor kept the shape (B, V)."""
    processed = processor(tokens, logits)
    if not isinstance(processed, Tensor) or processed.shape != logits.shape:
        got = tuple(processed.shape) if isinstance(processed, Tensor) else type(processed).__name__
        raise ValueError(f"processors: expected logits of shape {tuple(logits.shape)} back, got {got}")
    return torch.log_softmax(processed, dim=-1)
