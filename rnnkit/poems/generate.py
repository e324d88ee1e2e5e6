"""Write Tang-style poems with a trained character model: ``write_poems`` and its settings.

    from rnnkit.poems import load_poet, write_poems
    poet = load_poet()                                    # newest poem bundle under runs/
    for poem in write_poems(poet, form="qijue", acrostic="春夏秋冬", num=2, seed=0):
        print(poem.text)

Every poem has the requested form: the form is enforced while decoding by masking logits
(rnnkit.poems.constraints), and the prompt is the form token the model was trained to start from.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch

from rnnkit.bundle import Bundle, find_bundles
from rnnkit.bundle import load as load_bundle
from rnnkit.decoding import DecodingOptions, Processor, generate
from rnnkit.decoding.search import DEFAULT_BEAM_SIZE
from rnnkit.poems.constraints import (
    check_known,
    forced_positions,
    form_masks,
    form_processor,
    rhyme_processor,
    theme_processor,
)
from rnnkit.poems.data import COMMA, FORMS, FULL_STOP, get_form, poem_lines
from rnnkit.text.tokenizer import Tokenizer

POEM_TASK = "poems"


class NoBundleError(FileNotFoundError):
    """No poem model bundle was found; the message says how to make one."""


@dataclass(frozen=True)
class PoemSettings:
    form: str | None = None  # wujue | qijue | wulv | qilv (5/7 characters, 4/8 lines); None: qilv for an
    # 8-character acrostic, else qijue
    num: int = 1  # poems to write
    acrostic: str | None = None  # 藏头诗: line i starts with acrostic[i]
    start: str | None = None  # the poem opens with these characters
    theme: str | None = None  # characters the poem leans toward (logit bonus, see theme_processor)
    theme_weight: float = 2.0  # the bonus, in nats, before any theme character has appeared
    rhyme: bool = False  # even lines end in one rhyme group (pypinyin finals)
    method: str = "sample"  # sample | beam | greedy
    temperature: float | None = None  # sampling only (None: 1.0)
    top_p: float | None = None  # sampling only (None: 0.9); 1.0 disables nucleus truncation
    beam: int | None = None  # beam width, method="beam" only (None: 4)
    seed: int | None = None  # sampling only; None: a random one each call

    def __post_init__(self):
        if self.form is None:
            eight = self.acrostic is not None and len("".join(self.acrostic.split())) == 8
            object.__setattr__(self, "form", "qilv" if eight else "qijue")
        get_form(self.form)
        # the one rule for decoding options: sampling options with greedy or beam are errors, beam >= 1
        DecodingOptions(self.method, self.beam, self.temperature, None, self.top_p, self.seed)
        if self.method == "sample":
            object.__setattr__(self, "temperature", 1.0 if self.temperature is None else self.temperature)
            object.__setattr__(self, "top_p", 0.9 if self.top_p is None else self.top_p)
        elif self.method == "beam" and self.beam is None:
            object.__setattr__(self, "beam", DEFAULT_BEAM_SIZE)
        if not isinstance(self.num, int) or self.num < 1:
            raise ValueError(f"num: expected an int >= 1, got {self.num!r}")
        if self.method != "sample" and self.num > 1:
            raise ValueError(
                f"num: {self.method} decoding is deterministic, so every poem would be the same; expected "
                f"num=1 with method={self.method!r}, got {self.num} (use method='sample' for several poems)"
            )
        for name in ("acrostic", "start", "theme"):
            value = getattr(self, name)
            if value is not None:
                cleaned = "".join(value.split()).replace(COMMA, "").replace(FULL_STOP, "")
                if not cleaned:
                    raise ValueError(f"{name}: expected at least one character, got {value!r}")
                object.__setattr__(self, name, cleaned)
        forced_positions(FORMS[self.form], acrostic=self.acrostic, start=self.start)  # fits the form?


class Poem(NamedTuple):
    form: str  # "qijue"
    form_chinese: str  # "七言绝句"
    lines: list[str]  # characters of each line, punctuation removed
    text: str  # the poem with its punctuation
    log_prob: float  # the model's log-probability of the poem after the processors (nats)
    settings: dict[str, Any]  # the PoemSettings used (seed included)

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


def find_poet_bundle(root: str | Path = "runs") -> Path:
    """The newest poem bundle under ``root``; NoBundleError says how to make one."""
    found = find_bundles(root, task=POEM_TASK)
    if not found:
        raise NoBundleError(
            f"no poem model found under {Path(root).resolve()}; train one with `make demo` "
            "(about 5 minutes on a CPU) or pass --bundle PATH"
        )
    return found[0]


def load_poet(path: str | Path | None = None, *, root: str | Path = "runs", device: str = "cpu") -> Bundle:
    """Load a poem model bundle: ``path``, or the newest one under ``root``."""
    bundle = load_bundle(find_poet_bundle(root) if path is None else path, device=device)
    missing = [form.token for form in FORMS.values() if form.token not in bundle.tokenizer]
    if missing:
        raise ValueError(f"bundle {bundle.path} is not a poem model: its tokenizer lacks {missing}")
    return bundle


def poem_processors(tokenizer: Tokenizer, config: PoemSettings) -> list[Processor]:
    """The logits processors that give ``config``'s poem its form, acrostic or start, rhyme and theme, and then
    sample it (temperature, top-p); the same list for :func:`write_poems` and the server's /v1/poem, so a seed
    gives one poem in both.

    Raises ValueError naming ``acrostic``, ``start`` or ``theme`` for characters the tokenizer does not know, and
    ImportError for ``rhyme`` without pypinyin.
    """
    form = FORMS[config.form]
    for name in ("acrostic", "start", "theme"):
        if getattr(config, name) is not None:
            check_known(tokenizer, getattr(config, name), name)
    forced = forced_positions(form, acrostic=config.acrostic, start=config.start)
    processors = [form_processor(form_masks(tokenizer, form, forced))]
    if config.rhyme:
        from rnnkit.poems.rhyme import rhyme_groups  # needs pypinyin: loaded only for rhyme

        processors.append(rhyme_processor(rhyme_groups(tokenizer), form))
    if config.theme:
        processors.append(theme_processor([tokenizer.token_to_id(c) for c in config.theme], form, config.theme_weight))
    if config.method == "sample":
        processors += DecodingOptions(temperature=config.temperature, top_p=config.top_p).processors()
    return processors


def write_poems(poet: Bundle, **settings: Any) -> list[Poem]:
    """Write ``num`` poems with the loaded model ``poet`` (see :class:`PoemSettings` for the keywords).

    Raises ValueError naming the argument for a bad setting: an unknown form, an acrostic of the wrong
    length, characters the model does not know in ``start``, ``acrostic`` or ``theme``.
    """
    config = PoemSettings(**settings)
    if config.method == "sample" and config.seed is None:
        config = dataclasses.replace(config, seed=int(torch.randint(0, 2**31 - 1, ()).item()))
    tokenizer, model = poet.tokenizer, poet.model
    form = FORMS[config.form]
    processors = poem_processors(tokenizer, config)
    model.eval()
    device = next(model.parameters()).device
    prompts = torch.full((config.num, 1), tokenizer.token_to_id(form.token), dtype=torch.long, device=device)
    result = generate(
        model, prompts, method=config.method, max_new_tokens=form.num_chars + 1, processors=processors,
        eos_id=tokenizer.end_id, beam_size=config.beam, seed=config.seed,
    )
    poems = []
    for row in range(config.num):
        text = tokenizer.decode(result.tokens[row, : int(result.lengths[row])].tolist())
        log_prob = float(result.log_probs[row].sum())  # beam search's scores are divided by a length penalty
        poems.append(Poem(form.name, form.chinese, poem_lines(text), text, log_prob,
                          dataclasses.asdict(config)))
    return poems
