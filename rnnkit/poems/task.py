"""The Tang-poem language-model task: one poem per sequence, conditioned on its form from the first token.

Every training sequence is one poem::

    inputs   <qijue>  白  日  依  ...  流  。
    targets    白     日  依  ...  流  。  </s>

The first token names the form (``<wujue> <qijue> <wulv> <qilv>``) and plays the start token's role, so
the model knows from the first step how many characters each line has and how many lines follow.
Why (docs/poems.md has the runs): training across poem boundaries and sampling from a fresh state was 0.4 nats
worse and gave malformed poems, and an unconditioned model sampled below temperature 1 over-produced
the short form. The loss counts every character (punctuation included) and the end token, so
validation loss is "nats per character" as the baselines in rnnkit.poems.baselines count it.

All poems of a batch share a form, hence a length: no padding, no masks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnkit.models.lm import LanguageModel, LanguageModelConfig
from rnnkit.poems.data import FORM_TOKENS, FORMS, PoemSplit, load_poems, poem_form, split_poems
from rnnkit.text.tokenizer import Tokenizer
from rnnkit.training.registry import register_task
from rnnkit.training.task import StepOutput


def _default_model() -> LanguageModelConfig:
    return LanguageModelConfig(embedding_size=256, hidden_size=512, adaptive_cutoffs=(1000, 3000))


@dataclass(frozen=True)
class PoemTaskConfig:
    batch_size: int = 8  # poems per training batch (all of one form); small batches learn more per character
    val_batch_size: int = 512  # poems per validation batch
    val_fraction: float = 0.05  # validation poems, split by poem
    split_seed: int = 0  # random.Random(split_seed) shuffles the poems before the split
    min_count: int = 2  # characters seen fewer times in training become <unk>
    max_val_poems: int | None = None  # validate on the first N validation poems only (None: all)
    model: LanguageModelConfig = field(default_factory=_default_model)

    def __post_init__(self):
        for name in ("batch_size", "val_batch_size", "min_count"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {getattr(self, name)!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction: expected a value in (0, 1), got {self.val_fraction!r}")
        if self.max_val_poems is not None and self.max_val_poems < 1:
            raise ValueError(f"max_val_poems: expected an int >= 1 or None, got {self.max_val_poems!r}")


class PoemBatch(NamedTuple):
    inputs: Tensor  # (B, T) form token + characters
    targets: Tensor  # (B, T) characters + end token


def build_poem_tokenizer(train_poems: Sequence[str], min_count: int = 2) -> Tokenizer:
    """Character tokenizer over the training poems, with one special token per form."""
    return Tokenizer.build(train_poems, level="char", min_count=min_count, extra_specials=FORM_TOKENS)


def encode_poems(poems: Sequence[str], tokenizer: Tokenizer) -> dict[str, Tensor]:
    """Group poems by form: form name -> (N, num_chars + 2) long tensor ``[form token, chars, end]``."""
    rows: dict[str, list[list[int]]] = {name: [] for name in FORMS}
    for poem in poems:
        form = poem_form(poem)
        rows[form.name].append([tokenizer.token_to_id(form.token), *tokenizer.encode(poem), tokenizer.end_id])
    return {
        name: torch.tensor(r, dtype=torch.long).view(len(r), FORMS[name].num_chars + 2)
        for name, r in rows.items()
        if r
    }


def _batches(encoded: dict[str, Tensor], batch_size: int, generator: torch.Generator | None) -> list[PoemBatch]:
    batches = []
    for rows in encoded.values():
        if generator is not None:
            rows = rows[torch.randperm(rows.size(0), generator=generator)]
        for start in range(0, rows.size(0), batch_size):
            chunk = rows[start : start + batch_size]
            batches.append(PoemBatch(chunk[:, :-1], chunk[:, 1:]))
    if generator is not None:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches


class PoemTask:
    """Train a character-level language model on Tang poems (implements rnnkit.training.task.Task).

    Args:
        config: a :class:`PoemTaskConfig`.
        seed: the batch order; batches depend only on (seed, epoch), so a resumed run sees the same data.
        poems: the (train, val) split; by default the shipped corpus split by ``config``.
    """

    def __init__(self, config: PoemTaskConfig | None = None, seed: int = 0, *, poems: PoemSplit | None = None):
        self.config, self.seed = config or PoemTaskConfig(), seed
        if poems is None:
            poems = split_poems(load_poems(), self.config.val_fraction, self.config.split_seed)
        train, val = poems
        if self.config.max_val_poems is not None:
            val = val[: self.config.max_val_poems]
        if not train or not val:
            raise ValueError(f"PoemTask: expected training and validation poems, got {len(train)} and {len(val)}")
        self.tokenizer = build_poem_tokenizer(train, self.config.min_count)
        self.model_config = dataclasses.replace(self.config.model, vocab_size=len(self.tokenizer))
        self.train_data = encode_poems(train, self.tokenizer)
        self.val_data = encode_poems(val, self.tokenizer)

    def build_model(self) -> nn.Module:
        return LanguageModel(self.model_config)

    def train_batches(self, epoch: int) -> Iterator[PoemBatch]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return iter(_batches(self.train_data, self.config.batch_size, generator))

    def val_batches(self) -> Iterator[PoemBatch]:
        return iter(_batches(self.val_data, self.config.val_batch_size, None))

    def step(self, model: nn.Module, batch: PoemBatch, state: Any) -> StepOutput:
        device = next(model.parameters()).device
        inputs, targets = batch.inputs.to(device), batch.targets.to(device)
        features, _ = model.features(inputs)  # every poem starts from a fresh state
        nll = model.nll(features, targets)  # (B, T) nats
        return StepOutput(loss=nll.mean(), count=nll.numel())

    def bundle_parts(self) -> dict[str, Any]:
        """What `rnnkit train` stores in the run's bundle besides the weights (see rnnkit.training.run)."""
        return {"tokenizer": self.tokenizer}


def make_poem_task(options: PoemTaskConfig, seed: int) -> PoemTask:
    return PoemTask(options, seed)


register_task("poems", make_poem_task, options=PoemTaskConfig)
