"""rnnkit.cells against torch.nn's cells, gradcheck in float64, and torch.nn.LSTM(proj_size) for one step."""

import pytest
import torch

from rnnkit import ElmanCell, GRUCell, LSTMCell

PAIRS = {
    "elman_tanh": (torch.nn.RNNCell, ElmanCell, {}),
    "elman_relu": (torch.nn.RNNCell, ElmanCell, {"nonlinearity": "relu"}),
    "lstm": (torch.nn.LSTMCell, LSTMCell, {}),
    "gru": (torch.nn.GRUCell, GRUCell, {}),
}


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_hx", [True, False])
@pytest.mark.parametrize("name", PAIRS)
def test_cell_matches_torch(name, with_hx, bias):
    ref_cls, ours_cls, kwargs = PAIRS[name]
    ref = ref_cls(4, 6, bias=bias, dtype=torch.float64, **kwargs)
    ours = ours_cls(4, 6, bias=bias, dtype=torch.float64, **kwargs)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    hx = None
    if with_hx:
        hx = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
        if name == "lstm":
            hx = (hx, torch.randn(3, 6, dtype=torch.float64, requires_grad=True))
    expected, actual = as_tuple(ref(x, hx)), as_tuple(ours(x, hx))
    for a, e in zip(actual, expected, strict=True):
        torch.testing.assert_close(a, e, rtol=0, atol=1e-12)
    inputs = [x] + list(ours.parameters()) + (list(as_tuple(hx)) if with_hx else [])
    ref_inputs = [x] + list(ref.parameters()) + (list(as_tuple(hx)) if with_hx else [])
    loss_ours = sum((a * torch.arange(a.numel(), dtype=a.dtype).view_as(a)).sum() for a in actual)
    loss_ref = sum((e * torch.arange(e.numel(), dtype=e.dtype).view_as(e)).sum() for e in expected)
    for a, e in zip(torch.autograd.grad(loss_ours, inputs), torch.autograd.grad(loss_ref, ref_inputs), strict=True):
        torch.testing.assert_close(a, e, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", PAIRS)
def test_unbatched_cell_matches_torch(name):
    ref_cls, ours_cls, kwargs = PAIRS[name]
    ref = ref_cls(4, 6, dtype=torch.float64, **kwargs)
    ours = ours_cls(4, 6, dtype=torch.float64, **kwargs)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(4, dtype=torch.float64)
    for a, e in zip(as_tuple(ours(x)), as_tuple(ref(x)), strict=True):
        assert a.shape == e.shape == (6,)
        torch.testing.assert_close(a, e, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", [ElmanCell(3, 4, dtype=torch.float64),
                                  ElmanCell(3, 4, nonlinearity="relu", dtype=torch.float64),
                                  LSTMCell(3, 4, dtype=torch.float64),
                                  LSTMCell(3, 4, proj_size=2, dtype=torch.float64),
                                  GRUCell(3, 4, dtype=torch.float64)], ids=repr)
def test_gradcheck(cell):
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, cell.weight_hh.size(1), dtype=torch.float64, requires_grad=True)
    if isinstance(cell, LSTMCell):
        c = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda x, h, c, *p: cell(x, (h, c)), (x, h, c, *cell.parameters()))
    else:
        assert torch.autograd.gradcheck(lambda x, h, *p: cell(x, h), (x, h, *cell.parameters()))


def test_lstm_cell_projection_equals_one_step_of_torch_lstm():
    ref = torch.nn.LSTM(4, 6, proj_size=3, dtype=torch.float64)
    cell = LSTMCell(4, 6, proj_size=3, dtype=torch.float64)
    cell.load_state_dict({name.removesuffix("_l0"): value for name, value in ref.state_dict().items()})
    x = torch.randn(1, 2, 4, dtype=torch.float64)
    h0, c0 = torch.randn(1, 2, 3, dtype=torch.float64), torch.randn(1, 2, 6, dtype=torch.float64)
    _, (h_ref, c_ref) = ref(x, (h0, c0))
    h, c = cell(x[0], (h0[0], c0[0]))
    assert h.shape == (2, 3)
    torch.testing.assert_close(h, h_ref[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(c, c_ref[0], rtol=0, atol=1e-12)


def test_gate_order_is_torchs():
    """With only the forget-gate block of the bias switched on (row block 1), c' = σ(big) * c: the cell keeps c."""
    cell = LSTMCell(2, 3, dtype=torch.float64)
    with torch.no_grad():
        for p in cell.parameters():
            p.zero_()
        cell.bias_ih[3:6] = 50.0  # f
    c = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64)
    _, c_next = cell(torch.zeros(1, 2, dtype=torch.float64), (torch.zeros(1, 3, dtype=torch.float64), c))
    torch.testing.assert_close(c_next, c)


@pytest.mark.parametrize("make,hx,match", [
    (lambda: ElmanCell(3, 4), torch.zeros(2, 5), r"hx: expected shape \(2, 4\), got \(2, 5\)"),
    (lambda: GRUCell(3, 4), torch.zeros(4), r"hx: expected shape \(2, 4\)"),
    (lambda: LSTMCell(3, 4), torch.zeros(2, 4), r"hx: expected a tuple \(h, c\)"),
    (lambda: LSTMCell(3, 4, proj_size=2), (torch.zeros(2, 4), torch.zeros(2, 4)),
     r"hx\[0\] \(h\): expected shape \(2, 2\)"),
])
def test_cell_state_errors(make, hx, match):
    with pytest.raises(ValueError, match=match):
        make()(torch.zeros(2, 3), hx)


def test_cell_input_errors():
    cell = GRUCell(3, 4)
    with pytest.raises(ValueError, match=r"input: expected feature size 3 \(input_size\), got 5"):
        cell(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="input: expected a 1-D"):
        cell(torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="input: expected dtype torch.float32"):
        cell(torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="nonlinearity: expected one of"):
        ElmanCell(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="proj_size: expected less than hidden_size=4, got 4"):
        LSTMCell(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="hidden_size: expected a positive int, got 0"):
        GRUCell(3, 0)
