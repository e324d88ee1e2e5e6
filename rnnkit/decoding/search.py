"""Greedy decoding, sampling and beam search over a recurrent language model, batched and incremental.

Every method runs the (padded) prompts through the model once, then feeds one token per row and carries
the recurrent state; the prefix is never rerun. At each step the processors turn the last logits into
scores, ``log_softmax`` turns those into log-probabilities, and the method picks:

* ``"greedy"``: the most probable token.
* ``"sample"``: a token drawn from the distribution (``seed`` makes it reproducible).
* ``"beam"``: the ``beam_size`` best continuations of all open hypotheses (see :mod:`rnnkit.decoding.beam`).

A row stops at ``eos_id`` (the EOS is part of the output) or after ``max_new_tokens`` tokens.
"""

from __future__ import annotations

import difflib
import inspect
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_sequence

from rnnkit.decoding.beam import beam_search, length_penalty_factor
from rnnkit.decoding.checks import check_eos, check_int
from rnnkit.decoding.processors import Processor, compose, processed_log_probs
from rnnkit.decoding.protocol import LanguageModel, advance, prefill
from rnnkit.decoding.results import Generation, Step
from rnnkit.sequences import check_lengths

__all__ = ["METHODS", "Generation", "Step", "generate", "stream", "beam_search", "length_penalty_factor"]

logger = logging.getLogger(__name__)

METHODS = ("greedy", "sample", "beam")
DEFAULT_BEAM_SIZE = 4
DEFAULT_LENGTH_PENALTY = 1.0


def generate(
    model: LanguageModel,
    prompts: Tensor | Sequence[Sequence[int] | Tensor],
    lengths: Tensor | Sequence[int] | None = None,
    *,
    method: str = "greedy",
    max_new_tokens: int,
    processors: Processor | Iterable[Processor] | None = None,
    eos_id: int | None = None,
    beam_size: int | None = None,
    length_penalty: float | None = None,
    seed: int | None = None,
) -> Generation:
    """Continue each prompt with up to ``max_new_tokens`` tokens.

    Args:
        model: a language model, ``logits, state = model(tokens, state, lengths=None)`` (see
            :mod:`rnnkit.decoding.protocol`). Call ``model.eval()`` first: dropout stays active otherwise.
        prompts: a LongTensor (B, T), padded when ``lengths`` is given, or a list of B token-id lists or
            1-D tensors of any lengths >= 1 (padded here). A prompt usually starts with the start token.
        lengths: (B,) valid tokens per row of a padded ``prompts`` tensor; None: every row has T.
        method: ``"greedy"`` | ``"sample"`` | ``"beam"``.
        max_new_tokens: the most tokens generated per row (EOS included).
        processors: a processor or a list applied in order to the logits at every step (see
            :mod:`rnnkit.decoding.processors`), e.g. ``[temperature(0.8), top_p(0.9)]``.
        eos_id: the end-of-sequence token: a row stops after generating it. None: rows never stop early.
        beam_size: hypotheses kept per prompt (``method="beam"`` only; default 4).
        length_penalty: GNMT's alpha (``method="beam"`` only; default 1.0; 0 ranks by log-probability).
        seed: seeds a private ``torch.Generator`` so sampling gives the same tokens every time (None: the
            global RNG). Greedy and beam search are deterministic and ignore it.

    Returns:
        A :class:`Generation`: tokens (B, N), lengths (B,), scores (B,), log_probs (B, N), finished (B,),
        with N the longest row's length (at most ``max_new_tokens``).

    Example:
        >>> from rnnkit.decoding import top_p
        >>> out = generate(model, [[bos], [bos, 17, 4]], method="sample", max_new_tokens=20,
        ...                processors=[top_p(0.9)], eos_id=eos, seed=0)  # doctest: +SKIP
        >>> out.tokens[1, : out.lengths[1]].tolist()  # doctest: +SKIP
    """
    plan = _prepare(model, prompts, lengths, method, max_new_tokens, processors, eos_id, beam_size,
                    length_penalty, seed)
    if plan.method == "beam":
        return _beam_search(model, plan)
    steps = list(_stream_tokens(model, plan))
    tokens = torch.stack([step.tokens for step in steps], dim=1)  # (B, N)
    log_probs = torch.stack([step.log_probs for step in steps], dim=1)
    active = torch.stack([step.active for step in steps], dim=1)
    finished = ((tokens == eos_id) & active).any(dim=1) if eos_id is not None else torch.zeros_like(active[:, 0])
    return Generation(tokens, active.sum(dim=1), log_probs.sum(dim=1), log_probs, finished)


def stream(model: LanguageModel, prompts: Tensor | Sequence[Sequence[int] | Tensor],
           lengths: Tensor | Sequence[int] | None = None, **options: Any) -> Iterator[Step]:
    """Like :func:`generate`, with the same arguments, but yields a :class:`Step` (one token per row) as
    soon as it is chosen.

    Greedy and sampling yield each token right after the model step that produced it; the iteration ends
    when every row has emitted ``eos_id`` or after ``max_new_tokens`` steps. Beam search cannot know its
    tokens before the search ends (a later step can overturn the leading hypothesis), so with
    ``method="beam"`` the whole search runs on the first ``next()`` and the best hypotheses are then
    yielded one token at a time. Arguments are checked here, before the first ``next()``.

    Example:
        >>> for step in stream(model, [[bos]], max_new_tokens=50, eos_id=eos):  # doctest: +SKIP
        ...     print(tokenizer.decode([int(step.tokens[0])]), end="", flush=True)
    """
    try:
        arguments = _GENERATE_SIGNATURE.bind(model, prompts, lengths, **options)
    except TypeError as error:
        raise TypeError(f"stream() {error}") from None
    arguments.apply_defaults()
    plan = _prepare(**arguments.arguments)
    if plan.method != "beam":
        return _stream_tokens(model, plan)
    return _stream_result(model, plan)


_GENERATE_SIGNATURE = inspect.signature(generate)
stream.__signature__ = _GENERATE_SIGNATURE.replace(return_annotation="Iterator[Step]")  # what help() shows


class _Plan(NamedTuple):
    method: str
    prompts: Tensor  # (B, T) long
    lengths: Tensor | None  # CPU int64 (B,), None when no row is padded
    processor: Processor
    max_new_tokens: int
    eos_id: int | None
    beam_size: int
    length_penalty: float
    generator: torch.Generator | None


def _prepare(model, prompts, lengths, method, max_new_tokens, processors, eos_id, beam_size, length_penalty,
             seed) -> _Plan:
    """Check the public arguments once and put them in the form the loops use."""
    if not callable(model):
        raise TypeError(f"model: expected a callable language model, got {type(model).__name__}")
    if isinstance(model, nn.Module) and model.training:
        logger.warning("generate: the model is in training mode, so dropout is active; call model.eval() first")
    if method not in METHODS:
        close = difflib.get_close_matches(str(method), METHODS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}{hint}")
    check_int("max_new_tokens", max_new_tokens, 1)
    if eos_id is not None:
        check_int("eos_id", eos_id, 0)
    if seed is not None:
        check_int("seed", seed, 0)
    if method != "beam":
        for name, value in (("beam_size", beam_size), ("length_penalty", length_penalty)):
            if value is not None:
                raise ValueError(f"{name}: only used by method='beam', got {name}={value!r} with method={method!r}")
    beam_size = DEFAULT_BEAM_SIZE if beam_size is None else check_int("beam_size", beam_size, 1)
    if length_penalty is None:
        length_penalty = DEFAULT_LENGTH_PENALTY
    elif not isinstance(length_penalty, (int, float)) or isinstance(length_penalty, bool):
        raise TypeError(f"length_penalty: expected a number (GNMT's alpha), got {type(length_penalty).__name__}")
    elif not abs(length_penalty) < float("inf"):
        raise ValueError(f"length_penalty: expected a finite number, got {length_penalty}")

    if processors is None:
        processors = []
    elif callable(processors):
        processors = [processors]
    elif not isinstance(processors, Iterable):
        raise TypeError(f"processors: expected a processor or a list of processors, got {type(processors).__name__}")
    processor = compose(processors)

    prompts, lengths = _prepare_prompts(model, prompts, lengths)
    generator = None
    if seed is not None and method == "sample":
        generator = torch.Generator(device=prompts.device).manual_seed(seed)
    return _Plan(method, prompts, lengths, processor, max_new_tokens, eos_id, beam_size, float(length_penalty),
                 generator)


def _prepare_prompts(model, prompts, lengths) -> tuple[Tensor, Tensor | None]:
    """prompts -> LongTensor (B, T) and CPU lengths (B,), or None when no row is padded."""
    if isinstance(prompts, Tensor):
        if prompts.dtype.is_floating_point or prompts.dtype.is_complex or prompts.dtype == torch.bool:
            raise TypeError(f"prompts: expected an integer tensor of token ids, got dtype {prompts.dtype}")
        if prompts.dim() != 2:
            fix = "; for one prompt use prompts[None]" if prompts.dim() == 1 else ""
            raise ValueError(f"prompts: expected a (B, T) tensor, got shape {tuple(prompts.shape)}{fix}")
        if prompts.size(0) == 0 or prompts.size(1) == 0:
            raise ValueError(
                f"prompts: expected at least one prompt of at least one token (e.g. the start token), "
                f"got shape {tuple(prompts.shape)}"
            )
        prompts = prompts.long()
        if lengths is not None:
            lengths = check_lengths(lengths, prompts.size(0), prompts.size(1), "lengths")
    elif isinstance(prompts, (list, tuple)):
        if lengths is not None:
            raise ValueError(
                "lengths: only used with a padded (B, T) tensor of prompts; a list of prompts gives its own "
                "lengths, so drop lengths="
            )
        if not prompts:
            raise ValueError("prompts: expected at least one prompt, got an empty list")
        device = _model_device(model)
        rows = []
        for index, prompt in enumerate(prompts):
            row = prompt if isinstance(prompt, Tensor) else torch.tensor(prompt, dtype=torch.long)
            if row.dim() != 1 or row.numel() == 0 or row.dtype.is_floating_point or row.dtype == torch.bool:
                raise ValueError(
                    f"prompts: prompt {index} must be a non-empty sequence of int token ids (e.g. start with "
                    f"the start token), got {prompt!r:.80}"
                )
            rows.append(row.to(device, torch.long) if device is not None else row.long())
        lengths = torch.tensor([row.numel() for row in rows], dtype=torch.long)
        prompts = pad_sequence(rows, batch_first=True)  # (B, T), zeros past each length
    else:
        raise TypeError(
            f"prompts: expected a (B, T) LongTensor or a list of token-id lists, got {type(prompts).__name__}"
        )
    if int(prompts.min()) < 0:
        raise ValueError(f"prompts: token ids must be >= 0, got {int(prompts.min())}")
    if lengths is not None and bool((lengths == prompts.size(1)).all()):
        lengths = None  # nothing padded: the model takes the plain path
    return prompts, lengths


def _model_device(model) -> torch.device | None:
    if isinstance(model, nn.Module):
        for parameter in model.parameters():
            return parameter.device
    return None


@torch.no_grad()
def _stream_tokens(model: LanguageModel, plan: _Plan) -> Iterator[Step]:
    """Greedy or sampled tokens, one Step per model step.

    At batch 1 a model step is cheap, so this loop keeps its own work per step small (docs/performance.md):
    rows are masked only once some row has finished, and greedy checks for rows with nothing left to
    choose on the chosen log-probabilities (B values) rather than on the whole (B, V) distribution."""
    logits, state = prefill(model, plan.prompts, plan.lengths)  # (B, V)
    batch, vocab = logits.shape
    if plan.eos_id is not None:
        check_eos(plan.eos_id, vocab)
    pad = plan.eos_id if plan.eos_id is not None else 0
    history = torch.zeros(batch, plan.max_new_tokens, dtype=torch.long, device=logits.device)  # (B, N)
    active = torch.ones(batch, dtype=torch.bool, device=logits.device)
    all_active = True
    for step in range(plan.max_new_tokens):
        log_probs = processed_log_probs(plan.processor, history[:, :step], logits)  # (B, V)
        if plan.method == "sample":
            _check_choice(active & ~(log_probs > float("-inf")).any(dim=-1), step)  # multinomial needs a row
            probs = log_probs.exp()
            if not all_active:
                probs.masked_fill_(~active[:, None], 1.0)  # finished rows: any valid distribution
            token = torch.multinomial(probs, 1, generator=plan.generator).squeeze(1)  # (B,)
            chosen = log_probs.gather(1, token[:, None]).squeeze(1)
        else:
            chosen, token = log_probs.max(dim=-1)
            dead = ~(chosen > float("-inf"))  # -inf or NaN: the row had nothing left to choose
            _check_choice(dead if all_active else active & dead, step)
        if not all_active:
            token = token.masked_fill(~active, pad)
            chosen = chosen.masked_fill(~active, 0.0)
        history[:, step] = token
        yield Step(token, chosen, active)
        if step + 1 == plan.max_new_tokens:
            return
        if plan.eos_id is not None:
            active = active & (token != plan.eos_id)  # a new tensor: the yielded one stays as it was
            remaining = int(active.sum())
            if remaining == 0:
                return
            all_active = remaining == batch
        logits, state = advance(model, token, state)


def _check_choice(stuck: Tensor, step: int) -> None:
    """Raise when a row still generating has no token with a finite score left (the processors masked all)."""
    if bool(stuck.any()):
        raise ValueError(
            f"processors: every token of row {int(stuck.nonzero()[0])} has score -inf (or NaN) at step "
            f"{step}; the constraints leave nothing to generate"
        )


def _beam_search(model: LanguageModel, plan: _Plan) -> Generation:
    return beam_search(model, plan.prompts, plan.lengths, beam_size=plan.beam_size,
                       max_new_tokens=plan.max_new_tokens, processors=plan.processor, eos_id=plan.eos_id,
                       length_penalty=plan.length_penalty)


def _stream_result(model: LanguageModel, plan: _Plan) -> Iterator[Step]:
    result = _beam_search(model, plan)
    for step in range(result.tokens.size(1)):
        yield Step(result.tokens[:, step], result.log_probs[:, step], step < result.lengths)
