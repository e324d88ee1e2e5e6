"""Logits processors that make every generated poem have its form (rnnkit.decoding's processor protocol).

A processor is ``(tokens (B, t), logits (B, V)) -> logits (B, V)`` where ``tokens`` are the tokens
generated so far (the prompt, here the form token, is not included), so ``t`` is the position in the
poem. For a form with lines of L characters, position t is in line ``t // (L + 1)`` at column
``t % (L + 1)``: columns 0..L-1 are characters, column L is ``，`` (odd lines) or ``。`` (even lines),
and position ``num_chars`` is the end token. :func:`form_processor` allows exactly that token class at
each position (characters exclude punctuation and special tokens), or exactly one token where the
acrostic or the opening (``start``) fixes it. Masking can never make a poem malformed: whatever the
model's scores, the only tokens left are the ones the form permits.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from rnnkit.decoding import Processor
from rnnkit.poems.data import COMMA, FULL_STOP, Form
from rnnkit.text.tokenizer import Tokenizer


def character_mask(tokenizer: Tokenizer) -> Tensor:
    """(V,) bool: True for tokens that may stand inside a line (no special token, no punctuation)."""
    mask = torch.zeros(len(tokenizer), dtype=torch.bool)
    mask[tokenizer.num_specials :] = True
    for mark in (COMMA, FULL_STOP):
        if mark in tokenizer:
            mask[tokenizer.token_to_id(mark)] = False
    return mask


def check_known(tokenizer: Tokenizer, text: str, argument: str) -> None:
    """ValueError naming the characters of ``text`` the model cannot write."""
    allowed = character_mask(tokenizer)
    bad = [c for c in dict.fromkeys(text) if c not in tokenizer or not allowed[tokenizer.token_to_id(c)]]
    if bad:
        raise ValueError(
            f"{argument}: the model does not know the character(s) {' '.join(bad)} "
            f"({len(bad)} of {len(set(text))}); its vocabulary has {int(allowed.sum())} characters. "
            "Use other characters (traditional forms are not in the simplified-character model)."
        )


def forced_positions(form: Form, *, acrostic: str | None = None, start: str | None = None) -> dict[int, str]:
    """Poem positions (punctuation included) fixed to one character: ``start`` fills the first
    character slots in order, ``acrostic[i]`` opens line i. Raises ValueError when they do not fit."""
    slots = [line * (form.line_length + 1) + col for line in range(form.num_lines) for col in range(form.line_length)]
    forced: dict[int, str] = {}
    if acrostic is not None:
        if len(acrostic) != form.num_lines:
            other = "an 8-line form (wulv, qilv)" if len(acrostic) == 8 else "a 4-line form (wujue, qijue)"
            hint = f"; use {other}" if len(acrostic) in (4, 8) else ""
            raise ValueError(
                f"acrostic: expected {form.num_lines} characters for {form.name} ({form.chinese}, "
                f"{form.num_lines} lines), got {len(acrostic)} ({acrostic!r}){hint}"
            )
        for line, char in enumerate(acrostic):
            forced[line * (form.line_length + 1)] = char
    if start is not None:
        if len(start) > len(slots):
            raise ValueError(
                f"start: expected at most {len(slots)} characters for {form.name}, got {len(start)} ({start!r})"
            )
        for position, char in zip(slots, start, strict=False):
            if forced.get(position, char) != char:
                raise ValueError(
                    f"start: character {char!r} at line {position // (form.line_length + 1) + 1} conflicts "
                    f"with the acrostic's {forced[position]!r}; make them agree"
                )
            forced[position] = char
    return forced


def form_masks(tokenizer: Tokenizer, form: Form, forced: dict[int, str] | None = None) -> Tensor:
    """(num_chars + 1, V) bool: the tokens allowed at each position of a poem of ``form``."""
    forced = forced or {}
    characters = character_mask(tokenizer)
    masks = torch.zeros(form.num_chars + 1, len(tokenizer), dtype=torch.bool)
    for position in range(form.num_chars):
        line, column = divmod(position, form.line_length + 1)
        if column == form.line_length:
            masks[position, tokenizer.token_to_id(COMMA if line % 2 == 0 else FULL_STOP)] = True
        elif position in forced:
            masks[position, tokenizer.token_to_id(forced[position])] = True
        else:
            masks[position] = characters
    masks[form.num_chars, tokenizer.end_id] = True
    return masks


def form_processor(masks: Tensor) -> Processor:
    """Allow only ``masks[t]`` at step t (see :func:`form_masks`); past the end, only what the last row allows."""

    def apply(tokens: Tensor, logits: Tensor) -> Tensor:
        mask = masks[min(tokens.size(1), masks.size(0) - 1)].to(logits.device)  # (V,)
        return logits.masked_fill(~mask, float("-inf"))

    return apply


def theme_processor(theme_ids: Sequence[int], form: Form, weight: float = 2.0) -> Processor:
    """Bias the poem toward theme characters: at character positions their logits get
    ``weight / (1 + n)``, where n counts theme characters already in the poem, so the theme shows
    early and then gives way instead of filling every line."""
    if weight < 0:
        raise ValueError(f"theme weight: expected a value >= 0, got {weight}")
    ids = torch.tensor(sorted(set(theme_ids)), dtype=torch.long)

    def apply(tokens: Tensor, logits: Tensor) -> Tensor:
        if ids.numel() == 0 or tokens.size(1) % (form.line_length + 1) == form.line_length:
            return logits
        used = torch.isin(tokens, ids.to(tokens.device)).sum(dim=1, keepdim=True)  # (B, 1)
        bonus = torch.zeros_like(logits)
        bonus[:, ids.to(logits.device)] = weight / (1.0 + used.to(logits.dtype))
        return logits + bonus

    return apply


def rhyme_processor(groups: Tensor, form: Form) -> Processor:
    """End every even line with a character of the rhyme group the second line chose.

    Args:
        groups: (V,) long, the rhyme group of each token; -1 for tokens without one.

    The second line ends in a character with a group; lines 4, 6, 8 end in characters of the same
    group that have not ended an earlier even line (classical poems do not repeat a rhyme character).
    """
    width = form.line_length + 1
    rhyme_positions = [line * width + form.line_length - 1 for line in range(1, form.num_lines, 2)]

    def apply(tokens: Tensor, logits: Tensor) -> Tensor:
        t = tokens.size(1)
        if t not in rhyme_positions:
            return logits
        table = groups.to(logits.device)
        if t == rhyme_positions[0]:
            allowed = (table >= 0)[None, :].expand_as(logits)  # (B, V)
        else:
            group = table[tokens[:, rhyme_positions[0]]]  # (B,)
            allowed = (table[None, :] == group[:, None]) & (group[:, None] >= 0)  # (B, V)
            earlier = tokens[:, [p for p in rhyme_positions if p < t]]  # (B, k)
            allowed = allowed.scatter(1, earlier, False)
        rhymed = logits.masked_fill(~allowed, float("-inf"))
        # Where nothing the earlier processors allow rhymes (a character fixed by `start`, a group with no
        # other member), the row keeps its scores: the form always wins over the rhyme.
        possible = torch.isfinite(rhymed).any(dim=1, keepdim=True)  # (B, 1)
        return torch.where(possible, rhymed, logits)

    return apply
