r"""minGRU and minLSTM (Feng, Tung, Ahmed, Bengio & Hajimirsadeghi 2024, "Were RNNs All We Needed?",
arXiv:2410.01201): recurrent cells whose gates depend on the input only, so that the recurrence is linear in h
and a whole sequence can be computed by a parallel scan.

minGRU (section 3.1)::

    z_t = σ(W_z x_t + b_z)        h̃_t = g(W_h x_t + b_h)        h_t = (1 − z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t

minLSTM (section 3.2), with the gates normalised so that the state stays on the scale of h̃ ("time
independent")::

    f_t = σ(W_f x_t + b_f)   i_t = σ(W_i x_t + b_i)   h̃_t = g(W_h x_t + b_h)
    f'_t = f_t / (f_t + i_t)   i'_t = i_t / (f_t + i_t)   h_t = f'_t ⊙ h_{t-1} + i'_t ⊙ h̃_t

g(v) = v + 0.5 for v ≥ 0 and σ(v) otherwise keeps h̃ positive (appendix B.3), which the log-space scan needs.

Both are h_t = a_t ⊙ h_{t-1} + b_t with a_t, b_t computed from the inputs alone. The parallel mode computes
log a_t and log b_t for every step at once, stably (appendix B.3):

    minGRU:  log a = log σ(−k),  log b = log σ(k) + log g(v)              (k = W_z x + b_z)
    minLSTM: d = log σ(i_pre) − log σ(f_pre),  log a = log σ(−d),  log b = log σ(d) + log g(v)
    log g(v) = log(v + 0.5) for v ≥ 0,  log σ(v) otherwise

(The paper writes log σ(x) as −softplus(−x); ``F.logsigmoid`` is used here because torch's softplus returns x
unchanged above its threshold 20, which loses about 1e-9 at |x| = 20.)

and hands them to :func:`rnnkit.scan.parallel_scan_log`. The sequential mode runs the same step through
:func:`rnnkit.scan.scan` (for checking, and for inference with O(1) state, also one step at a time with
:meth:`step`). The fused mode computes a_t and b_t for every step at once, like the parallel mode, and runs
only the multiply-add h_t = a_t ⊙ h_{t-1} + b_t step by step, with its backward pass written out
(:class:`rnnkit.fused.LinearRecurrence`). On the CPU this is far faster than the parallel scan, whose
cumulative sum and log-cumulative-sum-exp along time are slow there (docs/variants.md has the measurements),
so ``mode="auto"`` (the default) picks the parallel scan on a GPU and the fused recurrence on a CPU.
Tests check parallel == fused == sequential, with lengths, and their gradients.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cells import _check_like_weight, _check_positive_int
from ..fused import LinearRecurrence
from ..scan import parallel_scan_log, scan
from ..sequences import check_lengths

__all__ = ["MinGRU", "MinLSTM", "g", "log_g", "MODES"]

MODES = ("auto", "parallel", "fused", "sequential")


def g(v: Tensor) -> Tensor:
    """v + 0.5 for v ≥ 0, σ(v) otherwise: continuous, positive, linear growth for large v."""
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def log_g(v: Tensor) -> Tensor:
    """log g(v), without forming g(v) for very negative v: log σ(v) there."""
    return torch.where(v >= 0, (F.relu(v) + 0.5).log(), F.logsigmoid(v))


class _MinRNN(nn.Module):
    """Shared parts of minGRU and minLSTM: one linear map of the input to all gates, checks and both modes."""

    gate_count: int

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, batch_first: bool = False,
                 device=None, dtype=None) -> None:
        super().__init__()
        _check_positive_int("input_size", input_size)
        _check_positive_int("hidden_size", hidden_size)
        for name, value in (("bias", bias), ("batch_first", batch_first)):
            if not isinstance(value, bool):
                raise TypeError(f"{name}: expected a bool, got {type(value).__name__} {value!r}")
        self.input_size, self.hidden_size, self.batch_first = input_size, hidden_size, batch_first
        # rows: gate blocks then the candidate block, (G·H, F)
        self.linear = nn.Linear(input_size, self.gate_count * hidden_size, bias=bias, device=device, dtype=dtype)

    def _log_coefficients(self, projected: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def _coefficients(self, projected: Tensor) -> tuple[Tensor, Tensor]:
        """a_t and b_t of h_t = a_t ⊙ h_{t-1} + b_t for all steps at once, (T, B, H) each."""
        raise NotImplementedError

    def _mix(self, projected: Tensor, h: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, input: Tensor, hx: Tensor | None = None, *, lengths=None,
                mode: str = "auto") -> tuple[Tensor, Tensor]:
        """input (T, B, F) (or (B, T, F) with batch_first), hx (B, H) or None (zeros) -> (output, h_n).

        output (T, B, H) (or batch first) holds h_1 .. h_T, zero past each sequence's length; h_n (B, H) is
        each sequence's state at its last valid step. ``mode``: "parallel" (log-space scan, for training on
        whole sequences on a GPU), "fused" (gates for all steps at once, then one multiply-add per step with a
        hand-derived backward; fastest on a CPU), "sequential" (the readable step through rnnkit.scan), or
        "auto" (parallel on CUDA, fused elsewhere). All give the same result.
        """
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
        if not isinstance(input, Tensor):
            raise TypeError(f"input: expected a Tensor, got {type(input).__name__}")
        if input.dim() != 3 or input.size(-1) != self.input_size or input.size(1 if self.batch_first else 0) == 0:
            layout = "(B, T, F)" if self.batch_first else "(T, B, F)"
            raise ValueError(f"input: expected a 3-D tensor {layout} with F = {self.input_size} (input_size) and "
                             f"T >= 1, got shape {tuple(input.shape)}")
        _check_like_weight("input", input, self.linear.weight)
        x = input.transpose(0, 1) if self.batch_first else input  # (T, B, F)
        steps, batch = x.size(0), x.size(1)
        if hx is not None:
            if not isinstance(hx, Tensor):
                raise TypeError(f"hx: expected a Tensor, got {type(hx).__name__}")
            if tuple(hx.shape) != (batch, self.hidden_size):
                raise ValueError(f"hx: expected shape {(batch, self.hidden_size)} (batch, hidden_size), "
                                 f"got {tuple(hx.shape)}")
            _check_like_weight("hx", hx, self.linear.weight)
        mask = None
        if lengths is not None:
            lengths = check_lengths(lengths, batch, steps).to(x.device)
            mask = (torch.arange(steps, device=x.device)[:, None] < lengths[None, :]).unsqueeze(-1)  # (T, B, 1)
        projected = self.linear(x)  # (T, B, G·H): every gate of every step in one multiply
        if mode == "auto":
            mode = "parallel" if x.is_cuda else "fused"
        if mode in ("parallel", "fused"):
            if mode == "parallel":
                log_a, log_b = self._log_coefficients(projected)  # (T, B, H) each
                h = parallel_scan_log(log_a, log_b, hx, dim=0)  # (T, B, H)
            else:
                h0 = projected.new_zeros(batch, self.hidden_size) if hx is None else hx
                h = LinearRecurrence.apply(*self._coefficients(projected), h0)
            if mask is None:
                out, h_n = h, h[-1]
            else:  # the scan is causal: padding after a sequence cannot reach its valid steps
                h_n = h.gather(0, (lengths - 1).view(1, batch, 1).expand(1, batch, self.hidden_size)).squeeze(0)
                out = h * mask
        else:
            h0 = projected.new_zeros(batch, self.hidden_size) if hx is None else hx
            out, (h_n,) = scan(lambda p, state: (self._mix(p, state[0]),), projected, (h0,), mask)
        return (out.transpose(0, 1) if self.batch_first else out), h_n

    def step(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """One step for inference with O(1) state: input (B, F), hx (B, H) or None (zeros) -> h' (B, H)."""
        if not isinstance(input, Tensor) or input.dim() != 2 or input.size(-1) != self.input_size:
            shape = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
            raise ValueError(f"input: expected a (B, {self.input_size}) tensor (batch, input_size), got {shape}")
        _check_like_weight("input", input, self.linear.weight)
        h = input.new_zeros(input.size(0), self.hidden_size) if hx is None else hx
        if tuple(h.shape) != (input.size(0), self.hidden_size):
            raise ValueError(f"hx: expected shape {(input.size(0), self.hidden_size)}, got {tuple(h.shape)}")
        return self._mix(self.linear(input), h)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + (", batch_first=True" if self.batch_first else "")


class MinGRU(_MinRNN):
    r"""minGRU (Feng et al. 2024, arXiv:2410.01201, section 3.1):

    .. math:: z_t = σ(W_z x_t + b_z),\quad h̃_t = g(W_h x_t + b_h),\quad h_t = (1 − z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t

    with g(v) = v + 0.5 (v ≥ 0), σ(v) (v < 0). Trains with a log-space parallel scan (``mode="parallel"``,
    the default on a GPU) or the fused linear recurrence (``mode="fused"``, the default on a CPU), runs step
    by step with ``mode="sequential"`` or :meth:`step`.

    Args: input_size F, hidden_size H, bias=True, batch_first=False, device=None, dtype=None.
    Parameters: ``linear`` (2H, F) (+ bias 2H), row blocks z, h̃.
    Shape: input (T, B, F) (batch_first: (B, T, F)), hx (B, H) -> output (T, B, H), h_n (B, H).

    Example::

        >>> gru = MinGRU(8, 16, batch_first=True)
        >>> output, h_n = gru(torch.randn(4, 100, 8), lengths=[100, 30, 7, 64])
        >>> output.shape, h_n.shape
        (torch.Size([4, 100, 16]), torch.Size([4, 16]))
    """

    gate_count = 2

    def _log_coefficients(self, projected: Tensor) -> tuple[Tensor, Tensor]:
        k, v = projected.chunk(2, -1)  # 2 x (T, B, H)
        return F.logsigmoid(-k), F.logsigmoid(k) + log_g(v)  # log(1 − z), log z + log h̃

    def _coefficients(self, projected: Tensor) -> tuple[Tensor, Tensor]:
        k, v = projected.chunk(2, -1)
        z = torch.sigmoid(k)
        return 1 - z, z * g(v)

    def _mix(self, projected: Tensor, h: Tensor) -> Tensor:
        k, v = projected.chunk(2, -1)
        z = torch.sigmoid(k)
        return (1 - z) * h + z * g(v)


class MinLSTM(_MinRNN):
    r"""minLSTM (Feng et al. 2024, arXiv:2410.01201, section 3.2, with normalised gates):

    .. math::
        f_t = σ(W_f x_t + b_f),\ i_t = σ(W_i x_t + b_i),\ h̃_t = g(W_h x_t + b_h)
        h_t = \frac{f_t}{f_t + i_t} ⊙ h_{t-1} + \frac{i_t}{f_t + i_t} ⊙ h̃_t

    Modes as :class:`MinGRU`. Parameters: ``linear`` (3H, F) (+ bias 3H), row blocks f, i, h̃.
    Shape: input (T, B, F) (batch_first: (B, T, F)), hx (B, H) -> output (T, B, H), h_n (B, H).

    Example::

        >>> lstm = MinLSTM(8, 16)
        >>> output, h_n = lstm(torch.randn(50, 2, 8))
        >>> h_next = lstm.step(torch.randn(2, 8), h_n)
    """

    gate_count = 3

    def _log_coefficients(self, projected: Tensor) -> tuple[Tensor, Tensor]:
        f, i, v = projected.chunk(3, -1)  # 3 x (T, B, H)
        d = F.logsigmoid(i) - F.logsigmoid(f)  # log i − log f
        return F.logsigmoid(-d), F.logsigmoid(d) + log_g(v)  # log f' = −log(1 + i/f), log i' + log h̃

    def _coefficients(self, projected: Tensor) -> tuple[Tensor, Tensor]:
        f, i, v = projected.chunk(3, -1)
        d = F.logsigmoid(i) - F.logsigmoid(f)  # f' = f / (f + i) = σ(−d) stays finite where f + i underflows
        return torch.sigmoid(-d), torch.sigmoid(d) * g(v)

    def _mix(self, projected: Tensor, h: Tensor) -> Tensor:
        f, i, v = projected.chunk(3, -1)
        f, i = torch.sigmoid(f), torch.sigmoid(i)
        return (f * h + i * g(v)) / (f + i)
