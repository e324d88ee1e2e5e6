r"""The variant cells as step functions for :func:`rnnkit.scan.scan`: the readable reference.

One factory per cell kind builds, for a given set of options, the step ``(inputs_t, state) -> state`` of
one layer and direction. ``inputs_t`` is the projected input of the step (B, G·H), or, with zoneout, the
tuple (projected_t, keep_h_t, keep_c_t) of the projection and that step's zoneout masks. The fast path for
the LSTM (:mod:`rnnkit.variants.fused_lstm`) is tested against these functions.

Equations (one step; x̂ = LN(x) = (x − mean(x)) / sqrt(var(x) + ε) over the feature dimension, γ a gain,
m_h the recurrent-dropout mask of the sequence, d_h, d_c the zoneout masks of the step):

LSTM, with every option (each term drops out when its option is off)::

    a = γ_ih ⊙ LN(W_ih (m_x ⊙ x)) + b_ih + b_hh   +   γ_hh ⊙ LN(W_hh (m_h ⊙ h))      (4H; 3H when coupled)
    i = σ(a_i + p_i ⊙ c)      f = σ(a_f + p_f ⊙ c)   (coupled_gates: f = 1 − i)
    g = tanh(a_g)             c̃ = f ⊙ c + i ⊙ g        o = σ(a_o + p_o ⊙ c̃)
    h̃ = o ⊙ tanh(γ_c ⊙ LN(c̃) + β_c)                     (W_hr h̃ with proj_size)
    c' = d_c ⊙ c + (1 − d_c) ⊙ c̃                          h' = d_h ⊙ h + (1 − d_h) ⊙ h̃

GRU::

    a = γ_ih ⊙ LN(W_ih (m_x ⊙ x)) + b_ih        u = γ_hh ⊙ LN(W_hh (m_h ⊙ h)) + b_hh    (3H each, r, z, n)
    r = σ(a_r + u_r)   z = σ(a_z + u_z)   n = tanh(a_n + r ⊙ u_n)   h̃ = (1 − z) ⊙ n + z ⊙ h
    h' = d_h ⊙ h + (1 − d_h) ⊙ h̃

Elman: h̃ = act(W_ih (m_x ⊙ x) + b_ih + W_hh (m_h ⊙ h) + b_hh),  h' = d_h ⊙ h + (1 − d_h) ⊙ h̃.

Without layer norm the LN(·) and γ drop out; masks m are 1/(1 − p)-scaled Bernoulli(1 − p) draws in training
and absent in evaluation; zoneout masks d are Bernoulli(p) draws in training and the constant p in evaluation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..cells import elman_input_projection, gru_input_projection, lstm_input_projection
from ..transposed import linear, transposed
from .options import VariantOptions, VariantWeights

__all__ = ["LAYER_NORM_EPS", "variant_projection", "lstm_variant_step", "gru_variant_step", "elman_variant_step",
           "zoneout_mix"]

LAYER_NORM_EPS = 1e-5  # torch.nn.LayerNorm's default


def variant_projection(mode: str, x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None, bias_hh: Tensor | None,
                       extras: VariantWeights) -> Tensor:
    """The input part of every step, (T, B, F) -> (T, B, G·H); with layer norm γ_ih ⊙ LN(W_ih x) + biases.

    As in the plain cells, the LSTM folds b_hh in here; the GRU keeps b_hh for the recurrent side (b_hn sits
    inside r ⊙ (...)).
    """
    if extras.layer_norm_ih_weight is None:
        if mode == "LSTM":
            return lstm_input_projection(x, weight_ih, bias_ih, bias_hh)
        if mode == "GRU":
            return gru_input_projection(x, weight_ih, bias_ih, bias_hh)
        return elman_input_projection(x, weight_ih, bias_ih, bias_hh)
    bias = bias_ih
    if mode == "LSTM" and bias_ih is not None:
        bias = bias_ih + bias_hh
    projected = linear(x, weight_ih)
    return F.layer_norm(projected, projected.shape[-1:], extras.layer_norm_ih_weight, bias, LAYER_NORM_EPS)


def zoneout_mix(previous: Tensor, new: Tensor, keep: Tensor) -> Tensor:
    """d ⊙ previous + (1 − d) ⊙ new; torch.lerp is exact at d = 0 and d = 1 (a kept unit is bit-for-bit the
    previous one)."""
    return torch.lerp(new, previous, keep)


def _split_inputs(inputs) -> tuple[Tensor, tuple[Tensor, ...]]:
    if isinstance(inputs, Tensor):
        return inputs, ()
    projected, *keep = inputs
    return projected, tuple(keep)


def lstm_variant_step(weight_hh: Tensor, weight_hr: Tensor | None, extras: VariantWeights, options: VariantOptions,
                      hidden_mask: Tensor | None) -> Callable:
    """The LSTM step with the options of ``options``; ``hidden_mask`` (B, H_out) is the recurrent-dropout mask."""
    coupled = options.coupled_gates

    def step(inputs, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        projected, keep = _split_inputs(inputs)
        h, c = state
        hidden = c.size(-1)
        recurrent = (h if hidden_mask is None else h * hidden_mask).mm(transposed(weight_hh))  # (B, G·H)
        if options.layer_norm:
            recurrent = F.layer_norm(recurrent, recurrent.shape[-1:], extras.layer_norm_hh_weight, None,
                                     LAYER_NORM_EPS)
        gates = projected + recurrent
        if coupled:
            i, g, o = gates.chunk(3, 1)  # 3 x (B, H)
            f = None
        else:
            i, f, g, o = gates.chunk(4, 1)  # 4 x (B, H)
        if options.peephole:
            peep = extras.peephole_weight.view(-1, hidden)  # rows i, (f,) o
            i = i + peep[0] * c
            if not coupled:
                f = f + peep[1] * c
        i = torch.sigmoid(i)
        f = 1 - i if coupled else torch.sigmoid(f)
        c_fresh = f * c + i * torch.tanh(g)
        if options.peephole:
            o = o + peep[-1] * c_fresh  # the output gate looks at the new cell (Gers & Schmidhuber 2000)
        o = torch.sigmoid(o)
        c_out = c_fresh
        if options.layer_norm:
            c_out = F.layer_norm(c_fresh, (hidden,), extras.layer_norm_cell_weight, extras.layer_norm_cell_bias,
                                 LAYER_NORM_EPS)
        h_fresh = o * torch.tanh(c_out)
        if weight_hr is not None:
            h_fresh = h_fresh.mm(transposed(weight_hr))  # (B, H) -> (B, P)
        if keep:
            return zoneout_mix(h, h_fresh, keep[0]), zoneout_mix(c, c_fresh, keep[1])
        return h_fresh, c_fresh

    return step


def gru_variant_step(weight_hh: Tensor, bias_hh: Tensor | None, extras: VariantWeights, options: VariantOptions,
                     hidden_mask: Tensor | None) -> Callable:
    """The GRU step with the options of ``options``."""

    def step(inputs, state: tuple[Tensor]) -> tuple[Tensor]:
        projected, keep = _split_inputs(inputs)
        h = state[0]
        h_dropped = h if hidden_mask is None else h * hidden_mask
        if options.layer_norm:
            recurrent = F.layer_norm(linear(h_dropped, weight_hh), (weight_hh.size(0),),
                                     extras.layer_norm_hh_weight, bias_hh, LAYER_NORM_EPS)
        else:
            recurrent = linear(h_dropped, weight_hh, bias_hh)
        x_r, x_z, x_n = projected.chunk(3, 1)  # 3 x (B, H)
        h_r, h_z, h_n = recurrent.chunk(3, 1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        h_fresh = n + z * (h - n)
        return (zoneout_mix(h, h_fresh, keep[0]) if keep else h_fresh,)

    return step


def elman_variant_step(weight_hh: Tensor, nonlinearity: str, options: VariantOptions,
                       hidden_mask: Tensor | None) -> Callable:
    """The Elman step with recurrent dropout and/or zoneout."""

    def step(inputs, state: tuple[Tensor]) -> tuple[Tensor]:
        projected, keep = _split_inputs(inputs)
        h = state[0]
        pre = torch.addmm(projected, h if hidden_mask is None else h * hidden_mask, transposed(weight_hh))
        h_fresh = torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)
        return (zoneout_mix(h, h_fresh, keep[0]) if keep else h_fresh,)

    return step
