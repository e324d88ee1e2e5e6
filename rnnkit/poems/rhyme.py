"""Rhyme groups for ``--rhyme``: an approximation from modern Mandarin readings (pypinyin).

Classical regulated verse rhymes the even lines on a level tone (平声) within one group of the
Pingshui rhyme book (平水韵). We approximate both with today's pronunciation, as pypinyin gives it for
each character's most common reading:

* the group is the final without its medial, merged as in the 中华新韵 (14 rhymes) table below,
  e.g. 山 shan, 间 jian, 还 huan, 元 yuan all rhyme in 寒 (an, ian, uan, van);
* only characters read in tone 1 or 2 get a group, tones 1 and 2 being the modern descendants of the
  level tone (平声); entering-tone (入声) characters that drifted into tones 1 and 2 are not caught.

pypinyin is an optional dependency (``pip install pypinyin``), loaded only when rhyme is asked for.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from rnnkit.text.tokenizer import Tokenizer

# 中华新韵: final (pypinyin Style.FINALS, strict) -> rhyme group
RHYME_GROUPS: dict[str, str] = {
    **dict.fromkeys(["a", "ia", "ua"], "麻"),
    **dict.fromkeys(["o", "uo"], "波"),
    **dict.fromkeys(["e"], "歌"),
    **dict.fromkeys(["ie", "ve", "ue"], "皆"),
    **dict.fromkeys(["i", "er"], "齐"),  # 支 (zhi, chi, ...) shares pypinyin's final "i": merged here
    **dict.fromkeys(["ei", "uei", "ui"], "微"),
    **dict.fromkeys(["ai", "uai"], "开"),
    **dict.fromkeys(["u"], "姑"),
    **dict.fromkeys(["v"], "鱼"),
    **dict.fromkeys(["ou", "iou", "iu"], "侯"),
    **dict.fromkeys(["ao", "iao"], "豪"),
    **dict.fromkeys(["an", "ian", "uan", "van"], "寒"),
    **dict.fromkeys(["en", "in", "uen", "un", "vn"], "痕"),
    **dict.fromkeys(["ang", "iang", "uang"], "唐"),
    **dict.fromkeys(["eng", "ing", "ong", "iong", "ueng"], "庚"),
}
GROUP_NAMES = sorted(set(RHYME_GROUPS.values()))


def _pypinyin():
    try:
        import pypinyin
    except ImportError:
        raise ImportError(
            "rhyme: rhyming needs the optional package pypinyin; install it with `pip install pypinyin` "
            "(or `pip install rnnkit[poems]`), or leave rhyme off"
        ) from None
    return pypinyin


@functools.lru_cache(maxsize=8192)
def rhyme_group(char: str) -> str | None:
    """The rhyme group of a character read in a level tone, else None: rhyme_group('山') == '寒'."""
    pypinyin = _pypinyin()
    final = pypinyin.lazy_pinyin(char, style=pypinyin.Style.FINALS_TONE3, neutral_tone_with_five=True)[0]
    if not final or not final[-1].isdigit() or final[-1] not in "12":
        return None
    return RHYME_GROUPS.get(final[:-1])


def rhyme_groups(tokenizer: Tokenizer) -> Tensor:
    """(V,) long: the index in GROUP_NAMES of each token's rhyme group; -1 for specials, punctuation,
    characters in an oblique tone and characters without a reading.

    Cached per vocabulary (a server asks for it on every rhyming request; a Tokenizer is not hashable,
    its tokens are), so the result is a fresh copy each call."""
    return _groups_of(tuple(tokenizer.tokens[tokenizer.num_specials :]), tokenizer.num_specials).clone()


@functools.lru_cache(maxsize=4)
def _groups_of(tokens: tuple[str, ...], num_specials: int) -> Tensor:
    groups = torch.full((num_specials + len(tokens),), -1, dtype=torch.long)
    for token_id, token in enumerate(tokens, start=num_specials):
        group = rhyme_group(token) if len(token) == 1 else None
        if group is not None:
            groups[token_id] = GROUP_NAMES.index(group)
    return groups
