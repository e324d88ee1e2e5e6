"""Beam search with GNMT's length penalty over a recurrent language model, batched and incremental.

Each prompt keeps ``K = beam_size`` open hypotheses (raw score: the sum of log-probabilities), held in a
:class:`BeamState`, and its best finished one, held in a :class:`Best` (score: raw score /
:func:`length_penalty_factor`). One step of the search is four small functions:

1. :func:`expand`: every open hypothesis is extended by every token, giving K·V candidates per prompt.
2. :func:`finish_eos`: among the K best candidates, those ending in ``eos_id`` are finished; the best of
   them replaces the prompt's best finished hypothesis if it scores higher.
3. :func:`select`: the K best candidates not ending in ``eos_id`` become the open hypotheses (so K stay
   open and a width of 1 is greedy).
4. :func:`stop_early`: a prompt is done when no open hypothesis can beat its best finished one:
   log-probabilities are <= 0, so an open raw score S can at best become S / max(lp) over the lengths
   still reachable. The bound is exact: stopping never changes the result.

At ``max_new_tokens`` the open hypotheses are finished as they are (:func:`finish_open`). With K at least
the number of possible sequences nothing is ever dropped and the result is the exact best sequence
(tested against enumeration). See docs/decoding.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from rnnkit.decoding.checks import check_eos
from rnnkit.decoding.processors import Processor, processed_log_probs
from rnnkit.decoding.protocol import LanguageModel, advance, prefill, reorder_state
from rnnkit.decoding.results import Generation

__all__ = ["BeamState", "Best", "beam_search", "expand", "finish_eos", "finish_open", "keep_better", "length_penalty_factor",
           "select", "stop_early"]

INF = float("inf")


def length_penalty_factor(length: int, alpha: float) -> float:
    """GNMT's length penalty lp(Y) = ((5 + |Y|) / 6) ** alpha (Wu et al. 2016, arXiv:1609.08144,
    section 7); a hypothesis scores log P(Y) / lp(Y). alpha = 0 disables it; larger alpha favours
    longer outputs."""
    return ((5 + length) / 6) ** alpha


@dataclass(frozen=True)
class BeamState:
    """The open hypotheses: K per prompt, prompt-major (row ``b * K + k`` is beam k of prompt b).

    Invariants: every hypothesis has ``length`` tokens (``tokens[:, length:]`` and
    ``log_probs[:, length:]`` are 0); each prompt's ``scores`` are sorted, best first; a score of -inf
    marks a beam with no hypothesis (fewer than K candidates, or the prompt is ``done``), and a done
    prompt has only -inf scores.
    """

    scores: Tensor  # (B, K) raw scores: sums of the hypotheses' log-probabilities
    tokens: Tensor  # (B*K, N) long: each hypothesis' tokens
    log_probs: Tensor  # (B*K, N): each token's log-probability after the processors
    length: int  # tokens in every open hypothesis: the step number
    done: Tensor  # (B,) bool: the prompt's best finished hypothesis can no longer be beaten

    @classmethod
    def start(cls, batch: int, beam_size: int, max_new_tokens: int, *, dtype: torch.dtype,
              device: torch.device) -> BeamState:
        """Empty hypotheses; one live beam per prompt, so the K beams don't start as K copies."""
        scores = torch.full((batch, beam_size), -INF, dtype=dtype, device=device)
        scores[:, 0] = 0
        tokens = torch.zeros(batch * beam_size, max_new_tokens, dtype=torch.long, device=device)
        log_probs = torch.zeros(batch * beam_size, max_new_tokens, dtype=dtype, device=device)
        return cls(scores, tokens, log_probs, 0, torch.zeros(batch, dtype=torch.bool, device=device))

    @property
    def first_rows(self) -> Tensor:
        """(B,): the row of each prompt's first beam."""
        batch, beam_size = self.scores.shape
        return torch.arange(batch, device=self.scores.device) * beam_size


@dataclass(frozen=True)
class Best:
    """Each prompt's best finished hypothesis so far; what the search returns.

    ``tokens`` are padded with ``pad`` and ``log_probs`` with 0 past ``lengths``; a score of -inf means
    the prompt has none yet."""

    scores: Tensor  # (B,) raw score / length_penalty_factor(length)
    tokens: Tensor  # (B, N) long
    log_probs: Tensor  # (B, N)
    lengths: Tensor  # (B,) long
    finished: Tensor  # (B,) bool: the hypothesis ends with EOS (False: it reached max_new_tokens)
    pad: int

    @classmethod
    def empty(cls, batch: int, max_new_tokens: int, pad: int, *, dtype: torch.dtype, device: torch.device) -> Best:
        return cls(
            torch.full((batch,), -INF, dtype=dtype, device=device),
            torch.full((batch, max_new_tokens), pad, dtype=torch.long, device=device),
            torch.zeros(batch, max_new_tokens, dtype=dtype, device=device),
            torch.zeros(batch, dtype=torch.long, device=device),
            torch.zeros(batch, dtype=torch.bool, device=device),
            pad,
        )

    def replace_rows(self, prompt: Tensor, scores: Tensor, tokens: Tensor, log_probs: Tensor, length: int,
                     finished: bool) -> Best:
        """A copy whose rows ``prompt`` (k,) hold new hypotheses: scores (k,), tokens and log_probs (k, N)."""
        return Best(self.scores.index_copy(0, prompt, scores), self.tokens.index_copy(0, prompt, tokens),
                    self.log_probs.index_copy(0, prompt, log_probs), self.lengths.index_fill(0, prompt, length),
                    self.finished.index_fill(0, prompt, finished), self.pad)

    def to_generation(self) -> Generation:
        """The result; ValueError when a prompt ended with no hypothesis (the processors masked every path)."""
        if bool((self.scores == -INF).any()):
            prompt = int((self.scores == -INF).nonzero()[0])
            raise ValueError(
                f"beam_search: no hypothesis for prompt {prompt}: the processors gave every continuation a score "
                "of -inf; check that their constraints can be satisfied within max_new_tokens"
            )
        width = int(self.lengths.max())
        return Generation(self.tokens[:, :width], self.lengths, self.scores, self.log_probs[:, :width], self.finished)


def keep_better(best: Best, beams: BeamState, candidate: Tensor, beam: Tensor, length: int,
                eos_id: int | None = None, eos_log_probs: Tensor | None = None) -> Best:
    """``best`` with each prompt's ``candidate`` where it scores higher.

    ``candidate`` (B,) is the normalised score of each prompt's best new hypothesis, open beam ``beam``
    (B,) of ``beams`` of ``length`` tokens; with ``eos_id`` it is that beam's ``length - 1`` tokens and
    EOS (log-probability ``eos_log_probs`` (B*K,))."""
    better = candidate > best.scores
    if not bool(better.any()):
        return best
    prompt = better.nonzero().squeeze(1)
    source = beams.first_rows[prompt] + beam[prompt]
    kept = length if eos_id is None else length - 1
    tokens = torch.full((prompt.numel(), best.tokens.size(1)), best.pad, dtype=torch.long, device=prompt.device)
    tokens[:, :kept] = beams.tokens[source, :kept]
    log_probs = torch.zeros(prompt.numel(), best.tokens.size(1), dtype=best.log_probs.dtype, device=prompt.device)
    log_probs[:, :kept] = beams.log_probs[source, :kept]
    if eos_id is not None:
        tokens[:, kept] = eos_id
        log_probs[:, kept] = eos_log_probs[source]
    return best.replace_rows(prompt, candidate[prompt], tokens, log_probs, length, eos_id is not None)


def expand(beams: BeamState, processor: Processor, logits: Tensor) -> tuple[Tensor, Tensor]:
    """Score every one-token extension of every open hypothesis.

    logits (B*K, V) -> log_probs (B*K, V) after the processors, and candidates (B, K, V): the raw score
    of each hypothesis extended by each token (-inf where the processors masked a whole row)."""
    log_probs = processed_log_probs(processor, beams.tokens[:, : beams.length], logits)  # (B*K, V)
    log_probs = torch.nan_to_num(log_probs, nan=-INF)  # a row masked entirely has no candidates
    batch, beam_size = beams.scores.shape
    candidates = (beams.scores.view(-1, 1) + log_probs).view(batch, beam_size, -1)  # (B, K, V)
    return log_probs, candidates


def finish_eos(best: Best, beams: BeamState, candidates: Tensor, log_probs: Tensor, eos_id: int,
               alpha: float) -> Best:
    """Finish each prompt's best candidate ending in ``eos_id``, if it ranks among the step's K best
    candidates (so width 1 is greedy), and keep it if it beats the prompt's best finished hypothesis."""
    batch, beam_size, vocab = candidates.shape
    length = beams.length + 1
    kth = candidates.view(batch, beam_size * vocab).topk(beam_size, dim=1).values[:, -1:]  # (B, 1)
    ended = candidates[:, :, eos_id]  # (B, K)
    ended = ended.masked_fill(ended < kth, -INF) / length_penalty_factor(length, alpha)
    ended, ended_beam = ended.max(1)
    return keep_better(best, beams, ended, ended_beam, length, eos_id, log_probs[:, eos_id])


def select(beams: BeamState, candidates: Tensor, log_probs: Tensor,
           eos_id: int | None) -> tuple[BeamState, Tensor, Tensor]:
    """The K best candidates not ending in ``eos_id`` become the open hypotheses.

    -> the new beams, the token each appended (B*K,) and the row of ``beams`` each extends (B*K,), by
    which the caller reorders the model state. ``candidates`` is the step's own tensor: its EOS column is
    cleared here (a hypothesis ending in EOS is finished, not open)."""
    batch, beam_size, vocab = candidates.shape
    if eos_id is not None:
        candidates[:, :, eos_id] = -INF
    scores, flat_index = candidates.view(batch, beam_size * vocab).topk(beam_size, dim=1)  # (B, K)
    beam, token = flat_index // vocab, flat_index % vocab
    # Fewer than K finite candidates (tiny vocabulary, masks): the dead picks copy the best pick, so every
    # row keeps a real history and state; their -inf score keeps them out of the results.
    dead = scores == -INF
    beam, token = torch.where(dead, beam[:, :1], beam), torch.where(dead, token[:, :1], token)
    source = (beams.first_rows[:, None] + beam).view(-1)  # (B*K,): the beam each new beam extends
    token = token.view(-1)
    tokens = beams.tokens.index_select(0, source)
    tokens[:, beams.length] = token
    token_log_probs = beams.log_probs.index_select(0, source)
    token_log_probs[:, beams.length] = log_probs[source, token]
    new = replace(beams, scores=scores, tokens=tokens, log_probs=token_log_probs, length=beams.length + 1)
    return new, token, source


def finish_open(best: Best, beams: BeamState, alpha: float) -> Best:
    """At ``max_new_tokens``: finish the open hypotheses as they are and keep the best of each prompt."""
    final, final_beam = (beams.scores / length_penalty_factor(beams.length, alpha)).max(1)
    return keep_better(best, beams, final, final_beam, beams.length)


def stop_early(beams: BeamState, best: Best, max_new_tokens: int, alpha: float) -> BeamState:
    """Mark the prompts whose best finished hypothesis no open one can beat any more, and drop their beams.

    An open raw score S (<= 0) can at best end as S / max(lp) over the lengths still reachable."""
    reachable = max(length_penalty_factor(beams.length + 1, alpha), length_penalty_factor(max_new_tokens, alpha))
    done = beams.done | (best.scores >= beams.scores.max(1).values / reachable)
    return replace(beams, scores=beams.scores.masked_fill(done[:, None], -INF), done=done)


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
    """Beam search with GNMT's length penalty; called by :func:`rnnkit.decoding.generate` with checked
    arguments (the module docstring describes the search).

    Args:
        prompts: LongTensor (B, T); lengths: CPU int64 (B,) or None (all T).
        processors: one processor, applied to (B*K, t) histories and (B*K, V) logits, prompt-major.

    Returns:
        A :class:`Generation` holding each prompt's best hypothesis.
    """
    logits, state = prefill(model, prompts, lengths)  # (B, V)
    batch, vocab = logits.shape
    if eos_id is not None:
        check_eos(eos_id, vocab)
    rows = torch.arange(batch, device=logits.device).repeat_interleave(beam_size)  # (B*K,)
    logits, state = logits.index_select(0, rows), reorder_state(state, rows)  # every beam starts from its prompt
    beams = BeamState.start(batch, beam_size, max_new_tokens, dtype=logits.dtype, device=logits.device)
    best = Best.empty(batch, max_new_tokens, eos_id if eos_id is not None else 0, dtype=logits.dtype,
                      device=logits.device)
    while True:
        log_probs, candidates = expand(beams, processors, logits)
        if eos_id is not None:
            best = finish_eos(best, beams, candidates, log_probs, eos_id, length_penalty)
        beams, token, source = select(beams, candidates, log_probs, eos_id)
        if beams.length == max_new_tokens:
            best = finish_open(best, beams, length_penalty)
            break
        beams = stop_early(beams, best, max_new_tokens, length_penalty)
        if bool(beams.done.all()):
            break
        logits, state = advance(model, token, reorder_state(state, source))
    return best.to_generation()
