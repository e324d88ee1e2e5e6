r"""Sequence to sequence with attention: a bidirectional encoder reads the source, a decoder writes the target.

    source (B, S) ──embedding──▶ bidirectional LSTM/GRU (H/2 per direction, with lengths) ──▶ memory (B, S, H)
                                         │ final states, both directions concatenated: (L, B, H)
                                         ▼
    y_{t-1} ──embedding──▶ [ e_t ; h̃_{t-1} ] ──▶ decoder LSTM/GRU ──▶ h_t ──attention(h_t, memory)──▶ c_t
        h̃_t = tanh(W_c [c_t ; h_t])  ──dropout──▶ [Linear H→E if tied and H ≠ E] ──▶ output ──▶ logits_t

Attention (``config.attention``), scores over the valid source positions only (padding gets weight exactly 0):

* ``"none"``: Sutskever et al. 2014 (arXiv:1409.3215): the decoder sees the source only through the encoder's
  final state, its initial state; h̃_t = h_t.
* ``"additive"``: the score of Bahdanau et al. 2015 (arXiv:1409.0473, appendix A.1.2),
  score(h_t, m_s) = vᵀ tanh(W_q h_t + W_m m_s), inside the decoder above.
* ``"dot"``: score(h_t, m_s) = h_tᵀ m_s; ``"general"``: score(h_t, m_s) = h_tᵀ W_a m_s (Luong et al. 2015,
  arXiv:1508.04025, section 3.1).

  α_t = softmax_s(score(h_t, m_s)) over valid s,   c_t = Σ_s α_ts m_s.

The decoder is Luong et al.'s (section 3): attention is computed from the current state h_t, and the
attentional vector h̃_t is fed to the next step's input when ``input_feeding`` (section 3.3). With
``"additive"`` this is Luong's "concat" score; Bahdanau's own decoder differs (it queries with h_{t-1},
feeds c_t to the recurrent cell and has a maxout output layer): see docs/seq2seq.md.

The encoder's hidden size per direction is H/2, so its memory and its concatenated final states are H wide
(OpenNMT's ``brnn`` convention), which lets the final states start the decoder and ``"dot"`` compare h_t
with m_s directly.

Decoding uses :mod:`rnnkit.decoding` through :meth:`Seq2Seq.decoder`: it binds one batch of sources and is
a language model in that module's protocol, ``logits, state = decoder(tokens, state)``; every tensor of its
state, the encoder memory and source mask included, has the batch in dimension 1, so beam search reorders
it with :func:`rnnkit.decoding.reorder_state` like any recurrent state.

Example:
    >>> config = Seq2SeqConfig(source_vocab_size=20, target_vocab_size=30, embedding_size=8, hidden_size=16)
    >>> model = Seq2Seq(config).eval()
    >>> source, target = torch.randint(4, 20, (3, 7)), torch.randint(4, 30, (3, 5))
    >>> out = model(source, target, source_lengths=torch.tensor([7, 4, 2]))
    >>> out.logits.shape, out.attention.shape
    (torch.Size([3, 5, 30]), torch.Size([3, 5, 7]))
    >>> from rnnkit.decoding import generate
    >>> result = generate(model.decoder(source, torch.tensor([7, 4, 2])), torch.full((3, 1), 2), method="beam",
    ...                   beam_size=3, max_new_tokens=6, eos_id=3)
    >>> result.tokens.shape[0]
    3
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnkit.models.lm import recurrent_layer
from rnnkit.sequences import check_lengths, lengths_to_mask

__all__ = ["ATTENTIONS", "Attention", "BoundDecoder", "DecoderState", "Encoded", "Seq2Seq", "Seq2SeqConfig",
           "Seq2SeqOutput"]

ATTENTIONS = ("none", "additive", "dot", "general")
CELLS = ("lstm", "gru")


@dataclass(frozen=True)
class Seq2SeqConfig:
    source_vocab_size: int | None = None  # None in a task's config: the task sets it from its source tokenizer
    target_vocab_size: int | None = None  # likewise, from the target tokenizer
    embedding_size: int = 128  # E, source and target embeddings
    hidden_size: int = 256  # H: decoder state and encoder memory; the encoder has H/2 per direction
    num_layers: int = 1  # encoder and decoder layers
    cell: str = "lstm"  # "lstm" | "gru" (encoder and decoder)
    attention: str = "general"  # "none" | "additive" | "dot" | "general"
    input_feeding: bool = True  # feed h̃_{t-1} to the decoder's input (Luong 3.3); needs attention
    attention_size: int | None = None  # additive score's hidden width; None: H
    dropout: float = 0.0  # on embeddings, between layers, and on h̃ before the output layer
    tie_embeddings: bool = False  # output weight = target embedding weight (a Linear H→E first if H ≠ E)
    backend: str = "auto"  # rnnkit layer backend: "auto" | "loop" | "native"

    def __post_init__(self) -> None:
        # Messages start with the field name, as rnnkit.config.load_config expects.
        for name in ("source_vocab_size", "target_vocab_size", "embedding_size", "hidden_size", "num_layers",
                     "attention_size"):
            value = getattr(self, name)
            if value is None and name in ("source_vocab_size", "target_vocab_size", "attention_size"):
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {value!r}")
        if self.hidden_size % 2:
            raise ValueError(f"hidden_size: expected an even int (the encoder has hidden_size / 2 per direction), "
                             f"got {self.hidden_size}")
        if self.cell not in CELLS:
            raise ValueError(f"cell: expected one of {CELLS}, got {self.cell!r}")
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention: expected one of {ATTENTIONS}, got {self.attention!r}")
        if self.attention == "none" and self.input_feeding:
            raise ValueError("input_feeding: expected False with attention 'none' (there is no attentional vector "
                             "to feed), got True; set input_feeding=false")
        if not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout: expected a value in [0, 1), got {self.dropout!r}")


class Encoded(NamedTuple):
    """What the encoder hands the decoder."""

    memory: Tensor  # (B, S, H): both directions' outputs, zero past each length
    mask: Tensor  # (B, S) bool: True at valid source positions
    state: Any  # final states, directions concatenated: (L, B, H), or (h, c) for an LSTM


class DecoderState(NamedTuple):
    """The decoder's state in rnnkit.decoding's layout: every tensor has the batch in dimension 1."""

    rnn: Any  # (L, B, H), or (h, c) for an LSTM
    feed: Tensor | None  # (1, B, H): h̃ of the previous step (input feeding); None without it
    memory: Tensor  # (S, B, H)
    keys: Tensor | None  # (S, B, K): the memory's part of the score, computed once; None for "none"
    mask: Tensor  # (S, B) bool


class Seq2SeqOutput(NamedTuple):
    logits: Tensor  # (B, T, V)
    attention: Tensor | None  # (B, T, S) weights, 0 on padding; None when config.attention == "none"
    state: DecoderState  # after the last target step


class Attention(nn.Module):
    """Attention over a padded memory: scores, masked softmax and context (see the module docstring).

    Args:
        score: ``"additive"`` | ``"dot"`` | ``"general"``.
        hidden_size: H, the size of the queries and of the memory.
        attention_size: the additive score's hidden width (default H).

    Shape: query (B, T, H), keys from :meth:`keys` (B, S, K), memory (B, S, H), mask (B, S) bool ->
    context (B, T, H) and weights (B, T, S), which sum to 1 over the valid positions and are exactly 0 on
    padding (their scores are -inf before the softmax).
    """

    def __init__(self, score: str, hidden_size: int, attention_size: int | None = None):
        super().__init__()
        if score not in ATTENTIONS[1:]:
            raise ValueError(f"score: expected one of {ATTENTIONS[1:]}, got {score!r}")
        self.score = score
        if score == "general":
            self.weight = nn.Linear(hidden_size, hidden_size, bias=False)  # W_a
        elif score == "additive":
            size = attention_size or hidden_size
            self.query = nn.Linear(hidden_size, size, bias=False)  # W_q
            self.memory = nn.Linear(hidden_size, size)  # W_m (its bias is the score's bias)
            self.vector = nn.Linear(size, 1, bias=False)  # v

    def keys(self, memory: Tensor) -> Tensor:
        """The memory's part of every score, computed once per source: (B, S, H) -> (B, S, K)."""
        if self.score == "general":
            return self.weight(memory)  # h_tᵀ W_a m_s = h_tᵀ (W_a m_s)
        if self.score == "additive":
            return self.memory(memory)
        return memory

    def forward(self, query: Tensor, keys: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        if self.score == "additive":
            hidden = torch.tanh(self.query(query)[:, :, None, :] + keys[:, None, :, :])  # (B, T, S, K)
            scores = self.vector(hidden).squeeze(-1)  # (B, T, S)
        else:
            scores = torch.bmm(query, keys.transpose(1, 2))  # (B, T, H) x (B, H, S) -> (B, T, S)
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # exp(-inf) = 0: padding gets exactly 0
        return torch.bmm(weights, memory), weights  # (B, T, H), (B, T, S)


class Seq2Seq(nn.Module):
    """Encoder-decoder with attention (see the module docstring).

    Args:
        config: a :class:`Seq2SeqConfig` with both vocabulary sizes set.

    Shape:
        source (B, S) long, source_lengths (B,) or None (every row has S), target inputs (B, T) long (the
        start token, then the target shifted right). :meth:`forward` returns logits (B, T, V_target),
        attention (B, T, S) and the decoder state.
    """

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        if not isinstance(config, Seq2SeqConfig):
            raise TypeError(f"Seq2Seq: config must be a Seq2SeqConfig, got {type(config).__name__}")
        for name in ("source_vocab_size", "target_vocab_size"):
            if getattr(config, name) is None:
                raise ValueError(f"Seq2Seq: config.{name} must be set (the tokenizer's size), got None")
        self.config = config
        E, H, L = config.embedding_size, config.hidden_size, config.num_layers
        layer_dropout = config.dropout if L > 1 else 0.0
        self.source_embedding = nn.Embedding(config.source_vocab_size, E)
        self.target_embedding = nn.Embedding(config.target_vocab_size, E)
        self.encoder = _bidirectional(config.cell, E, H // 2, L, dropout=layer_dropout, backend=config.backend)
        feed = H if config.input_feeding else 0
        self.decoder_rnn = recurrent_layer(config.cell, E + feed, H, L, dropout=layer_dropout,
                                           backend=config.backend)
        self.attention = None if config.attention == "none" else Attention(config.attention, H,
                                                                           config.attention_size)
        self.combine = None if self.attention is None else nn.Linear(2 * H, H, bias=False)  # W_c
        self.dropout = nn.Dropout(config.dropout)
        self.projection = nn.Linear(H, E) if config.tie_embeddings and H != E else None
        self.output = nn.Linear(E if config.tie_embeddings else H, config.target_vocab_size)
        if config.tie_embeddings:
            self.output.weight = self.target_embedding.weight  # one tensor, two uses
        nn.init.uniform_(self.source_embedding.weight, -0.1, 0.1)
        nn.init.uniform_(self.target_embedding.weight, -0.1, 0.1)
        nn.init.zeros_(self.output.bias)

    # -- encoder ---------------------------------------------------------------------------------------

    def encode(self, source: Tensor, source_lengths: Any = None) -> Encoded:
        """source (B, S) -> memory (B, S, H), mask (B, S) and the final states (L, B, H) of both directions."""
        if not isinstance(source, Tensor) or source.dim() != 2 or source.dtype.is_floating_point:
            got = tuple(source.shape) if isinstance(source, Tensor) else type(source).__name__
            raise ValueError(f"source: expected a (B, S) tensor of token ids, got {got}")
        batch, steps = source.shape
        if source_lengths is None:
            lengths = torch.full((batch,), steps, dtype=torch.long)
        else:
            lengths = check_lengths(source_lengths, batch, steps, "source_lengths")
        x = self.dropout(self.source_embedding(source))  # (B, S, E)
        memory, state = self.encoder(x, lengths=lengths)  # (B, S, H); h_n (2L, B, H/2)
        mask = lengths_to_mask(lengths, steps, device=source.device)  # (B, S)
        if isinstance(state, tuple):
            state = tuple(_join_directions(part) for part in state)
        else:
            state = _join_directions(state)
        return Encoded(memory, mask, state)

    def initial_state(self, encoded: Encoded) -> DecoderState:
        """The decoder's state before the start token: the encoder's final states, h̃_0 = 0."""
        memory = encoded.memory
        feed = memory.new_zeros(1, memory.size(0), memory.size(2)) if self.config.input_feeding else None
        keys = None if self.attention is None else self.attention.keys(memory).transpose(0, 1)  # (S, B, K)
        return DecoderState(encoded.state, feed, memory.transpose(0, 1), keys, encoded.mask.t())

    # -- decoder ---------------------------------------------------------------------------------------

    def decode(self, tokens: Tensor, state: DecoderState, *, lengths: Any = None,
               sampling_ratio: float = 0.0) -> tuple[Tensor, Tensor | None, DecoderState]:
        """Run the decoder over target inputs: tokens (B, T) -> features (B, T, F), attention (B, T, S) or
        None, and the state after each row's last valid token (``lengths``, (B,), or all T).

        ``sampling_ratio`` (training only): at each step after the first, each row's input is, with this
        probability, a token sampled from the model's own previous prediction instead of ``tokens``
        (scheduled sampling, Bengio et al. 2015, arXiv:1506.03099, with a constant ratio).
        """
        if tokens.dim() != 2:
            raise ValueError(f"tokens: expected a (B, T) tensor of target token ids, got shape {tuple(tokens.shape)}")
        stepwise = self.config.input_feeding or sampling_ratio > 0 or lengths is not None
        if not stepwise:  # teacher forcing without feeding: the recurrent layer runs every step at once
            hidden, rnn_state = self.decoder_rnn(self.dropout(self.target_embedding(tokens)), state.rnn)
            features, attention = self._attend(hidden, state)
            return features, attention, state._replace(rnn=rnn_state)
        if lengths is not None:
            lengths = check_lengths(lengths, tokens.size(0), tokens.size(1), "lengths").to(tokens.device)
        outputs, weights = [], []
        token = tokens[:, :1]
        for step in range(tokens.size(1)):
            if step > 0:
                token = tokens[:, step:step + 1]
                if sampling_ratio > 0:
                    logits = self.output_logits(outputs[-1]).detach()  # (B, 1, V)
                    sampled = torch.multinomial(logits[:, 0].softmax(-1), 1)  # (B, 1)
                    use = torch.rand(token.shape, device=token.device) < sampling_ratio
                    token = torch.where(use, sampled, token)
            x = self.dropout(self.target_embedding(token))  # (B, 1, E)
            if state.feed is not None:
                x = torch.cat([x, state.feed.transpose(0, 1)], dim=-1)  # (B, 1, E + H)
            hidden, rnn_state = self.decoder_rnn(x, state.rnn)  # (B, 1, H)
            features, attention = self._attend(hidden, state)
            new = state._replace(rnn=rnn_state, feed=None if state.feed is None else features.transpose(0, 1))
            if lengths is not None:  # rows already past their last token keep their state
                new = _where_rows(step < lengths, new, state)
            state = new
            outputs.append(features)
            weights.append(attention)
        attention = None if self.attention is None else torch.cat(weights, dim=1)
        return torch.cat(outputs, dim=1), attention, state

    def _attend(self, hidden: Tensor, state: DecoderState) -> tuple[Tensor, Tensor | None]:
        """hidden (B, T, H) -> h̃ (B, T, H) and weights (B, T, S); h̃ = h without attention."""
        if self.attention is None:
            return hidden, None
        memory, keys, mask = state.memory.transpose(0, 1), state.keys.transpose(0, 1), state.mask.t()
        context, weights = self.attention(hidden, keys, memory, mask)
        return torch.tanh(self.combine(torch.cat([context, hidden], dim=-1))), weights  # (B, T, H)

    def output_logits(self, features: Tensor) -> Tensor:
        """h̃ (B, T, H) -> logits (B, T, V)."""
        features = self.dropout(features)
        if self.projection is not None:
            features = self.projection(features)  # (B, T, H) -> (B, T, E)
        return self.output(features)

    def forward(self, source: Tensor, target: Tensor, *, source_lengths: Any = None,
                sampling_ratio: float = 0.0) -> Seq2SeqOutput:
        """Teacher forcing: logits for every target input (B, T), the attention weights and the last state."""
        if not 0.0 <= sampling_ratio <= 1.0:
            raise ValueError(f"sampling_ratio: expected a value in [0, 1], got {sampling_ratio!r}")
        if target.size(0) != source.size(0):
            raise ValueError(f"target: expected {source.size(0)} rows (one per source), got {target.size(0)}")
        state = self.initial_state(self.encode(source, source_lengths))
        features, attention, state = self.decode(target, state, sampling_ratio=sampling_ratio)
        return Seq2SeqOutput(self.output_logits(features), attention, state)

    def decoder(self, source: Tensor, source_lengths: Any = None) -> BoundDecoder:
        """The decoder bound to one batch of sources: a language model for :mod:`rnnkit.decoding`."""
        return BoundDecoder(self, self.encode(source, source_lengths))


class BoundDecoder:
    """``logits, state = decoder(tokens, state=None, lengths=None)``, rnnkit.decoding's protocol, for the
    sources it was made with (:meth:`Seq2Seq.decoder`). ``state=None`` starts from those sources' encoding;
    a later state is a :class:`DecoderState` (batch in dimension 1), reordered freely by beam search.

    Shape: tokens (B, T) with B the number of sources (or the rows of a given state) -> logits (B, T, V).
    """

    def __init__(self, model: Seq2Seq, encoded: Encoded):
        self.model = model
        self.start = model.initial_state(encoded)
        self.batch_size = encoded.memory.size(0)

    def __call__(self, tokens: Tensor, state: DecoderState | None = None, lengths: Any = None):
        if state is None:
            if tokens.size(0) != self.batch_size:
                raise ValueError(f"tokens: expected {self.batch_size} rows (one per bound source) when state is "
                                 f"None, got {tokens.size(0)}")
            state = self.start
        features, _, state = self.model.decode(tokens, state, lengths=lengths)
        return self.model.output_logits(features), state


def _bidirectional(cell: str, input_size: int, hidden_size: int, num_layers: int, *, dropout: float,
                   backend: str) -> nn.Module:
    import rnnkit

    layer = rnnkit.LSTM if cell == "lstm" else rnnkit.GRU
    return layer(input_size, hidden_size, num_layers, batch_first=True, dropout=dropout, bidirectional=True,
                 backend=backend)


def _join_directions(h_n: Tensor) -> Tensor:
    """(2L, B, H/2), torch's layer-major direction order -> (L, B, H): [forward ; backward] per layer."""
    layers2, batch, half = h_n.shape
    return h_n.view(layers2 // 2, 2, batch, half).permute(0, 2, 1, 3).reshape(layers2 // 2, batch, 2 * half)


def _where_rows(keep: Tensor, new: Any, old: Any) -> Any:
    """Per row (dimension 1), ``new`` where keep else ``old``, through a nested state."""
    if new is None:
        return None
    if isinstance(new, Tensor):
        return torch.where(keep.view(1, -1, *([1] * (new.dim() - 2))), new, old)
    parts = [_where_rows(keep, n, o) for n, o in zip(new, old, strict=True)]
    return type(new)(*parts) if hasattr(new, "_fields") else type(new)(parts)


def _register() -> None:
    from rnnkit.bundle import register_kind

    register_kind("seq2seq", Seq2Seq, Seq2SeqConfig)


_register()
