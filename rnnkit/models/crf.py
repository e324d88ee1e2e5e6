r"""A linear-chain conditional random field: batched, masked log-partition (forward algorithm) and Viterbi.

For emissions e (T, K) of one sentence (K tags) and a tag sequence y_1..y_T, the score is

    s(y) = start[y_1] + Σ_t e[t, y_t] + Σ_{t>1} A[y_{t-1}, y_t] + end[y_T]

and p(y | e) = exp s(y) / Z with Z = Σ_{y'} exp s(y'), a sum over K^T sequences that the forward algorithm
computes in O(T K²):

    α_1[j] = start[j] + e[1, j]
    α_t[j] = logsumexp_i(α_{t-1}[i] + A[i, j]) + e[t, j]
    log Z  = logsumexp_j(α_T[j] + end[j])

Viterbi replaces logsumexp by max and keeps the argmax as a back-pointer. Lafferty, McCallum & Pereira 2001;
used on top of a BiLSTM by Huang, Xu & Yu 2015 (arXiv:1508.01991) and Lample et al. 2016 (arXiv:1603.01360).

Variable lengths: a (B, T) boolean ``mask`` marks each sentence's valid prefix (True at t < length, at least
one step). At a masked step α is carried unchanged, so a padded batch gives exactly the per-sentence results.

Constraints: ``allowed`` (K, K) and ``allowed_start`` (K,) booleans forbid transitions (their score is -inf),
e.g. the BIO rules of :func:`bio_constraints` (I-X only after B-X or I-X, never first). The gold sequences
must then respect them (see rnnkit.tasks.ner.repair_bio), or their likelihood is zero.

Example:
    >>> crf = CRF(3)
    >>> emissions, mask = torch.randn(2, 5, 3), torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]]).bool()
    >>> crf.log_partition(emissions, mask).shape, crf.decode(emissions, mask).tags.shape
    (torch.Size([2]), torch.Size([2, 5]))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

__all__ = ["CRF", "Viterbi", "bio_constraints"]


class Viterbi(NamedTuple):
    tags: Tensor  # (B, T) long: the best tag sequence, -1 past each length
    scores: Tensor  # (B,) the best sequence's score s(y)


def bio_constraints(labels: Sequence[str]) -> tuple[Tensor, Tensor]:
    """BIO rules for tag names such as ``O, B-PER, I-PER``: (allowed (K, K) [from, to], allowed_start (K,)).

    I-X may follow only B-X or I-X, and may not start a sentence; every other transition is allowed.
    Tags that are neither ``O`` nor ``B-``/``I-`` prefixed raise ValueError.
    """
    labels = list(labels)
    for label in labels:
        if label != "O" and not (label.startswith(("B-", "I-")) and len(label) > 2):
            raise ValueError(f"labels: expected BIO tags ('O', 'B-X', 'I-X'), got {label!r}")
    size = len(labels)
    allowed = torch.ones(size, size, dtype=torch.bool)
    allowed_start = torch.ones(size, dtype=torch.bool)
    for j, to in enumerate(labels):
        if to.startswith("I-"):
            allowed_start[j] = False
            for i, before in enumerate(labels):
                allowed[i, j] = before in (f"B-{to[2:]}", f"I-{to[2:]}")
    return allowed, allowed_start


class CRF(nn.Module):
    r"""Linear-chain CRF over ``num_tags`` tags (see the module docstring for the equations).

    Args:
        num_tags: K.
        allowed: optional (K, K) bool, ``allowed[i, j]`` = tag j may follow tag i; None allows all.
        allowed_start: optional (K,) bool, the tags a sentence may start with; None allows all.

    Parameters: ``transitions`` (K, K) [from, to], ``start_transitions`` (K,), ``end_transitions`` (K,).

    Shape:
        emissions (B, T, K) float; tags (B, T) long; mask (B, T) bool, True on each sentence's valid prefix
        (mask[:, 0] must be True). ``log_partition``/``score``/``nll`` return (B,).
    """

    def __init__(self, num_tags: int, *, allowed: Tensor | None = None, allowed_start: Tensor | None = None):
        super().__init__()
        if not isinstance(num_tags, int) or isinstance(num_tags, bool) or num_tags < 1:
            raise ValueError(f"CRF: expected num_tags to be an int >= 1, got {num_tags!r}")
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags))
        self.start_transitions = nn.Parameter(torch.empty(num_tags))
        self.end_transitions = nn.Parameter(torch.empty(num_tags))
        allowed = torch.ones(num_tags, num_tags, dtype=torch.bool) if allowed is None else allowed
        allowed_start = torch.ones(num_tags, dtype=torch.bool) if allowed_start is None else allowed_start
        if tuple(allowed.shape) != (num_tags, num_tags) or allowed.dtype != torch.bool:
            raise ValueError(f"CRF: expected allowed to be a ({num_tags}, {num_tags}) bool tensor, "
                             f"got {tuple(allowed.shape)} {allowed.dtype}")
        if tuple(allowed_start.shape) != (num_tags,) or allowed_start.dtype != torch.bool:
            raise ValueError(f"CRF: expected allowed_start to be a ({num_tags},) bool tensor, "
                             f"got {tuple(allowed_start.shape)} {allowed_start.dtype}")
        if not bool(allowed_start.any()):
            raise ValueError("CRF: expected allowed_start to allow at least one tag, got none")
        # not persistent: they follow from the config (the tag names), so bundles stay free of them
        self.register_buffer("allowed", allowed.clone(), persistent=False)
        self.register_buffer("allowed_start", allowed_start.clone(), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.uniform_(self.transitions, -0.1, 0.1)
        nn.init.uniform_(self.start_transitions, -0.1, 0.1)
        nn.init.uniform_(self.end_transitions, -0.1, 0.1)

    # -- the scores with constraints applied ----------------------------------------------------------

    def _scores(self, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
        forbidden = float("-inf")
        transitions = self.transitions.to(dtype).masked_fill(~self.allowed, forbidden)  # (K, K)
        start = self.start_transitions.to(dtype).masked_fill(~self.allowed_start, forbidden)  # (K,)
        return transitions, start, self.end_transitions.to(dtype)

    def _check(self, emissions: Tensor, mask: Tensor, tags: Tensor | None = None) -> Tensor:
        if emissions.dim() != 3 or emissions.size(-1) != self.num_tags:
            raise ValueError(f"emissions: expected shape (B, T, {self.num_tags}), got {tuple(emissions.shape)}")
        if mask is None:
            return torch.ones(emissions.shape[:2], dtype=torch.bool, device=emissions.device)
        if tuple(mask.shape) != tuple(emissions.shape[:2]):
            raise ValueError(f"mask: expected shape {tuple(emissions.shape[:2])} (B, T), got {tuple(mask.shape)}")
        mask = mask.bool()
        if mask.numel() and not bool(mask[:, 0].all()):
            raise ValueError("mask: expected every sequence to have at least one valid step (mask[:, 0] all True)")
        if tags is not None and tuple(tags.shape) != tuple(mask.shape):
            raise ValueError(f"tags: expected shape {tuple(mask.shape)} (B, T), got {tuple(tags.shape)}")
        return mask

    # -- public ---------------------------------------------------------------------------------------

    def log_partition(self, emissions: Tensor, mask: Tensor | None = None) -> Tensor:
        """log Z of each sequence by the forward algorithm: (B, T, K), (B, T) -> (B,)."""
        mask = self._check(emissions, mask)
        transitions, start, end = self._scores(emissions.dtype)
        alpha = start + emissions[:, 0]  # (B, K)
        for t in range(1, emissions.size(1)):
            # (B, K, 1) + (K, K) -> (B, K from, K to) -> logsumexp over "from"
            step = torch.logsumexp(alpha.unsqueeze(2) + transitions, dim=1) + emissions[:, t]  # (B, K)
            alpha = torch.where(mask[:, t, None], step, alpha)  # a masked step carries alpha unchanged
        return torch.logsumexp(alpha + end, dim=1)

    def score(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None) -> Tensor:
        """s(y) of the given tag sequences: (B, T, K), (B, T), (B, T) -> (B,). Tags past a length are ignored."""
        mask = self._check(emissions, mask, tags)
        transitions, start, end = self._scores(emissions.dtype)
        tags = tags.masked_fill(~mask, 0)  # any valid index; masked out below
        weights = mask.to(emissions.dtype)
        emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (B, T)
        total = start[tags[:, 0]] + (emitted * weights).sum(1)
        if tags.size(1) > 1:
            moved = transitions[tags[:, :-1], tags[:, 1:]]  # (B, T-1)
            # where() rather than a product: a forbidden (-inf) move past the length must not give nan
            total = total + torch.where(mask[:, 1:], moved, torch.zeros_like(moved)).sum(1)
        lengths = mask.sum(1)
        last = tags.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)  # (B,)
        return total + end[last]

    def nll(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None) -> Tensor:
        """Negative log-likelihood -log p(tags | emissions) = log Z - s(tags) of each sequence: (B,)."""
        return self.log_partition(emissions, mask) - self.score(emissions, tags, mask)

    def decode(self, emissions: Tensor, mask: Tensor | None = None) -> Viterbi:
        """The most probable tag sequence of each row (Viterbi): tags (B, T) with -1 past each length, scores (B,)."""
        mask = self._check(emissions, mask)
        transitions, start, end = self._scores(emissions.dtype)
        batch, steps, size = emissions.shape
        per_step = emissions.unbind(1)  # T x (B, K): cheaper than indexing inside the loop
        score = start + per_step[0]  # (B, K)
        identity = torch.arange(size, device=emissions.device).expand(batch, size)
        full = mask.all(0).tolist()  # one transfer: steps where no row is padded need no where()
        pointers = []
        for t in range(1, steps):
            best, index = (score.unsqueeze(2) + transitions).max(dim=1)  # (B, K from, K to) -> (B, K to)
            if full[t]:
                score = best + per_step[t]
            else:
                valid = mask[:, t, None]
                score = torch.where(valid, best + per_step[t], score)
                index = torch.where(valid, index, identity)  # a masked step points to itself
            pointers.append(index)
        final, last = (score + end).max(dim=1)  # (B,)
        # the back-pointers go to the host once; following them is T integer look-ups per row, not T
        # tensor operations (which dominate for one long sequence)
        table = torch.stack(pointers, dim=1).cpu().tolist() if pointers else [[] for _ in range(batch)]  # (B, T-1, K)
        rows = []
        for row, tag in zip(table, last.tolist(), strict=True):
            path = [tag]
            for step in reversed(row):
                tag = step[tag]
                path.append(tag)
            rows.append(path[::-1])
        tags = torch.tensor(rows, dtype=torch.long, device=emissions.device).view(batch, steps)  # (B, T)
        return Viterbi(tags.masked_fill(~mask, -1), final)

    def marginals(self, emissions: Tensor, mask: Tensor | None = None) -> Tensor:
        """p(y_t = k | emissions) for every step and tag: (B, T, K); zero past each length.

        The gradient of log Z with respect to the emissions (forward-backward by autograd)."""
        mask = self._check(emissions, mask)
        with torch.enable_grad():
            emissions = emissions.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.log_partition(emissions, mask).sum(), emissions)
        return grad * mask.unsqueeze(2)

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}, constrained={not bool(self.allowed.all() and self.allowed_start.all())}"
