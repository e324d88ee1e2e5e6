"""rnnkit.errors: every error torch.nn raises for a layer or cell, raised by rnnkit side by side with the same
exception class and with torch's own message inside rnnkit's, so code that catches or matches torch's errors
keeps working (the cases of PyTorch's own RNN tests, and each argument and state check)."""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

import rnnkit
from rnnkit.errors import InputError, torch_type_name

TORCH = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU, "RNNCell": nn.RNNCell, "LSTMCell": nn.LSTMCell,
         "GRUCell": nn.GRUCell}
OURS = {"RNN": rnnkit.RNN, "LSTM": rnnkit.LSTM, "GRU": rnnkit.GRU, "RNNCell": rnnkit.RNNCell,
        "LSTMCell": rnnkit.LSTMCell, "GRUCell": rnnkit.GRUCell}


def _state(kind, *shape, dtype=torch.float32):
    zeros = torch.zeros(*shape, dtype=dtype)
    return (zeros, zeros.clone()) if kind.startswith("LSTM") else zeros


def _layer_cases():
    x3, x2 = torch.randn(4, 3, 5), torch.randn(4, 5)
    for kind in ("RNN", "LSTM", "GRU"):
        def make(m, kind=kind, **kwargs):
            return m[kind](5, 4, **kwargs)
        yield f"{kind} input_size=0", lambda m, kind=kind: m[kind](0, 4)
        yield f"{kind} input_size=1.5", lambda m, kind=kind: m[kind](1.5, 4)
        yield f"{kind} hidden_size=-1", lambda m, kind=kind: m[kind](5, -1)
        yield f"{kind} hidden_size=2.0", lambda m, kind=kind: m[kind](5, 2.0)
        yield f"{kind} num_layers=0", lambda m, make=make: make(m, num_layers=0)
        yield f"{kind} bias=1", lambda m, make=make: make(m, bias=1)
        yield f"{kind} batch_first=1", lambda m, make=make: make(m, batch_first=1)
        yield f"{kind} dropout=2", lambda m, make=make: make(m, dropout=2)
        yield f"{kind} dropout=True", lambda m, make=make: make(m, dropout=True)
        yield f"{kind} input 4-D", lambda m, make=make: make(m)(torch.randn(2, 2, 2, 5))
        yield f"{kind} input 1-D", lambda m, make=make: make(m)(torch.randn(5))
        yield f"{kind} input dtype", lambda m, make=make: make(m)(x3.double())
        yield f"{kind} input size", lambda m, make=make: make(m)(torch.randn(4, 3, 6))
        yield f"{kind} unbatched input size", lambda m, make=make: make(m)(torch.randn(4, 6))
        yield f"{kind} hx 2-D for batched input", lambda m, make=make, kind=kind: make(m)(x3, _state(kind, 1, 4))
        yield (f"{kind} hx 3-D for unbatched input",
               lambda m, make=make, kind=kind: make(m)(x2, _state(kind, 1, 1, 4)))
        yield f"{kind} hx batch", lambda m, make=make, kind=kind: make(m)(x3, _state(kind, 1, 2, 4))
        yield (f"{kind} hx layers",
               lambda m, make=make, kind=kind: make(m, num_layers=2)(x3, _state(kind, 1, 3, 4)))
        yield f"{kind} hx size", lambda m, make=make, kind=kind: make(m)(x3, _state(kind, 1, 3, 5))
        yield f"{kind} unbatched hx size", lambda m, make=make, kind=kind: make(m)(x2, _state(kind, 1, 5))
        yield (f"{kind} bidirectional hx",
               lambda m, make=make, kind=kind: make(m, bidirectional=True)(x3, _state(kind, 1, 3, 4)))
    for kind in ("RNN", "GRU"):
        yield f"{kind} proj_size", lambda m, kind=kind: m[kind](5, 4, proj_size=2)
        yield f"{kind} proj_size=0", lambda m, kind=kind: m[kind](5, 4, proj_size=0)
    for kind in ("RNN", "LSTM", "GRU"):
        yield (f"{kind} packed input size",
               lambda m, kind=kind: m[kind](5, 4)(pack_padded_sequence(torch.randn(4, 3, 6), [4, 3, 2])))
        yield (f"{kind} packed data 3-D",
               lambda m, kind=kind: m[kind](5, 4)(PackedSequence(torch.randn(9, 2, 5), torch.tensor([3, 3, 2, 1]))))
        yield (f"{kind} packed hx batch",
               lambda m, kind=kind: m[kind](5, 4)(pack_padded_sequence(x3, [4, 3, 2]), _state(kind, 1, 2, 4)))
        yield (f"{kind} hx dtype",
               lambda m, kind=kind: m[kind](5, 4)(x3, _state(kind, 1, 3, 4, dtype=torch.float64)))
    yield "RNN nonlinearity", lambda m: m["RNN"](5, 4, nonlinearity="relu6")
    yield "RNN nonlinearity positional", lambda m: m["RNN"](5, 4, 1, "relu6")
    yield "LSTM proj_size=-1", lambda m: m["LSTM"](5, 4, proj_size=-1)
    yield "LSTM proj_size=hidden_size", lambda m: m["LSTM"](5, 4, proj_size=4)
    yield "LSTM proj hx", lambda m: m["LSTM"](5, 4, proj_size=2)(x3, (torch.zeros(1, 3, 4), torch.zeros(1, 3, 4)))
    yield "LSTM cx size", lambda m: m["LSTM"](5, 4)(x3, (torch.zeros(1, 3, 4), torch.zeros(1, 3, 5)))
    yield "LSTM hx and cx dims", lambda m: m["LSTM"](5, 4)(x3, (torch.zeros(1, 3, 4), torch.zeros(3, 4)))
    yield "LSTM unbatched hx and cx dims", lambda m: m["LSTM"](5, 4)(x2, (torch.zeros(1, 4), torch.zeros(1, 1, 4)))


def _cell_cases():
    for kind in ("RNNCell", "LSTMCell", "GRUCell"):
        yield f"{kind} input 3-D", lambda m, kind=kind: m[kind](5, 4)(torch.randn(1, 3, 5))
        yield f"{kind} hx 3-D", lambda m, kind=kind: m[kind](5, 4)(torch.randn(3, 5), _state(kind, 1, 3, 4))
        yield f"{kind} input size", lambda m, kind=kind: m[kind](5, 4)(torch.randn(3, 6))
        yield f"{kind} hx size", lambda m, kind=kind: m[kind](5, 4)(torch.randn(3, 5), _state(kind, 3, 5))
        yield f"{kind} batch", lambda m, kind=kind: m[kind](5, 4)(torch.randn(3, 5), _state(kind, 2, 4))
        yield f"{kind} 1-D hx, 2-D input", lambda m, kind=kind: m[kind](5, 4)(torch.randn(3, 5), _state(kind, 4))
        yield f"{kind} 2-D hx, 1-D input", lambda m, kind=kind: m[kind](5, 4)(torch.randn(5), _state(kind, 3, 4))
        yield f"{kind} input dtype", lambda m, kind=kind: m[kind](5, 4)(torch.randn(3, 5, dtype=torch.float64))
    yield ("LSTMCell cx size",
           lambda m: m["LSTMCell"](5, 4)(torch.randn(3, 5), (torch.zeros(3, 4), torch.zeros(3, 5))))
    yield ("LSTMCell cx batch",
           lambda m: m["LSTMCell"](5, 4)(torch.randn(3, 5), (torch.zeros(3, 4), torch.zeros(2, 4))))


CASES = dict([*_layer_cases(), *_cell_cases()])
# torch's message in these cases comes from deep inside a kernel (oneDNN, a broadcast) rather than a check of
# the argument, so only its exception class is matched.
KERNEL_MESSAGES = {"LSTM packed input size", "LSTM packed data 3-D", "LSTM packed hx batch", "LSTM hx dtype"}


def _raised(case, modules):
    try:
        case(modules)
    except Exception as error:  # noqa: BLE001 - the point is to compare whatever is raised
        return error
    return None


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_exception_class_and_torch_message(name):
    expected = _raised(CASES[name], TORCH)
    assert expected is not None, f"torch.nn accepts {name}: the case is wrong"
    actual = _raised(CASES[name], OURS)
    assert isinstance(actual, type(expected)), f"{name}: torch raises {expected!r}, rnnkit {actual!r}"
    if name not in KERNEL_MESSAGES:
        assert str(expected) in str(actual), f"{name}: torch's message {str(expected)!r} not in {str(actual)!r}"


def test_input_error_is_both_value_and_runtime_error():
    lstm = rnnkit.LSTM(5, 4)
    for catch in (ValueError, RuntimeError, InputError):
        with pytest.raises(catch, match=r"input: expected feature size 5 \(input_size\)"):
            lstm(torch.randn(2, 3, 6))


def test_lengths_errors_stay_value_errors_naming_the_argument():
    with pytest.raises(ValueError, match=r"lengths: expected every length >= 1, got 0") as caught:
        rnnkit.GRU(5, 4)(torch.randn(3, 2, 5), lengths=[3, 0])
    assert not isinstance(caught.value, RuntimeError)  # torch has no lengths: nothing to be compatible with


def test_rnn_and_gru_accept_no_proj_size_but_lstm_does():
    assert rnnkit.LSTM(5, 4, proj_size=2).proj_size == 2
    with pytest.raises(ValueError, match="proj_size: only LSTM has an output projection"):
        rnnkit.GRU(5, 4, proj_size=0)


@pytest.mark.parametrize("dtype,name", [(torch.float64, "Double"), (torch.float32, "Float"),
                                        (torch.float16, "Half"), (torch.bfloat16, "BFloat16")])
def test_torch_type_name(dtype, name):
    assert torch_type_name(dtype) == name
