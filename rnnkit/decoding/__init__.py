"""Decoding for recurrent language models: greedy, sampling, beam search, streaming, logits processors.

The model protocol (details in :mod:`rnnkit.decoding.protocol`)::

    logits, state = model(tokens, state, lengths=None)
    # tokens (B, T) long; state None or a (nested tuple of) tensor(s) with the batch in dim 1, e.g.
    # LSTM (h, c), each (L*D, B, H); with lengths, row b's tokens are tokens[b, :lengths[b]] and the
    # state is the one after its last valid token; logits (B, T, V) scores or log-probabilities.

The API::

    generate(model, prompts, lengths=None, *, method="greedy" | "sample" | "beam", max_new_tokens,
             processors=None, eos_id=None, beam_size=None, length_penalty=None, seed=None) -> Generation
    stream(...same arguments...) -> Iterator[Step]      # tokens as they are produced

Processors are ``(tokens (B, t), logits (B, V)) -> logits (B, V)`` callables; the built-in ones are small
frozen dataclasses: :func:`temperature`, :func:`top_k`, :func:`top_p`, :func:`repetition_penalty`,
:func:`ban_tokens`, :func:`ban_special_tokens`, :func:`allow_tokens`, :func:`min_length`, chained by
:func:`compose`. Beam search keeps its open hypotheses in a :class:`BeamState` (:mod:`rnnkit.decoding.beam`).
See docs/decoding.md.

Example:
    >>> import torch
    >>> from rnnkit.decoding import generate, temperature, top_p
    >>> class Toy(torch.nn.Module):  # an LSTM language model with 5 tokens
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.embedding, self.lstm = torch.nn.Embedding(5, 8), torch.nn.LSTM(8, 8, batch_first=True)
    ...         self.output = torch.nn.Linear(8, 5)
    ...     def forward(self, tokens, state=None, lengths=None):
    ...         y, state = self.lstm(self.embedding(tokens), state)
    ...         return self.output(y), state
    >>> out = generate(Toy().eval(), [[0, 3]], method="sample", max_new_tokens=6,
    ...                processors=[temperature(0.8), top_p(0.9)], eos_id=4, seed=0)
    >>> out.tokens.shape[0], type(out).__name__
    (1, 'Generation')
"""

from rnnkit.decoding.beam import BeamState
from rnnkit.decoding.options import DecodingOptions
from rnnkit.decoding.processors import (
    AllowTokens,
    BanTokens,
    Compose,
    MinLength,
    Processor,
    RepetitionPenalty,
    Temperature,
    TopK,
    TopP,
    allow_tokens,
    ban_special_tokens,
    ban_tokens,
    compose,
    min_length,
    repetition_penalty,
    temperature,
    top_k,
    top_p,
)
from rnnkit.decoding.protocol import LanguageModel, State, reorder_state
from rnnkit.decoding.search import (
    METHODS,
    Generation,
    Step,
    beam_search,
    generate,
    length_penalty_factor,
    stream,
)

__all__ = [
    "METHODS",
    "AllowTokens",
    "BanTokens",
    "BeamState",
    "Compose",
    "DecodingOptions",
    "Generation",
    "LanguageModel",
    "MinLength",
    "Processor",
    "RepetitionPenalty",
    "State",
    "Step",
    "Temperature",
    "TopK",
    "TopP",
    "allow_tokens",
    "ban_special_tokens",
    "ban_tokens",
    "beam_search",
    "compose",
    "generate",
    "length_penalty_factor",
    "min_length",
    "reorder_state",
    "repetition_penalty",
    "stream",
    "temperature",
    "top_k",
    "top_p",
]
