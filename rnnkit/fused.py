r"""Backpropagation through time written out by hand, for the three standard cells.

The loop backend could let autograd record every small operation of every step (that is
:func:`rnnkit.scan.scan` with the step functions of :mod:`rnnkit.cells`, and it is what the variants use).
For the plain Elman, LSTM and GRU cells it instead runs the recurrence as one ``autograd.Function`` per layer
and direction, with the backward pass derived below, which keeps autograd's graph to a single node, writes
every step into preallocated buffers and moves all weight gradients out of the loop into one matrix multiply
each. Tests check it against autograd through the cells.

The input part of every step (W_ih x_t + biases) is computed outside, as one matrix multiply over all steps;
the functions here take it as ``projected`` (T, B, G·H) and return its gradient.

LSTM, for one step with the gates already activated (i, f, o sigmoids, g tanh) and s = tanh(c')::

    c' = f ⊙ c + i ⊙ g        r = o ⊙ s        h' = r  (or W_hr r with a projection)
    backward, given dh' and the gradient dc' flowing back from step t+1:
    dr = dh'  (or dh' W_hr)   do = dr ⊙ s      dc = dc' + dr ⊙ o ⊙ (1 - s²)
    di = dc ⊙ g   df = dc ⊙ c   dg = dc ⊙ i     d(pre-activation) = d(gate) ⊙ σ'(·) or ⊙ (1 - g²)
    to step t-1:  dc ⊙ f  and  d(pre-activations) W_hh

GRU, with hp = W_hh h + b_hh split as (hp_r, hp_z, hp_n)::

    h' = n + z ⊙ (h - n)
    dn = dh' ⊙ (1 - z)     dz = dh' ⊙ (h - n)     dn_pre = dn ⊙ (1 - n²)    dr = dn_pre ⊙ hp_n
    d(hp) = (dr_pre, dz_pre, dn_pre ⊙ r)          to step t-1: dh' ⊙ z + d(hp) W_hh

Elman: h' = act(pre);  dpre = dh' ⊙ act'(pre);  to step t-1: dpre W_hh.

Variable lengths use a mask (T, B, 1): a row whose sequence has ended keeps its state and outputs zero, so in
the backward pass its gradient passes through to the previous state untouched.

The hand-derived backward computes first derivatives. Where it cannot serve, each function differentiates
itself with autograd instead (:func:`_autograd_backward`): it runs again on its saved inputs as plain
differentiable operations (the step functions of :mod:`rnnkit.cells` folded by :func:`rnnkit.scan.scan`) and
lets autograd take the derivative. That happens for a double backward (``create_graph=True``, as a gradient
penalty does: the gradient must itself be differentiable) and for batched gradients under vmap
(``is_grads_batched=True``, ``jacobian(vectorize=True)``), where the in-place writes into unbatched buffers
are not possible. To allow it, every function keeps its inputs (the projected inputs (T, B, G·H) among them)
until its backward, besides the buffers of the hand-derived pass. Under torch.func transforms and forward-mode
AD, which an ``autograd.Function`` of this style cannot take part in, the layers use ``scan`` directly.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .cells import elman_step, gru_step, lstm_step
from .scan import scan
from .transposed import transposed


class _Tanh:
    """tanh in place as 2σ(2x) - 1. On the CPU, torch's tanh is slower than its sigmoid (docs/performance.md),
    and the LSTM's forward pass needs two per step. The constants are 0-dim tensors made once per call: a Python number would be wrapped into a
    fresh tensor (an allocation and a copy) at every operation. Exact in real arithmetic; in float32 it
    loses only absolute rounding error of order 1e-7 near 0."""

    def __init__(self, like: Tensor):
        self.two, self.one = like.new_full((), 2.0), like.new_full((), 1.0)

    def __call__(self, x: Tensor, out: Tensor | None = None) -> Tensor:
        out = x if out is None else out
        return torch.mul(x, self.two, out=out).sigmoid_().mul_(self.two).sub_(self.one)

    def from_sigmoid_of_double(self, s: Tensor) -> Tensor:
        """The last half of the identity, for gates whose pre-activation was already doubled and squashed."""
        return s.mul_(self.two).sub_(self.one)


def _unmasked_steps(mask: Tensor | None, steps: int) -> int:
    """Number of leading steps valid for every row (all of them without a mask)."""
    if mask is None:
        return steps
    return int(mask.squeeze(-1).all(dim=1).long().cumprod(0).sum())


def _split_at_ended_rows(valid: Tensor, *grads: Tensor) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
    """At a masked step, split each state gradient into the rows still running (they go through the cell) and
    the rows whose sequence has ended (their state was carried unchanged, so the gradient passes straight to
    the previous state)."""
    return tuple(g * valid for g in grads), tuple(g * ~valid for g in grads)


def _output(states: Tensor, mask: Tensor | None) -> Tensor:
    """Outputs are the states h_1..h_T, zeroed where a sequence has ended."""
    return states if mask is None else states * mask


def _gate_derivatives(gates: Tensor, g_block: slice) -> Tensor:
    """Derivatives of the activations from the activated gates (T, B, G·H): σ' = σ − σ² everywhere, then
    tanh' = 1 − g² in the cell candidate's block; one pass each, no temporaries."""
    derivative = torch.addcmul(gates, gates, gates, value=-1)
    g = gates[..., g_block]
    derivative[..., g_block] = torch.addcmul(gates.new_ones(()), g, g, value=-1)
    return derivative


def _cell_gate_factors(g: Tensor, c: Tensor, i: Tensor, derivative: Tensor) -> Tensor:
    """(T, B, 3, H): what the cell gradient dc is multiplied by for the pre-activations of i, f, g, namely
    (g, c, i) ⊙ (σ'(i), σ'(f), tanh'(g)), written in place (``derivative`` holds the i, f, g blocks first)."""
    steps, batch, hidden = g.shape
    factors = g.new_empty(steps, batch, 3, hidden)
    for block, partner in enumerate((g, c, i)):
        torch.mul(partner, derivative[..., block * hidden: (block + 1) * hidden], out=factors[:, :, block])
    return factors


def _times_tanh_derivative(o: Tensor, s: Tensor) -> Tensor:
    """o ⊙ (1 − s²) in two passes."""
    return torch.addcmul(o, o * s, s, value=-1)


def transforms_active(*tensors: Tensor | None) -> bool:
    """Whether a torch.func transform (vmap, grad, jacrev, ...) or forward-mode AD sees these tensors; the
    functions here cannot take part in either, so callers differentiate through plain autograd instead."""
    if torch.autograd.forward_ad._current_level >= 0:
        return True
    functorch = torch._C._functorch
    # is_legacy_batchedtensor: the vmap of torch.autograd.grad(is_grads_batched=True) and jacobian(vectorize=True)
    return any(t is not None and (functorch.is_functorch_wrapped_tensor(t) or functorch.is_legacy_batchedtensor(t))
               for t in tensors)


def _save(ctx, arguments: tuple, *intermediates: Tensor | None) -> None:
    """Save a forward's arguments (tensors with save_for_backward, the rest on ctx) and its intermediates."""
    ctx.tensor_positions = [i for i, a in enumerate(arguments) if isinstance(a, Tensor)]
    ctx.other_arguments = {i: a for i, a in enumerate(arguments) if not isinstance(a, Tensor)}
    ctx.save_for_backward(*(arguments[i] for i in ctx.tensor_positions), *intermediates)


def _saved(ctx) -> tuple[list, tuple]:
    """The forward's arguments and intermediates saved by :func:`_save`."""
    saved = ctx.saved_tensors
    count = len(ctx.tensor_positions)
    arguments = [None] * (count + len(ctx.other_arguments))
    for position, tensor in zip(ctx.tensor_positions, saved[:count], strict=True):
        arguments[position] = tensor
    for position, value in ctx.other_arguments.items():
        arguments[position] = value
    return arguments, saved[count:]


def _by_hand(grads: tuple[Tensor | None, ...]) -> bool:
    """Whether the hand-derived backward can serve: not when the gradient must be differentiable
    (create_graph=True runs the backward in grad mode) nor when the gradients are batched by vmap."""
    return not torch.is_grad_enabled() and not transforms_active(*grads)


def _autograd_backward(ctx, reference, arguments: list, grads: tuple[Tensor | None, ...]) -> tuple:
    """The gradients of ``reference(*arguments)`` (the forward written as plain autograd operations) by autograd.

    With create_graph=True the saved arguments keep their history, so the gradient is a differentiable function
    of the inputs and of ``grads``; otherwise (batched gradients) a fresh graph over detached copies serves."""
    create_graph = torch.is_grad_enabled()
    needs = ctx.needs_input_grad
    if not create_graph:
        arguments = [a.detach().requires_grad_(bool(needs[i]) and a.is_floating_point())
                     if isinstance(a, Tensor) else a for i, a in enumerate(arguments)]
    with torch.enable_grad():
        outputs = reference(*arguments)
    wanted = [i for i, a in enumerate(arguments) if needs[i] and isinstance(a, Tensor)]
    pairs = [(out, grad) for out, grad in zip(outputs, grads, strict=True) if out.requires_grad and grad is not None]
    found = torch.autograd.grad([out for out, _ in pairs], [arguments[i] for i in wanted],
                                [grad for _, grad in pairs], create_graph=create_graph, allow_unused=True)
    result = [None] * len(arguments)
    for i, grad in zip(wanted, found, strict=True):
        result[i] = grad
    return tuple(result)


def lstm_reference(projected, h0, c0, weight_hh, weight_hr, mask, inference=False):
    """LSTMRecurrence's forward as autograd operations: rnnkit.cells.lstm_step folded by rnnkit.scan.scan."""
    out, (h, c) = scan(lambda x, state: lstm_step(x, state[0], state[1], weight_hh, weight_hr), projected,
                       (h0, c0), mask)
    return out, h, c


def gru_reference(projected, h0, weight_hh, bias_hh, mask, inference=False):
    """GRURecurrence's forward as autograd operations."""
    out, (h,) = scan(lambda x, state: (gru_step(x, state[0], weight_hh, bias_hh),), projected, (h0,), mask)
    return out, h


def elman_reference(projected, h0, weight_hh, relu, mask, inference=False):
    """ElmanRecurrence's forward as autograd operations."""
    nonlinearity = "relu" if relu else "tanh"
    out, (h,) = scan(lambda x, state: (elman_step(x, state[0], weight_hh, nonlinearity),), projected, (h0,), mask)
    return out, h


class LSTMRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, projected, h0, c0, weight_hh, weight_hr, mask, inference=False):
        steps, batch, _ = projected.shape
        hidden = c0.size(-1)
        unmasked = _unmasked_steps(mask, steps)
        gates = projected.new_empty(steps, batch, 4 * hidden)  # activated i, f, g, o
        cells = projected.new_empty(steps + 1, batch, hidden)  # c_0 .. c_T
        tanh_cells = projected.new_empty(steps, batch, hidden)
        states = projected.new_empty(steps + 1, batch, h0.size(-1))  # h_0 .. h_T
        unprojected = projected.new_empty(steps, batch, hidden) if weight_hr is not None else None
        cells[0], states[0] = c0, h0
        weight_hh_t = transposed(weight_hh, inference=inference)
        weight_hr_t = None if weight_hr is None else transposed(weight_hr, inference=inference)
        tanh = _Tanh(projected)
        for t in range(steps):
            g = torch.addmm(projected[t], states[t], weight_hh_t, out=gates[t])
            g[:, 2 * hidden: 3 * hidden].mul_(tanh.two)  # then one sigmoid over all gates: g = 2σ(2·) - 1 = tanh
            g.sigmoid_()
            tanh.from_sigmoid_of_double(g[:, 2 * hidden: 3 * hidden])
            i, f, cand, o = g.chunk(4, 1)
            c = torch.mul(f, cells[t], out=cells[t + 1]).addcmul_(i, cand)
            s = tanh(c, out=tanh_cells[t])
            if weight_hr is None:
                torch.mul(o, s, out=states[t + 1])
            else:
                torch.mm(torch.mul(o, s, out=unprojected[t]), weight_hr_t, out=states[t + 1])
            if t >= unmasked:  # ended rows keep their state
                valid = mask[t]
                cells[t + 1] = torch.where(valid, cells[t + 1], cells[t])
                states[t + 1] = torch.where(valid, states[t + 1], states[t])
        _save(ctx, (projected, h0, c0, weight_hh, weight_hr, mask, inference), gates, cells, tanh_cells, states,
              unprojected)
        ctx.unmasked = unmasked
        return _output(states[1:], mask), states[steps].clone(), cells[steps].clone()

    @staticmethod
    def backward(ctx, grad_output, grad_h_n, grad_c_n):
        arguments, (gates, cells, tanh_cells, states, unprojected) = _saved(ctx)
        if not _by_hand((grad_output, grad_h_n, grad_c_n)):
            return _autograd_backward(ctx, lstm_reference, arguments, (grad_output, grad_h_n, grad_c_n))
        weight_hh, weight_hr, mask = arguments[3:6]
        steps, _, four_hidden = gates.shape
        hidden = four_hidden // 4
        if mask is not None:
            grad_output = grad_output * mask
        # Per-step factors that do not depend on the incoming gradient, computed for all steps at once, so that
        # the loop below multiplies the cell gradient dc by one (T, B, 3H) factor for the i, f, g blocks:
        # d(pre-activation) of i, f, g = dc ⊙ (g, c, i) ⊙ (σ'(i), σ'(f), tanh'(g)), and of o = dh ⊙ s ⊙ σ'(o).
        i, f, cand, o = gates.chunk(4, 2)
        derivative = _gate_derivatives(gates, slice(2 * hidden, 3 * hidden))
        partners = _cell_gate_factors(cand, cells[:-1], i, derivative)  # (T, B, 3, H): dc broadcasts over the 3
        o_factor = derivative[..., 3 * hidden:].mul_(tanh_cells)  # (T, B, H)
        o_dtanh = _times_tanh_derivative(o, tanh_cells)
        grad_gates = torch.empty_like(gates)
        grad_projected_h = torch.empty_like(states[1:]) if weight_hr is not None else None  # dL/dh'_t
        grad_h, grad_c = grad_h_n.clone(), grad_c_n.clone()
        for t in reversed(range(steps)):
            masked = t >= ctx.unmasked
            if masked:
                (grad_h, grad_c), (keep_h, keep_c) = _split_at_ended_rows(mask[t], grad_h, grad_c)
            dh = grad_h.add_(grad_output[t])
            if weight_hr is not None:
                grad_projected_h[t] = dh
                dh = dh.mm(weight_hr)  # (B, P) -> (B, H): back through h' = W_hr r
            dc = grad_c.addcmul_(dh, o_dtanh[t])
            row = grad_gates[t]  # (B, 4H), gradients of the pre-activations in gate order i, f, g, o
            torch.mul(dc.unsqueeze(1), partners[t], out=row[:, : 3 * hidden].view(-1, 3, hidden))
            torch.mul(dh, o_factor[t], out=row[:, 3 * hidden:])
            grad_c = dc.mul_(f[t])
            grad_h = row.mm(weight_hh)
            if masked:
                grad_h.add_(keep_h)
                grad_c.add_(keep_c)
        # Weight gradients: one multiply over all steps instead of one per step.
        grad_weight_hh = grad_gates.flatten(0, 1).t().mm(states[:-1].flatten(0, 1))
        grad_weight_hr = None
        if weight_hr is not None:
            grad_weight_hr = grad_projected_h.flatten(0, 1).t().mm(unprojected.flatten(0, 1))
        return grad_gates, grad_h, grad_c, grad_weight_hh, grad_weight_hr, None, None


class GRURecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, projected, h0, weight_hh, bias_hh, mask, inference=False):
        steps, batch, _ = projected.shape
        hidden = h0.size(-1)
        unmasked = _unmasked_steps(mask, steps)
        hidden_parts = projected.new_empty(steps, batch, 3 * hidden)  # W_hh h + b_hh: (hp_r, hp_z, hp_n)
        reset_update = projected.new_empty(steps, batch, 2 * hidden)  # activated r, z
        new = projected.new_empty(steps, batch, hidden)  # n
        states = projected.new_empty(steps + 1, batch, hidden)
        states[0] = h0
        weight_hh_t = transposed(weight_hh, inference=inference)
        tanh = _Tanh(projected)
        for t in range(steps):
            h = states[t]
            if bias_hh is None:
                hp = torch.mm(h, weight_hh_t, out=hidden_parts[t])
            else:
                hp = torch.addmm(bias_hh, h, weight_hh_t, out=hidden_parts[t])
            x = projected[t]
            rz = torch.add(x[:, : 2 * hidden], hp[:, : 2 * hidden], out=reset_update[t]).sigmoid_()
            r, z = rz[:, :hidden], rz[:, hidden:]
            n = torch.addcmul(x[:, 2 * hidden:], r, hp[:, 2 * hidden:], out=new[t])
            n = tanh(n)
            h_next = torch.sub(h, n, out=states[t + 1]).mul_(z).add_(n)  # n + z ⊙ (h - n)
            if t >= unmasked:
                states[t + 1] = torch.where(mask[t], h_next, h)
        _save(ctx, (projected, h0, weight_hh, bias_hh, mask, inference), hidden_parts, reset_update, new, states)
        ctx.has_bias = bias_hh is not None
        ctx.unmasked = unmasked
        return _output(states[1:], mask), states[steps].clone()

    @staticmethod
    def backward(ctx, grad_output, grad_h_n):
        arguments, (hidden_parts, reset_update, new, states) = _saved(ctx)
        if not _by_hand((grad_output, grad_h_n)):
            return _autograd_backward(ctx, gru_reference, arguments, (grad_output, grad_h_n))
        weight_hh, mask = arguments[2], arguments[4]
        steps, _, hidden = new.shape
        if mask is not None:
            grad_output = grad_output * mask
        r, z = reset_update[..., :hidden], reset_update[..., hidden:]
        one_minus_z = 1 - z
        h_minus_n = states[:-1] - new
        dtanh_n = 1 - new.square()
        dsigmoid = reset_update * (1 - reset_update)
        grad_projected = torch.empty_like(hidden_parts)  # d(W_ih x + b_ih): (r, z, n) pre-activations
        grad_hidden_parts = torch.empty_like(hidden_parts)  # d(W_hh h + b_hh)
        grad_h = grad_h_n.clone()
        for t in reversed(range(steps)):
            masked = t >= ctx.unmasked
            if masked:
                (grad_h,), (keep_h,) = _split_at_ended_rows(mask[t], grad_h)
            dh = grad_h.add_(grad_output[t])
            gx, gh = grad_projected[t], grad_hidden_parts[t]
            dn_pre = torch.mul(dh, one_minus_z[t], out=gx[:, 2 * hidden:]).mul_(dtanh_n[t])
            torch.mul(dn_pre, hidden_parts[t, :, 2 * hidden:], out=gx[:, :hidden])  # dr
            torch.mul(dh, h_minus_n[t], out=gx[:, hidden: 2 * hidden])  # dz
            gx[:, : 2 * hidden].mul_(dsigmoid[t])
            gh[:, : 2 * hidden] = gx[:, : 2 * hidden]
            torch.mul(dn_pre, r[t], out=gh[:, 2 * hidden:])
            grad_h = torch.addmm(dh.mul_(z[t]), gh, weight_hh)
            if masked:
                grad_h.add_(keep_h)
        flat = grad_hidden_parts.flatten(0, 1)  # (T*B, 3H)
        grad_weight_hh = flat.t().mm(states[:-1].flatten(0, 1))
        grad_bias_hh = flat.sum(0) if ctx.has_bias else None
        return grad_projected, grad_h, grad_weight_hh, grad_bias_hh, None, None


class ElmanRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, projected, h0, weight_hh, relu, mask, inference=False):
        steps = projected.size(0)
        unmasked = _unmasked_steps(mask, steps)
        states = projected.new_empty((steps + 1,) + tuple(h0.shape))
        states[0] = h0
        weight_hh_t = transposed(weight_hh, inference=inference)
        tanh = _Tanh(projected)
        for t in range(steps):
            h = torch.addmm(projected[t], states[t], weight_hh_t, out=states[t + 1])
            h.relu_() if relu else tanh(h)
            if t >= unmasked:
                states[t + 1] = torch.where(mask[t], h, states[t])
        _save(ctx, (projected, h0, weight_hh, relu, mask, inference), states)
        ctx.relu = relu
        ctx.unmasked = unmasked
        return _output(states[1:], mask), states[steps].clone()

    @staticmethod
    def backward(ctx, grad_output, grad_h_n):
        arguments, (states,) = _saved(ctx)
        if not _by_hand((grad_output, grad_h_n)):
            return _autograd_backward(ctx, elman_reference, arguments, (grad_output, grad_h_n))
        weight_hh, mask = arguments[2], arguments[4]
        steps = states.size(0) - 1
        if mask is not None:
            grad_output = grad_output * mask
        outputs = states[1:]  # at an ended row this is an old state, but its gradient there is zero
        derivative = (outputs > 0).to(outputs.dtype) if ctx.relu else 1 - outputs.square()
        grad_pre = torch.empty_like(outputs)
        grad_h = grad_h_n.clone()
        for t in reversed(range(steps)):
            masked = t >= ctx.unmasked
            if masked:
                (grad_h,), (keep_h,) = _split_at_ended_rows(mask[t], grad_h)
            torch.mul(grad_h.add_(grad_output[t]), derivative[t], out=grad_pre[t])
            grad_h = grad_pre[t].mm(weight_hh)
            if masked:
                grad_h.add_(keep_h)
        grad_weight_hh = grad_pre.flatten(0, 1).t().mm(states[:-1].flatten(0, 1))
        return grad_pre, grad_h, grad_weight_hh, None, None, None


class LinearRecurrence(torch.autograd.Function):
    r"""h_t = a_t ⊙ h_{t-1} + b_t for t = 1..T, one elementwise multiply-add per step (minGRU, minLSTM).

    The same recurrence as :func:`rnnkit.scan.parallel_scan_log`, run sequentially: on a CPU, T small
    multiply-adds cost less than the cumulative sums and log-sum-exps of the parallel scan (see
    docs/variants.md). Backward, with G_t = ∂L/∂h_t from the outputs:

        g_T = G_T,   g_t = G_t + a_{t+1} ⊙ g_{t+1}        (the gradient reaching h_t, a reverse recurrence)
        ∂L/∂b_t = g_t,   ∂L/∂a_t = g_t ⊙ h_{t-1},   ∂L/∂h_0 = a_1 ⊙ g_1

    Shapes: a, b (T, B, H); h0 (B, H) -> h (T, B, H), h_1 .. h_T.
    """

    @staticmethod
    def forward(ctx, a, b, h0):
        states = torch.empty_like(b)
        previous = h0
        for t in range(b.size(0)):
            previous = torch.addcmul(b[t], a[t], previous, out=states[t])
        _save(ctx, (a, b, h0), states)
        return states

    @staticmethod
    def backward(ctx, grad_states):
        arguments, (states,) = _saved(ctx)
        if not _by_hand((grad_states,)):
            return _autograd_backward(ctx, linear_reference, arguments, (grad_states,))
        a, _, h0 = arguments
        grad_b = torch.empty_like(states)
        grad_b[-1] = grad_states[-1]
        for t in reversed(range(states.size(0) - 1)):
            torch.addcmul(grad_states[t], a[t + 1], grad_b[t + 1], out=grad_b[t])
        previous = torch.cat([h0.unsqueeze(0), states[:-1]])  # h_0 .. h_{T-1}
        return grad_b * previous, grad_b, a[0] * grad_b[0]


def linear_reference(a: Tensor, b: Tensor, h0: Tensor) -> tuple[Tensor]:
    """LinearRecurrence's forward as autograd operations (a one-element tuple, as _autograd_backward takes)."""
    states, previous = [], h0
    for t in range(b.size(0)):
        previous = torch.addcmul(b[t], a[t], previous)
        states.append(previous)
    return (torch.stack(states),)
