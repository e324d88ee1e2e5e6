r"""Backpropagation through time by hand for the LSTM variants (layer norm, recurrent dropout, zoneout,
peepholes, coupled gates): the fast path of ``rnnkit.LSTM(..., backend="loop")`` with those options.

Same design as :mod:`rnnkit.fused`: one ``autograd.Function`` per layer and direction, preallocated buffers,
weight gradients as one matrix multiply (or one reduction) after the loop. The forward equations are those of
:func:`rnnkit.variants.steps.lstm_variant_step`; tests compare the two (outputs and every gradient).

Backward of one step, given dh' and dc' flowing back from step t+1 (notation of ``steps.py``; s = tanh(y),
y = γ_c ⊙ ĉ + β_c with ĉ = LN(c̃), or y = c̃ without layer norm)::

    zoneout:      dh̃ = (1 − d_h) ⊙ dh'    dc̃ = (1 − d_c) ⊙ dc'     to step t-1: d_h ⊙ dh', d_c ⊙ dc'
    output:       dr = dh̃ (or dh̃ W_hr)     do = dr ⊙ s               dy = dr ⊙ o ⊙ (1 − s²)
    LN of c:      dγ_c += dy ⊙ ĉ,  dβ_c += dy,   dc̃ += rstd ⊙ (dŷ − mean(dŷ) − ĉ ⊙ mean(dŷ ⊙ ĉ)),  dŷ = γ_c ⊙ dy
    output gate:  da_o = do ⊙ o(1 − o);   peephole: dc̃ += da_o ⊙ p_o,  dp_o += da_o ⊙ c̃
    cell:         c̃ = f ⊙ c + i ⊙ g:  di = dc̃ ⊙ g,  df = dc̃ ⊙ c,  dg = dc̃ ⊙ i,  dc = dc̃ ⊙ f
                  coupled (f = 1 − i): di = dc̃ ⊙ (g − c),  dc = dc̃ ⊙ (1 − i)
                  da_· = d· ⊙ σ' (tanh' for g);  peephole: dc += da_i ⊙ p_i + da_f ⊙ p_f
    recurrent:    u = W_hh (m_h ⊙ h), a = ... + γ_hh ⊙ LN(u):  dγ_hh += da ⊙ û,  du = LN-backward(γ_hh ⊙ da)
                  dW_hh += duᵀ (m_h ⊙ h);   to step t-1: dh = m_h ⊙ (du W_hh)

A double backward (create_graph=True) and batched gradients (vmap) go through autograd instead, on
:func:`variant_reference` (as in :mod:`rnnkit.fused`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..fused import (
    _autograd_backward,
    _by_hand,
    _cell_gate_factors,
    _gate_derivatives,
    _output,
    _save,
    _saved,
    _Tanh,
    _times_tanh_derivative,
    _unmasked_steps,
)
from ..scan import scan
from ..transposed import transposed
from .options import VariantOptions, VariantWeights
from .steps import LAYER_NORM_EPS, lstm_variant_step

__all__ = ["LSTMVariantRecurrence", "variant_reference"]


def variant_reference(projected, h0, c0, weight_hh, weight_hr, ln_hh_weight, ln_cell_weight, ln_cell_bias, peephole,
                      hidden_mask, keep_h, keep_c, coupled, mask, inference=False):
    """LSTMVariantRecurrence's forward as autograd operations: rnnkit.variants.steps.lstm_variant_step folded by
    rnnkit.scan.scan."""
    options = VariantOptions(layer_norm=ln_hh_weight is not None, peephole=peephole is not None,
                             coupled_gates=coupled)
    extras = VariantWeights(layer_norm_hh_weight=ln_hh_weight, layer_norm_cell_weight=ln_cell_weight,
                            layer_norm_cell_bias=ln_cell_bias, peephole_weight=peephole)
    step = lstm_variant_step(weight_hh, weight_hr, extras, options, hidden_mask)
    inputs = projected if keep_h is None else (projected, keep_h, keep_c)
    out, (h, c) = scan(step, inputs, (h0, c0), mask)
    return out, h, c


def _layer_norm_backward(grad: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, weight: Tensor) -> Tensor:
    """d/dx of LN(x) ⊙ weight: rstd ⊙ (ĝ − mean(ĝ) − x̂ ⊙ mean(ĝ ⊙ x̂)) with ĝ = grad ⊙ weight, in one kernel."""
    return torch.ops.aten.native_layer_norm_backward(grad, x, x.shape[-1:], mean, rstd, weight, None,
                                                     [True, False, False])[0]


class LSTMVariantRecurrence(torch.autograd.Function):
    """apply(projected (T, B, G·H), h0 (B, H_out), c0 (B, H), weight_hh, weight_hr | None,
    layer_norm_hh_weight | None, layer_norm_cell_weight | None, layer_norm_cell_bias | None, peephole | None,
    hidden_mask (B, H_out) | None, keep_h (T, B, H_out) | None, keep_c (T, B, H) | None, coupled: bool,
    mask (T, B, 1) | None, inference: bool = False) -> (output (T, B, H_out), h_T, c_T).

    ``inference``: no gradient is wanted for the weights, so they may be read in the cached layout of
    :mod:`rnnkit.transposed`."""

    @staticmethod
    def forward(ctx, projected, h0, c0, weight_hh, weight_hr, ln_hh_weight, ln_cell_weight, ln_cell_bias,
                peephole, hidden_mask, keep_h, keep_c, coupled, mask, inference=False):
        steps, batch, gate_width = projected.shape
        hidden = c0.size(-1)
        layer_norm = ln_hh_weight is not None
        unmasked = _unmasked_steps(mask, steps)
        new = projected.new_empty
        gates = new(steps, batch, gate_width)  # activated i, f, g, o (i, g, o when coupled)
        cells = new(steps + 1, batch, hidden)  # c_0 .. c_T, the carried state
        # c̃_t before zoneout and masking; without them it is the carried state itself (no copy per step)
        separate = keep_c is not None or unmasked < steps
        fresh = new(steps, batch, hidden) if separate else cells[1:]
        tanh_cells = new(steps, batch, hidden)  # s_t
        states = new(steps + 1, batch, h0.size(-1))  # h_0 .. h_T
        unprojected = new(steps, batch, hidden) if weight_hr is not None else None
        # With layer norm: W_hh (m_h ⊙ h) of every step, and the mean and 1/std of it and of c̃, (B, 1) per step,
        # kept in lists and stacked once after the loop (a copy per step into a buffer costs more).
        recurrent = new(steps, batch, gate_width) if layer_norm else None
        statistics: list[list[Tensor]] = [[], [], [], []]  # hh mean, hh 1/std, cell mean, cell 1/std
        tanh = _Tanh(projected)
        cells[0], states[0] = c0, h0
        weight_hh_t = transposed(weight_hh, inference=inference)
        weight_hr_t = None if weight_hr is None else transposed(weight_hr, inference=inference)
        if peephole is not None:
            peep = peephole.view(-1, hidden)
            p_i, p_f, p_o = peep[0], (None if coupled else peep[1]), peep[-1]
        for t in range(steps):
            h, c = states[t], cells[t]
            h_in = h if hidden_mask is None else h * hidden_mask
            a = gates[t]
            if layer_norm:  # one kernel for LN: normalised values, mean and 1/std
                u = torch.mm(h_in, weight_hh_t, out=recurrent[t])
                normalized, mean, rstd = torch.native_layer_norm(u, u.shape[-1:], ln_hh_weight, None, LAYER_NORM_EPS)
                statistics[0].append(mean)
                statistics[1].append(rstd)
                torch.add(projected[t], normalized, out=a)  # normalized carries the gain γ_hh already
            else:
                torch.addmm(projected[t], h_in, weight_hh_t, out=a)
            if peephole is not None:
                a[:, :hidden].addcmul_(c, p_i)
                if not coupled:
                    a[:, hidden: 2 * hidden].addcmul_(c, p_f)
            g_block = slice(hidden, 2 * hidden) if coupled else slice(2 * hidden, 3 * hidden)
            if peephole is None:  # one sigmoid over every gate, g doubled first: tanh(x) = 2σ(2x) − 1
                a[:, g_block].mul_(tanh.two)
                a.sigmoid_()
            else:  # o needs c̃ first
                a[:, g_block].mul_(tanh.two)
                a[:, : g_block.stop].sigmoid_()
            g = tanh.from_sigmoid_of_double(a[:, g_block])
            i = a[:, :hidden]
            if coupled:
                c_new = torch.sub(g, c, out=fresh[t]).mul_(i).add_(c)  # c + i ⊙ (g − c) = (1 − i) ⊙ c + i ⊙ g
            else:
                c_new = torch.mul(a[:, hidden: 2 * hidden], c, out=fresh[t]).addcmul_(i, g)
            o = a[:, -hidden:]
            if peephole is not None:
                o.addcmul_(c_new, p_o).sigmoid_()
            if layer_norm:
                y, mean, rstd = torch.native_layer_norm(c_new, (hidden,), ln_cell_weight, ln_cell_bias,
                                                        LAYER_NORM_EPS)
                statistics[2].append(mean)
                statistics[3].append(rstd)
                s = tanh(y, out=tanh_cells[t])
            else:
                s = tanh(c_new, out=tanh_cells[t])
            if weight_hr is None:
                h_new = torch.mul(o, s, out=states[t + 1])
            else:
                h_new = torch.mm(torch.mul(o, s, out=unprojected[t]), weight_hr_t, out=states[t + 1])
            if keep_h is not None:  # zoneout; lerp is exact at d = 0 and 1
                h_new.lerp_(h, keep_h[t])
                torch.lerp(c_new, c, keep_c[t], out=cells[t + 1])
            elif separate:
                cells[t + 1] = c_new
            if t >= unmasked:  # ended rows keep their state
                valid = mask[t]
                cells[t + 1] = torch.where(valid, cells[t + 1], c)
                states[t + 1] = torch.where(valid, states[t + 1], h)
        hh_mean, hh_rstd, cell_mean, cell_rstd = (torch.stack(parts) if parts else None for parts in statistics)
        _save(ctx, (projected, h0, c0, weight_hh, weight_hr, ln_hh_weight, ln_cell_weight, ln_cell_bias, peephole,
                    hidden_mask, keep_h, keep_c, coupled, mask, inference),
              gates, cells, fresh, tanh_cells, states, unprojected, recurrent, hh_mean, hh_rstd, cell_mean, cell_rstd)
        ctx.coupled, ctx.unmasked = coupled, unmasked
        ctx.has_cell_bias = ln_cell_bias is not None
        return _output(states[1:], mask), states[steps].clone(), cells[steps].clone()

    @staticmethod
    def backward(ctx, grad_output, grad_h_n, grad_c_n):
        arguments, (gates, cells, fresh, tanh_cells, states, unprojected, recurrent, hh_mean, hh_rstd, cell_mean,
                    cell_rstd) = _saved(ctx)
        if not _by_hand((grad_output, grad_h_n, grad_c_n)):
            return _autograd_backward(ctx, variant_reference, arguments, (grad_output, grad_h_n, grad_c_n))
        (weight_hh, weight_hr, ln_hh_weight, ln_cell_weight, _, peephole, hidden_mask, keep_h, keep_c, _,
         mask) = arguments[3:14]
        coupled, layer_norm = ctx.coupled, ln_hh_weight is not None
        steps, _, gate_width = gates.shape
        hidden = cells.size(-1)
        if mask is not None:
            grad_output = grad_output * mask
        # Factors that do not depend on the incoming gradient, for all steps at once.
        g_block = slice(hidden, 2 * hidden) if coupled else slice(2 * hidden, 3 * hidden)
        derivative = _gate_derivatives(gates, g_block)  # σ' for the sigmoid gates, tanh' for g
        i, g, o = gates[..., :hidden], gates[..., g_block], gates[..., -hidden:]
        o_dtanh = _times_tanh_derivative(o, tanh_cells)
        # d(pre-activation of o) = dh ⊙ s ⊙ σ'(o), written over σ'(o), which nothing else reads
        o_factor = derivative[..., -hidden:].mul_(tanh_cells)
        if coupled:
            g_minus_c = g - cells[:-1]
            one_minus_i = 1 - i
        else:
            f = gates[..., hidden: 2 * hidden]
            # one (T, B, 3, H) factor, so each step multiplies dc once for the i, f, g blocks (as rnnkit.fused does)
            partners = _cell_gate_factors(g, cells[:-1], i, derivative)
        if peephole is not None:
            peep = peephole.view(-1, hidden)
            p_i, p_f, p_o = peep[0], (None if coupled else peep[1]), peep[-1]
        grad_gates = torch.empty_like(gates)  # d(pre-activations) = d(projected)
        grad_recurrent: list[Tensor] = []  # d(W_hh (m_h ⊙ h)) per step with layer norm, last step first
        grad_cell_out = torch.empty_like(tanh_cells) if layer_norm else None  # dy
        grad_unprojected = torch.empty_like(states[1:]) if weight_hr is not None else None
        grad_h, grad_c = grad_h_n.clone(), grad_c_n.clone()
        for t in reversed(range(steps)):
            masked = t >= ctx.unmasked
            if masked:  # an ended row's gradient passes straight to the previous state
                valid = mask[t]
                pass_h, pass_c = grad_h * ~valid, grad_c * ~valid
                grad_h, grad_c = grad_h * valid, grad_c * valid
            dh = grad_h.add_(grad_output[t])
            dc = grad_c
            if keep_h is not None:
                direct_h, direct_c = dh * keep_h[t], dc * keep_c[t]
                dh = dh - direct_h
                dc = dc - direct_c
            if weight_hr is not None:
                grad_unprojected[t] = dh
                dh = dh.mm(weight_hr)  # (B, P) -> (B, H)
            row = grad_gates[t]
            if layer_norm:
                dy = torch.mul(dh, o_dtanh[t], out=grad_cell_out[t])
                dc = dc.add_(_layer_norm_backward(dy, fresh[t], cell_mean[t], cell_rstd[t], ln_cell_weight))
            else:
                dc = dc.addcmul_(dh, o_dtanh[t])  # dc is this step's own tensor: updated in place
            da_o = torch.mul(dh, o_factor[t], out=row[:, -hidden:])
            if peephole is not None:
                dc.addcmul_(da_o, p_o)
            if coupled:
                torch.mul(dc, g_minus_c[t], out=row[:, :hidden])
                torch.mul(dc, i[t], out=row[:, hidden: 2 * hidden])
                row[:, : 2 * hidden].mul_(derivative[t, :, : 2 * hidden])
                dc_previous = dc.mul_(one_minus_i[t])
            else:
                torch.mul(dc.unsqueeze(1), partners[t], out=row[:, : 3 * hidden].view(-1, 3, hidden))
                dc_previous = dc.mul_(f[t])
            if peephole is not None:
                dc_previous.addcmul_(row[:, :hidden], p_i)
                if not coupled:
                    dc_previous.addcmul_(row[:, hidden: 2 * hidden], p_f)
            if layer_norm:
                grad_recurrent.append(_layer_norm_backward(row, recurrent[t], hh_mean[t], hh_rstd[t], ln_hh_weight))
            dh_previous = (grad_recurrent[-1] if layer_norm else row).mm(weight_hh)
            if hidden_mask is not None:
                dh_previous.mul_(hidden_mask)
            if keep_h is not None:
                dh_previous.add_(direct_h)
                dc_previous.add_(direct_c)
            if masked:
                dh_previous.add_(pass_h)
                dc_previous.add_(pass_c)
            grad_h, grad_c = dh_previous, dc_previous
        # Parameter gradients: one multiply or reduction over all steps.
        inputs = states[:-1] if hidden_mask is None else states[:-1] * hidden_mask
        if layer_norm:  # into derivative's memory, free after the loop: a fresh 13 MB buffer costs page faults
            grad_recurrent = torch.stack(grad_recurrent[::-1], out=derivative)
        else:
            grad_recurrent = grad_gates
        grad_weight_hh = grad_recurrent.flatten(0, 1).t().mm(inputs.flatten(0, 1))
        grad_weight_hr = grad_ln_hh = grad_ln_cell = grad_ln_cell_bias = grad_peephole = None
        if weight_hr is not None:
            grad_weight_hr = grad_unprojected.flatten(0, 1).t().mm(unprojected.flatten(0, 1))
        if layer_norm:  # gains Σ grad ⊙ x̂ (and the shift Σ grad) over all steps, one kernel each
            grad_ln_hh = torch.ops.aten.native_layer_norm_backward(
                grad_gates, recurrent, (gate_width,), hh_mean, hh_rstd, ln_hh_weight, None, [False, True, False])[1]
            _, grad_ln_cell, grad_ln_cell_bias = torch.ops.aten.native_layer_norm_backward(
                grad_cell_out, fresh, (hidden,), cell_mean, cell_rstd, ln_cell_weight, ln_cell_weight,
                [False, True, ctx.has_cell_bias])
        if peephole is not None:
            parts = [(grad_gates[..., :hidden] * cells[:-1]).sum((0, 1))]
            if not coupled:
                parts.append((grad_gates[..., hidden: 2 * hidden] * cells[:-1]).sum((0, 1)))
            parts.append((grad_gates[..., -hidden:] * fresh).sum((0, 1)))
            grad_peephole = torch.cat(parts)
        return (grad_gates, grad_h, grad_c, grad_weight_hh, grad_weight_hr, grad_ln_hh, grad_ln_cell,
                grad_ln_cell_bias, grad_peephole, None, None, None, None, None, None)
