"""`char_lm`: a character language model on one long text, read as a stateful stream (truncated BPTT).

The training text is cut into ``batch_size`` parallel tracks read in windows of ``bptt`` characters
(rnnkit.training.tbptt): the state at the end of a window starts the next one, detached, so the model
sees the whole track but gradients flow back at most ``bptt`` steps (the classic char-rnn and
pytorch/examples word_language_model setup). Each epoch starts the tracks at a different offset
(below ``bptt``, from the seed and the epoch) so window edges move. Validation reads the validation text
the same way with the state carried, as the engine's ``evaluate`` does.

Corpus: tinyshakespeare (1,115,394 characters; first 90% train, last 10% validate, as nanoGPT's
shakespeare_char). ``rnnkit train configs/shakespeare_char.yaml``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from rnnkit.config import check
from rnnkit.models.lm import LanguageModel, LanguageModelConfig
from rnnkit.text.data import load_shakespeare
from rnnkit.text.tokenizer import Tokenizer
from rnnkit.training.registry import register_task
from rnnkit.training.task import StepOutput
from rnnkit.training.tbptt import Window, batchify, windows

CORPORA = {"tinyshakespeare": load_shakespeare}


def _default_model() -> LanguageModelConfig:
    return LanguageModelConfig(embedding_size=128, hidden_size=512, num_layers=2)


@dataclass(frozen=True)
class CharLMOptions:
    corpus: Literal["tinyshakespeare"] = "tinyshakespeare"
    batch_size: int = 32  # parallel tracks
    bptt: int = 128  # characters per window: gradients flow back at most this far
    model: LanguageModelConfig = field(default_factory=_default_model)

    def __post_init__(self) -> None:
        check(self.batch_size >= 1, "batch_size", "an integer >= 1", self.batch_size)
        check(self.bptt >= 1, "bptt", "an integer >= 1", self.bptt)


class CharLMTask:
    """The Task for ``char_lm`` (see the module docstring)."""

    def __init__(self, options: CharLMOptions | None = None, seed: int = 0, *, text: tuple[str, str] | None = None):
        self.options, self.seed = options or CharLMOptions(), seed
        train, val = CORPORA[self.options.corpus]() if text is None else text
        self.tokenizer = Tokenizer.build([train], level="char")
        self.model_config = dataclasses.replace(self.options.model, vocab_size=len(self.tokenizer))
        self.train_stream = torch.tensor(self.tokenizer.encode(train), dtype=torch.long)  # (N,)
        self.val_stream = torch.tensor(self.tokenizer.encode(val), dtype=torch.long)

    def build_model(self) -> nn.Module:
        return LanguageModel(self.model_config)

    def train_batches(self, epoch: int) -> Iterator[Window]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        offset = int(torch.randint(0, self.options.bptt, (), generator=generator)) if epoch else 0
        tracks = batchify(self.train_stream[offset:], self.options.batch_size)
        return windows(tracks, self.options.bptt)

    def val_batches(self) -> Iterator[Window]:
        tracks = batchify(self.val_stream, min(self.options.batch_size, self.val_stream.numel() // 2))
        return windows(tracks, self.options.bptt)

    def step(self, model: nn.Module, batch: Window, state: Any) -> StepOutput:
        # A new epoch (or validation) starts with state None; tracks never hold document breaks here.
        if state is not None and _batch_size(state) != batch.inputs.size(0):
            state = None  # validation uses fewer tracks than training when the text is short
        features, state = model.features(batch.inputs, state)
        nll = model.nll(features, batch.targets)  # (B, k)
        return StepOutput(loss=nll.mean(), count=nll.numel(), state=state)

    def bundle_parts(self) -> dict[str, Any]:
        """What `rnnkit train` stores in the run's bundle besides the weights (see rnnkit.training.run)."""
        return {"tokenizer": self.tokenizer}


def _batch_size(state: Any) -> int:
    return (state[0] if isinstance(state, (tuple, list)) else state).size(1)


def make_char_lm(options: CharLMOptions, seed: int) -> CharLMTask:
    return CharLMTask(options, seed)


register_task("char_lm", make_char_lm, options=CharLMOptions)
