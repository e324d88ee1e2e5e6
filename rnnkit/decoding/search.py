"""Greedy decoding, sampling and beam search over a recurrent language model, batched and incremental.

Every method runs the (padded) prompts through the model once, then feeds one token per row and carries
the recurrent state; the prefix is never rerun. At each step the processors turn the last logits into
scores, ``log_softmax`` turns those into log-probabilities, and the method picks:

* ``"greedy"``: the most probable token.
* ``"sample"``: a token drawn from the distribution (``seed`` makes it reproducible).
* ``"beam"``: the ``beam_size`` best continuations of all open hypotheses (see :func:`beam_search`).

A row stops at ``eos_id`` (the EOS is part of the output) or after ``max_new_tokens`` tokens.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_sequence

from rnnkit.decoding.checks import check_int
from rnnkit.decoding.processors import Processor, compose, processed_log_probs
from rnnkit.decoding.protocol import LanguageModel, State, reorder_state
from rnnkit.sequences import check_lengths

__all__ = ["METHODS", "Generation", "Step", "generate", "stream", "beam_search", "length_penalty_factor"]

logger = logging.getLogger(__name__)

METHODS = ("greedy", "sample", "beam")
DEFAULT_BEAM_SIZE = 4
DEFAULT_LENGTH_PENALTY = 1.0


class Generation(NamedTuple):
    """The result of :func:`generate`, the same type for every method."""

    tokens: Tensor  # (B, N) int64: generated tokens only (no prompt); past lengths[b] padded with eos_id
    lengths: Tensor  # (B,) int64: tokens generated for each row, its EOS included
    scores: Tensor  # (B,): sum of log_probs of the row; beam search divides it by the length penalty
    log_probs: Tensor  # (B, N): log-probability of each token after the processors; 0 past lengths[b]
    finished: Tensor  # (B,) bool: the row ended with eos_id (False: it reached max_new_tokens)


class Step(NamedTuple):
    """One step of :func:`stream`: the token chosen for every row."""

    tokens: Tensor  # (B,) int64; padding (eos_id) where active is False
    log_probs: Tensor  # (B,): the token's log-probability after the processors; 0 where active is False
    active: Tensor  # (B,) bool: False where the row had already finished before this step


def length_penalty_factor(length: int, alpha: float) -> float:
    """GNMT's length penalty lp(Y) = ((5 + |Y|) / 6) ** alpha (Wu et al. 2016, arXiv:1609.08144,
    section 7); a hypothesis scores log P(Y) / lp(Y). alpha = 0 disables it; larger alpha favours
    longer outputs."""
    return ((5 + length) / 6) ** alpha


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
        return beam_search(model, plan.prompts, plan.lengths, beam_size=plan.beam_size,
                           max_new_tokens=max_new_tokens, processors=plan.processor, eos_id=eos_id,
                           length_penalty=plan.length_penalty)
    steps = list(_stream_tokens(model, plan))
    tokens = torch.stack([step.tokens for step in steps], dim=1)  # (B, N)
    log_probs = torch.stack([step.log_probs for step in steps], dim=1)
    active = torch.stack([step.active for step in steps], dim=1)
    finished = ((tokens == eos_id) & active).any(dim=1) if eos_id is not None else torch.zeros_like(active[:, 0])
    return Generation(tokens, active.sum(dim=1), log_probs.sum(dim=1), log_probs, finished)


def stream(
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
) -> Iterator[Step]:
    """Like :func:`generate`, but yields a :class:`Step` (one token per row) as soon as it is chosen.

    Greedy and sampling yield each token right after the model step that produced it; the iteration ends
    when every row has emitted ``eos_id`` or after ``max_new_tokens`` steps. Beam search cannot know its
    tokens before the search ends (a later step can overturn the leading hypothesis), so with
    ``method="beam"`` the whole search runs on the first ``next()`` and the best hypotheses are then
    yielded one token at a time. Arguments are checked here, before the first ``next()``.

    Example:
        >>> for step in stream(model, [[bos]], max_new_tokens=50, eos_id=eos):  # doctest: +SKIP
        ...     print(tokenizer.decode([int(step.tokens[0])]), end="", flush=True)
    """
    plan = _prepare(model, prompts, lengths, method, max_new_tokens, processors, eos_id, beam_size,
                    length_penalty, seed)
    if plan.method != "beam":
        return _stream_tokens(model, plan)
    return _stream_result(lambda: beam_search(
        model, plan.prompts, plan.lengths, beam_size=plan.beam_size, max_new_tokens=max_new_tokens,
        processors=plan.processor, eos_id=eos_id, length_penalty=plan.length_penalty))


@torch.no_grad()
def beam_search(
    model: LanguageModel,
    prompts: Tensor,
    lengths: Tensor | None,
    *,
    beam_size: int,
    max_new_tokens: int,
    processors: Processor,
    eos_id: int | None,
    length_penalty: float,
) -> Generation:
    """Beam search with GNMT's length penalty; called by :func:`generate` with checked arguments.

    Each prompt keeps ``K = beam_size`` open hypotheses (raw score: the sum of log-probabilities) and the
    best finished one (score: raw score / :func:`length_penalty_factor`). At each step every open
    hypothesis is extended by every token; among the K best of these candidates, those ending in
    ``eos_id`` are finished and kept if they beat the best finished one, and the K best candidates not
    ending in ``eos_id`` become the open hypotheses (so K stay open and a width of 1 is greedy). At
    ``max_new_tokens`` the open hypotheses are finished as they are. A prompt stops early when no open
    hypothesis can beat its best finished one: log-probabilities are <= 0, so an open raw score S can at
    best become S / max(lp) over the lengths still reachable. With K at least the number of possible
    sequences nothing is ever dropped and the result is the exact best sequence (tested by enumeration).

    Args:
        prompts: LongTensor (B, T); lengths: CPU int64 (B,) or None (all T).
        processors: one processor, applied to (B*K, t) histories and (B*K, V) logits, prompt-major.

    Returns:
        A :class:`Generation` holding each prompt's best hypothesis.
    """
    logits, state = _prefill(model, prompts, lengths)  # (B, V)
    batch, vocab = logits.shape
    device, dtype = logits.device, logits.dtype
    if eos_id is not None:
        _check_eos(eos_id, vocab)
    K, N = beam_size, max_new_tokens
    base = torch.arange(batch, device=device) * K  # (B,): row of each prompt's first beam
    rows = torch.arange(batch, device=device).repeat_interleave(K)  # (B*K,)
    logits = logits.index_select(0, rows)  # (B, V) -> (B*K, V): every beam starts from its prompt
    state = reorder_state(state, rows)
    scores = torch.full((batch, K), float("-inf"), dtype=dtype, device=device)
    scores[:, 0] = 0  # one live beam per prompt at first, so the K beams don't start as K copies
    history = torch.zeros(batch * K, N, dtype=torch.long, device=device)  # (B*K, N)
    history_log_probs = torch.zeros(batch * K, N, dtype=dtype, device=device)

    pad = eos_id if eos_id is not None else 0
    best_score = torch.full((batch,), float("-inf"), dtype=dtype, device=device)
    best_tokens = torch.full((batch, N), pad, dtype=torch.long, device=device)
    best_log_probs = torch.zeros(batch, N, dtype=dtype, device=device)
    best_length = torch.zeros(batch, dtype=torch.long, device=device)
    best_finished = torch.zeros(batch, dtype=torch.bool, device=device)
    done = torch.zeros(batch, dtype=torch.bool, device=device)

    def keep_better(candidate: Tensor, beam: Tensor, length: int, last_token: Tensor | None,
                    last_log_prob: Tensor | None) -> None:
        # candidate (B,) normalised scores of each prompt's best new hypothesis, found in beam (B,)
        better = candidate > best_score
        if not bool(better.any()):
            return
        prompt = better.nonzero().squeeze(1)
        source = base[prompt] + beam[prompt]
        kept = length if last_token is None else length - 1
        best_score[prompt] = candidate[prompt]
        best_tokens[prompt] = pad
        best_tokens[prompt, :kept] = history[source, :kept]
        best_log_probs[prompt] = 0
        best_log_probs[prompt, :kept] = history_log_probs[source, :kept]
        if last_token is not None:
            best_tokens[prompt, kept] = last_token
            best_log_probs[prompt, kept] = last_log_prob[source]
        best_length[prompt] = length
        best_finished[prompt] = last_token is not None

    for step in range(N):
        length = step + 1  # tokens in a hypothesis once this step's token is appended
        log_probs = processed_log_probs(processors, history[:, :step], logits)  # (B*K, V)
        log_probs = torch.nan_to_num(log_probs, nan=float("-inf"))  # a row masked entirely has no candidates
        candidates = (scores.view(-1, 1) + log_probs).view(batch, K, vocab)  # (B, K, V)
        if eos_id is not None:
            # An EOS candidate counts only if it ranks among the step's K best candidates (so width 1 is
            # greedy); the K open hypotheses are then refilled from the best candidates without EOS.
            kth = candidates.view(batch, K * vocab).topk(K, dim=1).values[:, -1:]  # (B, 1)
            ended = candidates[:, :, eos_id]  # (B, K)
            ended = ended.masked_fill(ended < kth, float("-inf")) / length_penalty_factor(length, length_penalty)
            ended, ended_beam = ended.max(1)
            keep_better(ended, ended_beam, length, torch.tensor(eos_id, device=device), log_probs[:, eos_id])
            candidates[:, :, eos_id] = float("-inf")  # a hypothesis ending in EOS is finished, not open
        scores, flat_index = candidates.view(batch, K * vocab).topk(K, dim=1)  # (B, K)
        beam, token = flat_index // vocab, flat_index % vocab
        # Fewer than K finite candidates (tiny vocabulary, masks): the dead picks copy the best pick, so
        # every row keeps a real history and state; their -inf score keeps them out of the results.
        dead = scores == float("-inf")
        beam, token = torch.where(dead, beam[:, :1], beam), torch.where(dead, token[:, :1], token)
        source = (base[:, None] + beam).view(-1)  # (B*K,): the beam each new beam extends
        token = token.view(-1)
        history = history.index_select(0, source)
        history[:, step] = token
        history_log_probs = history_log_probs.index_select(0, source)
        history_log_probs[:, step] = log_probs[source, token]
        if length == N:
            final, final_beam = (scores / length_penalty_factor(N, length_penalty)).max(1)
            keep_better(final, final_beam, N, None, None)
            break
        reachable = max(length_penalty_factor(length + 1, length_penalty), length_penalty_factor(N, length_penalty))
        done |= best_score >= scores.max(1).values / reachable  # nothing open can still win
        scores = scores.masked_fill(done[:, None], float("-inf"))
        if bool(done.all()):
            break
        logits, state = _advance(model, token, reorder_state(state, source))

    if bool((best_score == float("-inf")).any()):
        prompt = int((best_score == float("-inf")).nonzero()[0])
        raise ValueError(
            f"beam_search: no hypothesis for prompt {prompt}: the processors gave every continuation a score "
            "of -inf; check that their constraints can be satisfied within max_new_tokens"
        )
    width = int(best_length.max())
    return Generation(best_tokens[:, :width], best_length, best_score, best_log_probs[:, :width], best_finished)


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


def _check_eos(eos_id: int, vocab: int) -> None:
    if eos_id >= vocab:
        raise ValueError(f"eos_id: expected a token id below the vocabulary size {vocab}, got {eos_id}")


def _prefill(model: LanguageModel, prompts: Tensor, lengths: Tensor | None) -> tuple[Tensor, State]:
    """Run the prompts once: -> the logits after each row's last valid token (B, V) and the state there."""
    if lengths is None:
        logits, state = model(prompts, None)
    else:
        logits, state = model(prompts, None, lengths=lengths)
    batch, steps = prompts.shape
    if not isinstance(logits, Tensor) or logits.dim() != 3 or logits.shape[:2] != (batch, steps):
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(
            f"model: expected logits of shape (B, T, V) = ({batch}, {steps}, V) from "
            f"model(tokens, state, lengths=None), got {shape}"
        )
    if lengths is None:
        last = logits[:, -1]
    else:
        last = logits[torch.arange(batch, device=logits.device), lengths.to(logits.device) - 1]  # (B, V)
    return _upcast(last), state


def _advance(model: LanguageModel, tokens: Tensor, state: State) -> tuple[Tensor, State]:
    """Feed one token per row: tokens (B,) -> logits (B, V) and the new state."""
    logits, state = model(tokens[:, None], state)  # (B, 1) -> (B, 1, V)
    return _upcast(logits[:, -1]), state


def _upcast(logits: Tensor) -> Tensor:
    # half-precision log-probabilities summed over many steps lose too much
    return logits.to(torch.promote_types(logits.dtype, torch.float32))


@torch.no_grad()
def _stream_tokens(model: LanguageModel, plan: _Plan) -> Iterator[Step]:
    """Greedy or sampled tokens, one Step per model step.

    At batch 1 a model step takes a millisecond or two, so this loop keeps its own work per step small: rows are masked only
    once some row has finished, and greedy checks for rows with nothing left to choose on the chosen
    log-probabilities (B values) rather than on the whole (B, V) distribution."""
    logits, state = _prefill(model, plan.prompts, plan.lengths)  # (B, V)
    batch, vocab = logits.shape
    if plan.eos_id is not None:
        _check_eos(plan.eos_id, vocab)
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
        logits, state = _advance(model, token, state)


def _check_choice(stuck: Tensor, step: int) -> None:
    """Raise when a row still generating has no token with a finite score left (the processors masked all)."""
    if bool(stuck.any()):
        raise ValueError(
            f"processors: every token of row {int(stuck.nonzero()[0])} has score -inf (or NaN) at step "
            f"{step}; the constraints leave nothing to generate"
        )


def _stream_result(search) -> Iterator[Step]:
    result: Generation = search()
    for step in range(result.tokens.size(1)):
        yield Step(result.tokens[:, step], result.log_probs[:, step], step < result.lengths)
