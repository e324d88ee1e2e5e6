"""Logits processors: small callables that reshape the next-token scores before a token is chosen.

A processor is ``(tokens (B, t), logits (B, V)) -> logits (B, V)``:

* ``tokens`` are the tokens generated so far for each row (the prompt is not included, so ``t`` is the
  step number and is the same for every row). In beam search the rows are the beams, prompt-major: row
  ``r`` belongs to prompt ``r // (rows // num_prompts)``.
* ``logits`` are unnormalised scores (log-probabilities are fine too); ``-inf`` forbids a token.

Processors are plain functions, composed in order with :func:`compose` or by passing a list to
``generate``. A step-dependent constraint (a verse form, an acrostic, forced opening tokens) is just a
processor that looks at ``tokens`` and masks the logits. The usual order is: constraints
(:func:`ban_tokens`, :func:`allow_tokens`, :func:`min_length`), :func:`repetition_penalty`,
:func:`temperature`, then the truncations :func:`top_k` and :func:`top_p`.

Rows that have already finished (emitted EOS, or a finished prompt in beam search) are padded with the
EOS id and their processed scores are ignored, so a processor must accept any token history there.

Example:
    >>> import torch
    >>> process = compose([temperature(0.7), top_k(2)])
    >>> process(torch.empty(1, 0, dtype=torch.long), torch.tensor([[1.0, 3.0, 2.0]]))
    tensor([[  -inf, 4.2857, 2.8571]])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor

__all__ = [
    "Processor",
    "compose",
    "temperature",
    "top_k",
    "top_p",
    "repetition_penalty",
    "ban_tokens",
    "ban_special_tokens",
    "allow_tokens",
    "min_length",
]

Processor = Callable[[Tensor, Tensor], Tensor]  # (tokens (B, t), logits (B, V)) -> (B, V)


def _check_int(name: str, value: object, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name}: expected an int >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return value


def _check_float(name: str, value: object) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value}")
    return float(value)


def _check_token_ids(name: str, token_ids: Iterable[int]) -> list[int]:
    if isinstance(token_ids, Tensor):
        token_ids = token_ids.flatten().tolist()
    if isinstance(token_ids, (str, bytes)) or not isinstance(token_ids, Iterable):
        raise TypeError(f"{name}: expected an iterable of token ids (ints), got {type(token_ids).__name__}")
    ids = list(token_ids)
    for value in ids:
        _check_int(f"{name}: token id", value, 0)
    return ids


def _check_vocabulary(name: str, ids: Sequence[int], vocab_size: int) -> None:
    if ids and max(ids) >= vocab_size:
        raise ValueError(f"{name}: token id {max(ids)} is out of range for a vocabulary of {vocab_size} tokens")


def compose(processors: Iterable[Processor]) -> Processor:
    """One processor that applies ``processors`` in order (an empty list leaves the logits unchanged)."""
    if callable(processors) or not isinstance(processors, Iterable):
        raise TypeError(
            f"compose: expected a list of processors, got {type(processors).__name__}; "
            "wrap a single processor in a list"
        )
    chain = list(processors)
    for index, processor in enumerate(chain):
        if not callable(processor):
            raise TypeError(
                f"compose: processor {index} must be callable as (tokens, logits) -> logits, "
                f"got {type(processor).__name__}"
            )

    def apply(tokens: Tensor, logits: Tensor) -> Tensor:
        for processor in chain:
            logits = processor(tokens, logits)
        return logits

    return apply


def temperature(value: float) -> Processor:
    """Divide the logits by ``value`` (> 0): below 1 sharpens the distribution, above 1 flattens it."""
    value = _check_float("temperature", value)
    if value == 0:
        raise ValueError(
            "temperature: expected a value > 0, got 0; for deterministic decoding use method='greedy' "
            "(or top_k(1))"
        )
    if value < 0:
        raise ValueError(f"temperature: expected a value > 0, got {value}")

    def apply(tokens: Tensor, logits: Tensor) -> Tensor:
        return logits / value

    return apply


def top_k(k: int) -> Processor:
    """Keep the ``k`` highest-scoring tokens (ties with the k-th are kept), set the rest to -inf."""
    k = _check_int("top_k", k, 1)

    def apply(tokens: Tensor, logits: Tensor) -> Tensor:
        kth = logits.topk(min(k, logits.size(-1)), dim=-1).values[..., -1:]  # (B, 1)
        return logits.masked_fill(logits < kth, float("-inf"))

    return apply


def top_p(p: float) -> Processor:
    """Nucleus filtering (Holtzman et al. 2020, arXiv:1904.09751, section 3.1): keep the smallest set of
    most probable tokens whose probabilities sum to at least ``p`` (0 < p <= 1), set the rest to -inf.

    The most probable token is always kept; ``p = 1`` keeps every token.
    """
    p = _check_float("top_p", p)
    if not 0 < p <= 1:
        raise ValueError(f"top_p: expected 0 < p <= 1, got {p}; use p=1 to disable nucleus filtering")

    def apply(tokens: Tensor, logits: Tensor) -> Tensor:
        if p == 1:
            return logits
        sorted_logits, order = logits.sort(dim=-1, descending=True)  # (B, V)
        probs = sorted_logits.softmax(dim=-1)
        before = probs.cumsum(dim=-1) - probs  # probability mass of the tokens ranked above each token
        drop_sorted = before >= p  # a token is needed only while the mass above it is still < p
        drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
        return logits.masked_fill(drop, float("-inf"))

    return apply


def repetition_penalty(penalty: float) -> Processor:
    """Discourage tokens already generated (CTRL, Keskar et al. 2019, arXiv:1909.05858, section 4.1).

    CTRL divides the logits of generated tokens by ``penalty`` (it suggests 1.2). Dividing a negative
    logit would raise it, so here positive logits are divided and negative ones multiplied by ``penalty``:
    with ``penalty > 1`` a repeated token always becomes less likely, ``penalty = 1`` changes nothing and
    ``penalty < 1`` favours repetition. Each distinct token is penalised once, however often it occurred.
    """
    penalty = _check_float("repetition_penalty", penalty)
    if penalty <= 0:
        raise ValueError(
            f"repetition_penalty: expected a value > 0 (1 disables it, 1.2 is CTRL's suggestion), got {penalty}"
        )

    def apply(tokens: Tensor, logits: Tensor) -> Tensor:
        if tokens.size(1) == 0:
            return logits
        seen = logits.gather(-1, tokens)  # (B, t)
        seen = torch.where(seen > 0, seen / penalty, seen * penalty)
        return logits.scatter(-1, tokens, seen)

    return apply


def ban_tokens(token_ids: Iterable[int]) -> Processor:
    """Never generate the given token ids (their logits become -inf), e.g. padding or unknown."""
    ids = _check_token_ids("ban_tokens", token_ids)
    cache: dict[tuple, Tensor] = {}

    def apply(tokens: Tensor, logits: Tensor) -> Tensor:
        key = (logits.device, logits.size(-1))
        if key not in cache:
            _check_vocabulary("ban_tokens", ids, logits.size(-1))
            cache[key] = torch.tensor(ids, dtype=torch.long, device=logits.device)
        banned = cache[key].expand(logits.size(0), -1)  # (B, n)
        return logits.scatter(-1, banned, float("-inf"))

    return apply


def ban_special_tokens(tokenizer) -> Processor:
    """Never generate a special token but the end token: padding, ``<unk>``, the start token and any extra
    specials. ``tokenizer`` is an rnnkit.text.Tokenizer (its specials are ids ``0 .. num_specials - 1``)."""
    return ban_tokens([i for i in range(tokenizer.num_specials) if i != tokenizer.end_id])


def allow_tokens(allowed: Tensor | Callable[[Tensor], Tensor]) -> Processor:
    """Generate only allowed tokens: every other logit becomes -inf.

    Args:
        allowed: a bool tensor (V,) or (B, V), True where a token is allowed, or a function
            ``tokens (B, t) -> bool (V,) or (B, V)`` for constraints that change with the step or the
            tokens generated so far (a verse form: characters, then a comma, ...).
    """
    if not callable(allowed) and not isinstance(allowed, Tensor):
        raise TypeError(
            f"allow_tokens: expected a bool tensor (V,) or (B, V) or a function tokens -> mask, "
            f"got {type(allowed).__name__}"
        )
    if isinstance(allowed, Tensor) and allowed.dtype != torch.bool:
        raise TypeError(f"allow_tokens: expected a bool mask, got dtype {allowed.dtype}")

    def apply(tokens: Tensor, logits: Tensor) -> Tensor:
        mask = allowed(tokens) if callable(allowed) else allowed
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            raise TypeError(f"allow_tokens: the mask function must return a bool tensor, got {mask!r:.80}")
        if mask.shape not in (logits.shape[-1:], logits.shape):
            raise ValueError(
                f"allow_tokens: expected a mask of shape ({logits.size(-1)},) or {tuple(logits.shape)}, "
                f"got {tuple(mask.shape)}"
            )
        return logits.masked_fill(~mask.to(logits.device), float("-inf"))

    return apply


def min_length(length: int, eos_id: int) -> Processor:
    """Forbid ``eos_id`` until ``length`` tokens have been generated (EOS not counted)."""
    length = _check_int("min_length", length, 0)
    eos_id = _check_int("min_length: eos_id", eos_id, 0)

    def apply(tokens: Tensor, logits: Tensor) -> Tensor:
        if tokens.size(1) >= length:
            return logits
        _check_vocabulary("min_length: eos_id", [eos_id], logits.size(-1))
        logits = logits.clone()
        logits[:, eos_id] = float("-inf")
        return logits

    return apply
