"""rnnkit.fused: the hand-derived backward passes against autograd (the layers' parity tests cover the
LSTM, GRU and Elman recurrences through rnnkit.LSTM/GRU/RNN)."""

import torch

from rnnkit.fused import LinearRecurrence
from rnnkit.scan import parallel_scan_log


def test_linear_recurrence_gradcheck():
    torch.manual_seed(0)
    a = torch.rand(6, 2, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(LinearRecurrence.apply, (a, b, h0))


def test_linear_recurrence_equals_the_parallel_log_scan_and_a_python_loop():
    torch.manual_seed(0)
    a = torch.rand(50, 3, 4, dtype=torch.float64)
    b = torch.rand(50, 3, 4, dtype=torch.float64)
    h0 = torch.randn(3, 4, dtype=torch.float64)
    expected, h = [], h0
    for t in range(50):
        h = a[t] * h + b[t]
        expected.append(h)
    actual = LinearRecurrence.apply(a, b, h0)
    torch.testing.assert_close(actual, torch.stack(expected), rtol=0, atol=1e-14)
    torch.testing.assert_close(parallel_scan_log(a.log(), b.log(), h0), actual, rtol=1e-12, atol=1e-12)
