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

from typing import NamedTuple

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


class _Weights(NamedTuple):
    """The recurrence's parameters and per-call masks, as the forward and backward passes read them."""

    weight_hh: Tensor
    weight_hr: Tensor | None
    ln_hh_weight: Tensor | None
    ln_cell_weight: Tensor | None
    ln_cell_bias: Tensor | None
    peephole: Tensor | None
    hidden_mask: Tensor | None
    keep_h: Tensor | None
    keep_c: Tensor | None
    mask: Tensor | None
    coupled: bool

    def peepholes(self, hidden: int) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        """p_i, p_f (None when coupled), p_o; all None without peepholes."""
        if self.peephole is None:
            return None, None, None
        peep = self.peephole.view(-1, hidden)  # rows i, (f,) o
        return peep[0], (None if self.coupled else peep[1]), peep[-1]

    def g_block(self, hidden: int) -> slice:
        """Where the cell candidate g sits among the gates: i, f, g, o (or i, g, o when coupled)."""
        return slice(hidden, 2 * hidden) if self.coupled else slice(2 * hidden, 3 * hidden)


class _Forward:
    """The forward pass's buffers and one step of it (equations of rnnkit.variants.steps.lstm_variant_step)."""

    def __init__(self, projected: Tensor, h0: Tensor, c0: Tensor, w: _Weights, inference: bool):
        steps, batch, gate_width = projected.shape
        hidden = self.hidden = c0.size(-1)
        self.w, self.projected, self.layer_norm = w, projected, w.ln_hh_weight is not None
        self.unmasked = _unmasked_steps(w.mask, steps)
        new = projected.new_empty
        self.gates = new(steps, batch, gate_width)  # activated i, f, g, o (i, g, o when coupled)
        self.cells = new(steps + 1, batch, hidden)  # c_0 .. c_T, the carried state
        # c̃_t before zoneout and masking; without them it is the carried state itself (no copy per step)
        self.separate = w.keep_c is not None or self.unmasked < steps
        self.fresh = new(steps, batch, hidden) if self.separate else self.cells[1:]
        self.tanh_cells = new(steps, batch, hidden)  # s_t
        self.states = new(steps + 1, batch, h0.size(-1))  # h_0 .. h_T
        self.unprojected = new(steps, batch, hidden) if w.weight_hr is not None else None
        # With layer norm: W_hh (m_h ⊙ h) of every step, and the mean and 1/std of it and of c̃, (B, 1) per step,
        # kept in lists and stacked once after the loop (a copy per step into a buffer costs more).
        self.recurrent = new(steps, batch, gate_width) if self.layer_norm else None
        self.statistics: list[list[Tensor]] = [[], [], [], []]  # hh mean, hh 1/std, cell mean, cell 1/std
        self.tanh = _Tanh(projected)
        self.cells[0], self.states[0] = c0, h0
        self.weight_hh_t = transposed(w.weight_hh, inference=inference)
        self.weight_hr_t = None if w.weight_hr is None else transposed(w.weight_hr, inference=inference)
        self.p_i, self.p_f, self.p_o = w.peepholes(hidden)
        self.g_block = w.g_block(hidden)

    def run(self) -> None:
        for t in range(self.projected.size(0)):
            self.step(t)

    def _gates(self, t: int, h: Tensor, c: Tensor) -> Tensor:
        """The gates' pre-activations at step t, peepholes on i and f included, into self.gates[t]."""
        w, hidden, a = self.w, self.hidden, self.gates[t]
        h_in = h if w.hidden_mask is None else h * w.hidden_mask
        if self.layer_norm:  # one kernel for LN: normalised values, mean and 1/std
            u = torch.mm(h_in, self.weight_hh_t, out=self.recurrent[t])
            normalized, mean, rstd = torch.native_layer_norm(u, u.shape[-1:], w.ln_hh_weight, None, LAYER_NORM_EPS)
            self.statistics[0].append(mean)
            self.statistics[1].append(rstd)
            torch.add(self.projected[t], normalized, out=a)  # normalized carries the gain γ_hh already
        else:
            torch.addmm(self.projected[t], h_in, self.weight_hh_t, out=a)
        if self.p_i is not None:
            a[:, :hidden].addcmul_(c, self.p_i)
            if not w.coupled:
                a[:, hidden: 2 * hidden].addcmul_(c, self.p_f)
        return a

    def step(self, t: int) -> None:
        w, hidden, g_block = self.w, self.hidden, self.g_block
        h, c = self.states[t], self.cells[t]
        a = self._gates(t, h, c)
        a[:, g_block].mul_(self.tanh.two)  # then one sigmoid: tanh(x) = 2σ(2x) − 1 for g
        if self.p_o is None:
            a.sigmoid_()
        else:  # o needs c̃ first
            a[:, : g_block.stop].sigmoid_()
        g = self.tanh.from_sigmoid_of_double(a[:, g_block])
        i = a[:, :hidden]
        if w.coupled:
            c_new = torch.sub(g, c, out=self.fresh[t]).mul_(i).add_(c)  # c + i ⊙ (g − c) = (1 − i) ⊙ c + i ⊙ g
        else:
            c_new = torch.mul(a[:, hidden: 2 * hidden], c, out=self.fresh[t]).addcmul_(i, g)
        o = a[:, -hidden:]
        if self.p_o is not None:
            o.addcmul_(c_new, self.p_o).sigmoid_()
        if self.layer_norm:
            y, mean, rstd = torch.native_layer_norm(c_new, (hidden,), w.ln_cell_weight, w.ln_cell_bias,
                                                    LAYER_NORM_EPS)
            self.statistics[2].append(mean)
            self.statistics[3].append(rstd)
            s = self.tanh(y, out=self.tanh_cells[t])
        else:
            s = self.tanh(c_new, out=self.tanh_cells[t])
        if w.weight_hr is None:
            h_new = torch.mul(o, s, out=self.states[t + 1])
        else:
            h_new = torch.mm(torch.mul(o, s, out=self.unprojected[t]), self.weight_hr_t, out=self.states[t + 1])
        self._carry(t, h, c, h_new, c_new)

    def _carry(self, t: int, h: Tensor, c: Tensor, h_new: Tensor, c_new: Tensor) -> None:
        """The state carried to step t+1: zoneout's mix (lerp is exact at d = 0 and 1), an ended row's old state."""
        w = self.w
        if w.keep_h is not None:
            h_new.lerp_(h, w.keep_h[t])
            torch.lerp(c_new, c, w.keep_c[t], out=self.cells[t + 1])
        elif self.separate:
            self.cells[t + 1] = c_new
        if t >= self.unmasked:  # ended rows keep their state
            valid = w.mask[t]
            self.cells[t + 1] = torch.where(valid, self.cells[t + 1], c)
            self.states[t + 1] = torch.where(valid, self.states[t + 1], h)


class _Backward:
    """The backward pass: factors for all steps at once, one step back through time, parameter gradients."""

    def __init__(self, saved: tuple, w: _Weights, unmasked: int, has_cell_bias: bool):
        (self.gates, self.cells, self.fresh, self.tanh_cells, self.states, self.unprojected, self.recurrent,
         self.hh_mean, self.hh_rstd, self.cell_mean, self.cell_rstd) = saved
        self.w, self.unmasked, self.has_cell_bias = w, unmasked, has_cell_bias
        self.layer_norm = w.ln_hh_weight is not None
        hidden = self.hidden = self.cells.size(-1)
        self.p_i, self.p_f, self.p_o = w.peepholes(hidden)
        # Factors that do not depend on the incoming gradient, for all steps at once.
        gates, g_block = self.gates, w.g_block(hidden)
        self.derivative = _gate_derivatives(gates, g_block)  # σ' for the sigmoid gates, tanh' for g
        self.i, g, o = gates[..., :hidden], gates[..., g_block], gates[..., -hidden:]
        self.o_dtanh = _times_tanh_derivative(o, self.tanh_cells)
        # d(pre-activation of o) = dh ⊙ s ⊙ σ'(o), written over σ'(o), which nothing else reads
        self.o_factor = self.derivative[..., -hidden:].mul_(self.tanh_cells)
        if w.coupled:
            self.g_minus_c, self.one_minus_i = g - self.cells[:-1], 1 - self.i
        else:
            self.f = gates[..., hidden: 2 * hidden]
            # one (T, B, 3, H) factor, so each step multiplies dc once for the i, f, g blocks (as rnnkit.fused does)
            self.partners = _cell_gate_factors(g, self.cells[:-1], self.i, self.derivative)
        self.grad_gates = torch.empty_like(gates)  # d(pre-activations) = d(projected)
        self.grad_recurrent: list[Tensor] = []  # d(W_hh (m_h ⊙ h)) per step with layer norm, last step first
        self.grad_cell_out = torch.empty_like(self.tanh_cells) if self.layer_norm else None  # dy
        self.grad_unprojected = torch.empty_like(self.states[1:]) if w.weight_hr is not None else None

    def run(self, grad_output: Tensor, grad_h: Tensor, grad_c: Tensor) -> tuple[Tensor, Tensor]:
        """dL/d(h_0), dL/d(c_0), after filling the per-step gradient buffers."""
        if self.w.mask is not None:
            grad_output = grad_output * self.w.mask
        for t in reversed(range(self.gates.size(0))):
            grad_h, grad_c = self.step(t, grad_h, grad_c, grad_output[t])
        return grad_h, grad_c

    def step(self, t: int, grad_h: Tensor, grad_c: Tensor, grad_output_t: Tensor) -> tuple[Tensor, Tensor]:
        """From the gradients reaching h_t and c_t (and the output's at t) to those reaching h_{t-1}, c_{t-1}."""
        w, hidden = self.w, self.hidden
        masked = t >= self.unmasked
        if masked:  # an ended row's gradient passes straight to the previous state
            valid = w.mask[t]
            pass_h, pass_c = grad_h * ~valid, grad_c * ~valid
            grad_h, grad_c = grad_h * valid, grad_c * valid
        dh, dc = grad_h.add_(grad_output_t), grad_c
        if w.keep_h is not None:
            direct_h, direct_c = dh * w.keep_h[t], dc * w.keep_c[t]
            dh, dc = dh - direct_h, dc - direct_c
        if w.weight_hr is not None:
            self.grad_unprojected[t] = dh
            dh = dh.mm(w.weight_hr)  # (B, P) -> (B, H)
        row = self.grad_gates[t]
        if self.layer_norm:
            dy = torch.mul(dh, self.o_dtanh[t], out=self.grad_cell_out[t])
            dc = dc.add_(_layer_norm_backward(dy, self.fresh[t], self.cell_mean[t], self.cell_rstd[t],
                                              w.ln_cell_weight))
        else:
            dc = dc.addcmul_(dh, self.o_dtanh[t])  # dc is this step's own tensor: updated in place
        da_o = torch.mul(dh, self.o_factor[t], out=row[:, -hidden:])
        if self.p_o is not None:
            dc.addcmul_(da_o, self.p_o)
        dh_previous, dc_previous = self._through_the_cell(t, row, dc)
        if w.keep_h is not None:
            dh_previous.add_(direct_h)
            dc_previous.add_(direct_c)
        if masked:
            dh_previous.add_(pass_h)
            dc_previous.add_(pass_c)
        return dh_previous, dc_previous

    def _through_the_cell(self, t: int, row: Tensor, dc: Tensor) -> tuple[Tensor, Tensor]:
        """From dc̃ to the gates' pre-activation gradients (into ``row``), then to the previous h and c."""
        w, hidden = self.w, self.hidden
        if w.coupled:
            torch.mul(dc, self.g_minus_c[t], out=row[:, :hidden])
            torch.mul(dc, self.i[t], out=row[:, hidden: 2 * hidden])
            row[:, : 2 * hidden].mul_(self.derivative[t, :, : 2 * hidden])
            dc_previous = dc.mul_(self.one_minus_i[t])
        else:
            torch.mul(dc.unsqueeze(1), self.partners[t], out=row[:, : 3 * hidden].view(-1, 3, hidden))
            dc_previous = dc.mul_(self.f[t])
        if self.p_i is not None:
            dc_previous.addcmul_(row[:, :hidden], self.p_i)
            if not w.coupled:
                dc_previous.addcmul_(row[:, hidden: 2 * hidden], self.p_f)
        if self.layer_norm:
            self.grad_recurrent.append(_layer_norm_backward(row, self.recurrent[t], self.hh_mean[t], self.hh_rstd[t],
                                                            w.ln_hh_weight))
        dh_previous = (self.grad_recurrent[-1] if self.layer_norm else row).mm(w.weight_hh)
        if w.hidden_mask is not None:
            dh_previous.mul_(w.hidden_mask)
        return dh_previous, dc_previous

    def parameter_gradients(self) -> tuple:
        """weight_hh, weight_hr, the layer-norm gains and shift, the peepholes: one multiply or reduction each."""
        w, hidden, grad_gates = self.w, self.hidden, self.grad_gates
        inputs = self.states[:-1] if w.hidden_mask is None else self.states[:-1] * w.hidden_mask
        if self.layer_norm:  # into derivative's memory, free after the loop: a fresh buffer costs page faults
            grad_recurrent = torch.stack(self.grad_recurrent[::-1], out=self.derivative)
        else:
            grad_recurrent = grad_gates
        grad_weight_hh = grad_recurrent.flatten(0, 1).t().mm(inputs.flatten(0, 1))
        grad_weight_hr = grad_ln_hh = grad_ln_cell = grad_ln_cell_bias = grad_peephole = None
        if w.weight_hr is not None:
            grad_weight_hr = self.grad_unprojected.flatten(0, 1).t().mm(self.unprojected.flatten(0, 1))
        if self.layer_norm:  # gains Σ grad ⊙ x̂ (and the shift Σ grad) over all steps, one kernel each
            grad_ln_hh = torch.ops.aten.native_layer_norm_backward(
                grad_gates, self.recurrent, (grad_gates.size(-1),), self.hh_mean, self.hh_rstd, w.ln_hh_weight,
                None, [False, True, False])[1]
            _, grad_ln_cell, grad_ln_cell_bias = torch.ops.aten.native_layer_norm_backward(
                self.grad_cell_out, self.fresh, (hidden,), self.cell_mean, self.cell_rstd, w.ln_cell_weight,
                w.ln_cell_weight, [False, True, self.has_cell_bias])
        if self.p_i is not None:
            cells = self.cells[:-1]
            parts = [(grad_gates[..., :hidden] * cells).sum((0, 1))]
            if not w.coupled:
                parts.append((grad_gates[..., hidden: 2 * hidden] * cells).sum((0, 1)))
            parts.append((grad_gates[..., -hidden:] * self.fresh).sum((0, 1)))
            grad_peephole = torch.cat(parts)
        return grad_weight_hh, grad_weight_hr, grad_ln_hh, grad_ln_cell, grad_ln_cell_bias, grad_peephole


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
        w = _Weights(weight_hh, weight_hr, ln_hh_weight, ln_cell_weight, ln_cell_bias, peephole, hidden_mask,
                     keep_h, keep_c, mask, coupled)
        run = _Forward(projected, h0, c0, w, inference)
        run.run()
        hh_mean, hh_rstd, cell_mean, cell_rstd = (torch.stack(parts) if parts else None for parts in run.statistics)
        _save(ctx, (projected, h0, c0, weight_hh, weight_hr, ln_hh_weight, ln_cell_weight, ln_cell_bias, peephole,
                    hidden_mask, keep_h, keep_c, coupled, mask, inference),
              run.gates, run.cells, run.fresh, run.tanh_cells, run.states, run.unprojected, run.recurrent, hh_mean,
              hh_rstd, cell_mean, cell_rstd)
        ctx.unmasked = run.unmasked
        steps = projected.size(0)
        return _output(run.states[1:], mask), run.states[steps].clone(), run.cells[steps].clone()

    @staticmethod
    def backward(ctx, grad_output, grad_h_n, grad_c_n):
        arguments, saved = _saved(ctx)
        if not _by_hand((grad_output, grad_h_n, grad_c_n)):
            return _autograd_backward(ctx, variant_reference, arguments, (grad_output, grad_h_n, grad_c_n))
        w = _Weights(*arguments[3:12], arguments[13], arguments[12])
        backward = _Backward(saved, w, ctx.unmasked, arguments[7] is not None)
        grad_h, grad_c = backward.run(grad_output, grad_h_n.clone(), grad_c_n.clone())
        return (backward.grad_gates, grad_h, grad_c, *backward.parameter_gradients(),
                None, None, None, None, None, None)
