"""minGRU/minLSTM: the log-space parallel scan against step-by-step references (outputs, lengths, gradients)."""

import pytest
import torch

from rnnkit.scan import parallel_scan_log
from rnnkit.variants import MinGRU, MinLSTM
from rnnkit.variants.min_rnn import g, log_g

F64 = torch.float64
CLASSES = [MinGRU, MinLSTM]


def reference(module, x, h):
    """The paper's sequential equations written out, x (T, B, F) -> outputs (T, B, H)."""
    outputs = []
    for t in range(x.size(0)):
        parts = module.linear(x[t]).chunk(module.gate_count, -1)
        if isinstance(module, MinGRU):
            z = torch.sigmoid(parts[0])
            h = (1 - z) * h + z * g(parts[1])
        else:
            f, i = torch.sigmoid(parts[0]), torch.sigmoid(parts[1])
            h = f / (f + i) * h + i / (f + i) * g(parts[2])
        outputs.append(h)
    return torch.stack(outputs)


def test_parallel_scan_log_equals_the_recurrence_with_an_initial_state_of_any_sign():
    torch.manual_seed(0)
    a = torch.rand(50, 3, 4, dtype=F64) * 0.98 + 0.01
    b = torch.rand(50, 3, 4, dtype=F64) + 0.1
    h = h0 = torch.randn(3, 4, dtype=F64)
    expected = []
    for t in range(50):
        h = a[t] * h + b[t]
        expected.append(h)
    torch.testing.assert_close(parallel_scan_log(a.log(), b.log(), h0), torch.stack(expected), rtol=1e-12, atol=0)
    batch_first = parallel_scan_log(a.log().transpose(0, 1), b.log().transpose(0, 1), h0, dim=1)
    torch.testing.assert_close(batch_first.transpose(0, 1), torch.stack(expected), rtol=1e-12, atol=0)


def test_parallel_scan_log_is_stable_over_long_sequences_with_strong_decay():
    """A_t = Π a_j underflows (here to e^-20000) where a direct product-and-divide scan would overflow;
    the log-space scan still matches the float64 recurrence in float32."""
    torch.manual_seed(0)
    steps = 4000
    log_a = -5 * torch.rand(steps, 2, 3, dtype=F64)  # a down to e^-5 per step
    log_b = torch.randn(steps, 2, 3, dtype=F64)
    h, expected = torch.zeros(2, 3, dtype=F64), []
    for t in range(steps):
        h = log_a[t].exp() * h + log_b[t].exp()
        expected.append(h)
    actual = parallel_scan_log(log_a.float(), log_b.float())
    assert torch.isfinite(actual).all()
    # float32 keeps a*_t = Σ log a to a relative 6e-8, i.e. an absolute error of about 6e-8 · |a*_T| = 6e-4
    # in log h here: the documented precision limit of the formulation (see its docstring)
    bound = 4 * 6e-8 * float(-log_a.sum(0).min())
    torch.testing.assert_close(actual.double(), torch.stack(expected), rtol=bound, atol=0)


def test_log_g_is_the_log_of_g():
    v = torch.linspace(-30, 30, 601, dtype=F64)
    exact = torch.where(v >= 0, (v.clamp(min=0) + 0.5).log(), -torch.log1p(torch.exp(-v)))  # log σ(v) exactly
    torch.testing.assert_close(log_g(v), exact, rtol=1e-14, atol=0)
    torch.testing.assert_close(log_g(v).exp(), g(v), rtol=1e-12, atol=0)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("with_hx", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_parallel_equals_sequential_and_the_written_out_equations(cls, with_hx, batch_first):
    torch.manual_seed(0)
    module = cls(3, 5, batch_first=batch_first, dtype=F64)
    x = torch.randn(9, 4, 3, dtype=F64)  # (T, B, F)
    hx = torch.randn(4, 5, dtype=F64) if with_hx else None
    expected = reference(module, x, torch.zeros(4, 5, dtype=F64) if hx is None else hx)
    inputs = x.transpose(0, 1) if batch_first else x
    for mode in ("parallel", "fused", "sequential"):
        out, h_n = module(inputs, hx, mode=mode)
        out = out.transpose(0, 1) if batch_first else out
        torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(h_n, expected[-1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", CLASSES)
def test_lengths_padding_never_leaks_and_outputs_past_lengths_are_zero(cls):
    torch.manual_seed(0)
    module = cls(3, 5, batch_first=True, dtype=F64)
    lengths = [7, 2, 5]
    x = torch.randn(3, 7, 3, dtype=F64)
    garbage = x.clone()
    for b, n in enumerate(lengths):
        garbage[b, n:] = 1e4  # padding that would dominate any state it reached
    hx = torch.rand(3, 5, dtype=F64)
    for mode in ("parallel", "fused", "sequential"):
        out, h_n = module(garbage, hx, lengths=lengths, mode=mode)
        for b, n in enumerate(lengths):
            alone, alone_h = module(x[b:b + 1, :n], hx[b:b + 1], mode="sequential")
            torch.testing.assert_close(out[b:b + 1, :n], alone, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(h_n[b:b + 1], alone_h, rtol=1e-12, atol=1e-12)
            assert torch.all(out[b, n:] == 0)


@pytest.mark.parametrize("cls", CLASSES)
def test_gradients_through_the_scan_match_the_sequential_reference(cls):
    torch.manual_seed(0)
    module = cls(3, 5, dtype=F64)
    x = torch.randn(8, 4, 3, dtype=F64, requires_grad=True)
    hx = torch.randn(4, 5, dtype=F64, requires_grad=True)
    weights = torch.randn(8, 4, 5, dtype=F64)
    grads = []
    for mode in ("parallel", "fused", "sequential"):
        out, h_n = module(x, hx, lengths=[8, 3, 6, 1], mode=mode)
        loss = (out * weights).sum() + (h_n ** 2).sum()
        grads.append(torch.autograd.grad(loss, [x, hx, *module.parameters()]))
    for other in grads[1:]:
        for a, b in zip(grads[0], other, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert torch.all(grads[0][0][1:, 3] == 0) and torch.all(grads[0][0][3:, 1] == 0)  # no gradient into padding


@pytest.mark.parametrize("cls", CLASSES)
def test_step_carries_o1_state_and_equals_the_sequence_mode(cls):
    torch.manual_seed(0)
    module = cls(3, 5, dtype=F64)
    x = torch.randn(6, 2, 3, dtype=F64)
    out, h_n = module(x)
    h = None
    for t in range(6):
        h = module.step(x[t], h)
        torch.testing.assert_close(h, out[t], rtol=1e-12, atol=1e-12)


def test_min_gru_float32_parallel_close_to_float64_on_long_sequences():
    torch.manual_seed(0)
    module = MinGRU(4, 8, dtype=F64)
    x = torch.randn(2000, 2, 4, dtype=F64)
    expected = module(x, mode="sequential")[0]
    module = module.float()
    for mode in ("parallel", "fused"):
        actual = module(x.float(), mode=mode)[0]
        torch.testing.assert_close(actual.double(), expected, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("call,error,match", [
    (lambda m: m(torch.zeros(4, 2, 3), mode="fast"), ValueError, r"mode: expected one of \('auto', 'parallel', 'fused', 'sequential'\), got 'fast'"),
    (lambda m: m(torch.zeros(4, 3)), ValueError, r"input: expected a 3-D tensor \(T, B, F\) with F = 3 \(input_size\)"),
    (lambda m: m(torch.zeros(4, 2, 7)), ValueError, r"input: expected a 3-D tensor .* got shape \(4, 2, 7\)"),
    (lambda m: m([1.0]), TypeError, "input: expected a Tensor, got list"),
    (lambda m: m(torch.zeros(4, 2, 3), torch.zeros(3, 5)), ValueError, r"hx: expected shape \(2, 5\) \(batch, hidden_size\), got \(3, 5\)"),
    (lambda m: m(torch.zeros(4, 2, 3), lengths=[5, 1]), ValueError, r"lengths: expected every length <= 4"),
    (lambda m: m(torch.zeros(4, 2, 3, dtype=F64)), ValueError, r"input: expected dtype torch.float32"),
    (lambda m: m.step(torch.zeros(2, 4)), ValueError, r"input: expected a \(B, 3\) tensor"),
])
def test_errors_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call(MinGRU(3, 5))


def test_constructor_errors():
    with pytest.raises(ValueError, match="hidden_size: expected a positive int, got 0"):
        MinLSTM(3, 0)
    with pytest.raises(TypeError, match="batch_first: expected a bool, got int 1"):
        MinGRU(3, 5, batch_first=1)


def test_parallel_scan_log_differentiates_like_the_recurrence():
    torch.manual_seed(0)
    log_a = (torch.rand(12, 2, 3, dtype=F64) * 0.9 + 0.05).log().requires_grad_()
    log_b = torch.randn(12, 2, 3, dtype=F64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, h: parallel_scan_log(a, b, h), (log_a, log_b, h0))
