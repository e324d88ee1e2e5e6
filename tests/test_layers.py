"""rnnkit.RNN/LSTM/GRU against torch.nn with the same weights: outputs, final states and every gradient."""

import itertools
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

import rnnkit

KINDS = {  # name -> (torch class, rnnkit class, extra kwargs)
    "rnn_tanh": (torch.nn.RNN, rnnkit.RNN, {}),
    "rnn_relu": (torch.nn.RNN, rnnkit.RNN, {"nonlinearity": "relu"}),
    "lstm": (torch.nn.LSTM, rnnkit.LSTM, {}),
    "lstm_proj": (torch.nn.LSTM, rnnkit.LSTM, {"proj_size": 3}),
    "gru": (torch.nn.GRU, rnnkit.GRU, {}),
}
FORMS = ("padded", "padded_lengths", "packed_sorted", "packed_unsorted")
INPUT, HIDDEN, BATCH, STEPS = 4, 5, 3, 6
LENGTHS = {"packed_sorted": [6, 4, 2], "packed_unsorted": [3, 6, 1], "padded_lengths": [2, 6, 5]}
TOLERANCE = {torch.float64: {"rtol": 0, "atol": 1e-10}, torch.float32: {"rtol": 1e-4, "atol": 1e-5}}


def make_pair(kind, num_layers, bidirectional, batch_first, dtype, backend, **extra):
    ref_cls, ours_cls, kwargs = KINDS[kind]
    kwargs = {**kwargs, **extra}
    torch.manual_seed(0)
    ref = ref_cls(INPUT, HIDDEN, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first,
                  dtype=dtype, **kwargs)
    ours = ours_cls(INPUT, HIDDEN, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first,
                    dtype=dtype, backend=backend, **kwargs)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def initial_state(kind, num_layers, bidirectional, dtype):
    layers = num_layers * (2 if bidirectional else 1)
    h = torch.randn(layers, BATCH, 3 if kind == "lstm_proj" else HIDDEN, dtype=dtype, requires_grad=True)
    if kind.startswith("lstm"):
        return (h, torch.randn(layers, BATCH, HIDDEN, dtype=dtype, requires_grad=True))
    return h


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def run(module, x, hx, form, batch_first, weights):
    """Forward, a loss touching every output, and the gradients of input, initial state and parameters."""
    lengths = LENGTHS.get(form)
    if form == "padded":
        out, state = module(x, hx)
    elif form == "padded_lengths":
        if isinstance(module, rnnkit.layers._RecurrentLayer):
            out, state = module(x, hx, lengths=torch.tensor(lengths))
        else:  # torch.nn needs a PackedSequence for variable lengths
            packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
            out, state = module(packed, hx)
            out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=STEPS)
    else:
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first,
                                      enforce_sorted=form == "packed_sorted")
        out, state = module(packed, hx)
        assert isinstance(out, PackedSequence)
        out = out.data
    state = as_tuple(state)
    loss = (out * weights[0][: out.numel()].view_as(out)).sum()
    loss = loss + sum((s * w[: s.numel()].view_as(s)).sum() for s, w in zip(state, weights[1:1 + len(state)], strict=True))
    inputs = [x] + (list(as_tuple(hx)) if hx is not None else []) + list(module.parameters())
    return out, state, torch.autograd.grad(loss, inputs)


CASES = list(itertools.product(KINDS, (1, 2), (False, True), (False, True), (False, True), FORMS))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("backend", ["loop", "native"])
@pytest.mark.parametrize("kind,num_layers,bidirectional,batch_first,with_hx,form", CASES,
                         ids=["-".join(map(str, case)) for case in CASES])
def test_matches_torch(kind, num_layers, bidirectional, batch_first, with_hx, form, backend, dtype):
    ref, ours = make_pair(kind, num_layers, bidirectional, batch_first, dtype, backend)
    torch.manual_seed(1)
    shape = (BATCH, STEPS, INPUT) if batch_first else (STEPS, BATCH, INPUT)
    x = torch.randn(shape, dtype=dtype, requires_grad=True)
    hx = initial_state(kind, num_layers, bidirectional, dtype) if with_hx else None
    weights = [torch.randn(4096, dtype=dtype) for _ in range(3)]
    expected = run(ref, x, hx, form, batch_first, weights)
    actual = run(ours, x, hx, form, batch_first, weights)
    tol = TOLERANCE[dtype]
    torch.testing.assert_close(actual[0], expected[0], **tol)
    for a, e in zip(actual[1], expected[1], strict=True):
        torch.testing.assert_close(a, e, **tol)
    assert len(actual[2]) == len(expected[2])
    for a, e in zip(actual[2], expected[2], strict=True):
        torch.testing.assert_close(a, e, **tol)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_fused_loop_equals_autograd_through_cells(kind, bidirectional):
    """The hand-derived BPTT of rnnkit.fused against plain autograd through rnnkit.cells."""
    _, ours = make_pair(kind, 2, bidirectional, True, torch.float64, "loop")
    x = torch.randn(BATCH, STEPS, INPUT, dtype=torch.float64, requires_grad=True)
    hx = initial_state(kind, 2, bidirectional, torch.float64)
    weights = [torch.randn(4096, dtype=torch.float64) for _ in range(3)]
    fused = run(ours, x, hx, "padded_lengths", True, weights)
    ours.fused_loop = False
    plain = run(ours, x, hx, "padded_lengths", True, weights)
    for a, b in zip(fused[2], plain[2], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", ["loop", "native"])
def test_unbatched_input(kind, backend):
    ref, ours = make_pair(kind, 2, True, False, torch.float64, backend)
    x = torch.randn(STEPS, INPUT, dtype=torch.float64)
    expected, expected_state = ref(x)
    actual, actual_state = ours(x)
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-12)
    for a, e in zip(as_tuple(actual_state), as_tuple(expected_state), strict=True):
        torch.testing.assert_close(a, e, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_loads_both_ways(kind):
    ref_cls, ours_cls, kwargs = KINDS[kind]
    ref = ref_cls(INPUT, HIDDEN, num_layers=2, bidirectional=True, **kwargs)
    ours = ours_cls(INPUT, HIDDEN, num_layers=2, bidirectional=True, **kwargs)
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert [p.shape for p in ours.parameters()] == [p.shape for p in ref.parameters()]
    ref.load_state_dict(ours.state_dict())
    for (name, a), b in zip(ours.state_dict().items(), ref.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_lengths_semantics():
    """Outputs past a length are exactly zero; h_n is the state at the last valid step; the reverse direction
    starts at the last valid step, so a padded sequence gives the same result as the unpadded one alone."""
    torch.manual_seed(0)
    lstm = rnnkit.LSTM(INPUT, HIDDEN, bidirectional=True, batch_first=True, dtype=torch.float64, backend="loop")
    x = torch.randn(2, STEPS, INPUT, dtype=torch.float64)
    out, (h_n, _) = lstm(x, lengths=[STEPS, 3])
    assert torch.all(out[1, 3:] == 0)
    alone, (alone_h, _) = lstm(x[1:, :3])
    torch.testing.assert_close(out[1:, :3], alone, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_n[:, 1:], alone_h, rtol=0, atol=1e-12)


@pytest.mark.parametrize("backend", ["loop", "native"])
def test_lengths_accepts_list_tuple_and_any_device_tensor(backend):
    torch.manual_seed(0)
    gru = rnnkit.GRU(INPUT, HIDDEN, batch_first=True, backend=backend)
    x = torch.randn(3, STEPS, INPUT)
    results = [gru(x, lengths=lengths)[0] for lengths in ([6, 2, 4], (6, 2, 4), torch.tensor([6, 2, 4]),
                                                          torch.tensor([6, 2, 4], dtype=torch.int32))]
    for result in results[1:]:
        torch.testing.assert_close(result, results[0], rtol=0, atol=0)


def test_loop_and_native_agree_in_float32():
    torch.manual_seed(0)
    loop = rnnkit.LSTM(8, 16, num_layers=2, bidirectional=True, backend="loop")
    native = rnnkit.LSTM(8, 16, num_layers=2, bidirectional=True, backend="native")
    native.load_state_dict(loop.state_dict())
    x = torch.randn(12, 4, 8)
    torch.testing.assert_close(loop(x, lengths=[12, 3, 7, 1])[0], native(x, lengths=[12, 3, 7, 1])[0])


@settings(max_examples=25, deadline=None)
@given(lengths=st.lists(st.integers(1, 9), min_size=1, max_size=6), kind=st.sampled_from(sorted(KINDS)),
       bidirectional=st.booleans())
def test_random_lengths_and_batch_sizes(lengths, kind, bidirectional):
    """Property: for any batch of lengths, padded+lengths (both backends) equals torch.nn on a packed batch."""
    ref, loop = make_pair(kind, 2, bidirectional, True, torch.float64, "loop")
    native = KINDS[kind][1](INPUT, HIDDEN, num_layers=2, bidirectional=bidirectional, batch_first=True,
                            dtype=torch.float64, backend="native", **KINDS[kind][2])
    native.load_state_dict(ref.state_dict())
    steps = max(lengths) + 1
    x = torch.randn(len(lengths), steps, INPUT, dtype=torch.float64)
    packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    expected, expected_state = ref(packed)
    expected, _ = pad_packed_sequence(expected, batch_first=True, total_length=steps)
    for module in (loop, native):
        actual, state = module(x, lengths=lengths)
        torch.testing.assert_close(actual, expected, rtol=0, atol=1e-10)
        for a, e in zip(as_tuple(state), as_tuple(expected_state), strict=True):
            torch.testing.assert_close(a, e, rtol=0, atol=1e-10)


def test_dropout_between_layers_only_in_training():
    torch.manual_seed(0)
    lstm = rnnkit.LSTM(INPUT, HIDDEN, num_layers=2, dropout=0.5, backend="loop")
    x = torch.randn(STEPS, BATCH, INPUT)
    lstm.eval()
    first, second = lstm(x)[0], lstm(x)[0]
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    lstm.train()
    assert not torch.equal(lstm(x)[0], lstm(x)[0])


def test_dropout_with_one_layer_warns():
    with pytest.warns(UserWarning, match="dropout"):
        rnnkit.GRU(INPUT, HIDDEN, dropout=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rnnkit.GRU(INPUT, HIDDEN, num_layers=2, dropout=0.3)


@pytest.mark.parametrize("num_layers,bidirectional,proj_size", [(1, False, 0), (2, True, 0), (3, True, 4)])
def test_lstm_parameter_count_formula(num_layers, bidirectional, proj_size):
    """4 * (H*I + H*H_out + 2H) (+ P*H) per layer and direction, I = D*H_out above the first layer."""
    input_size, hidden = 7, 9
    lstm = rnnkit.LSTM(input_size, hidden, num_layers=num_layers, bidirectional=bidirectional, proj_size=proj_size)
    directions = 2 if bidirectional else 1
    out = proj_size or hidden
    expected = 0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else directions * out
        expected += directions * (4 * (hidden * layer_input + hidden * out + 2 * hidden) + proj_size * hidden)
    assert sum(p.numel() for p in lstm.parameters()) == expected


def test_auto_backend_is_native_for_plain_layers():
    assert rnnkit.LSTM(INPUT, HIDDEN).uses_native()
    assert not rnnkit.LSTM(INPUT, HIDDEN, backend="loop").uses_native()


def test_repr_names_non_default_arguments():
    text = repr(rnnkit.LSTM(4, 5, num_layers=2, batch_first=True, backend="loop"))
    assert "num_layers=2" in text and "batch_first=True" in text and "backend='loop'" in text
    assert "dropout" not in text


# -- errors: each names the argument, the expected and the received value ----------------------------------


@pytest.mark.parametrize("call,error,match", [
    (lambda m: m(torch.zeros(6, 3, 7)), ValueError,
     r"input: expected feature size 4 \(input_size\) in the last dimension, got 7"),
    (lambda m: m(torch.zeros(6, 3, 4), torch.zeros(2, 3, 5)), ValueError,
     r"hx: expected a tuple \(h_0, c_0\) of two tensors, got Tensor"),
    (lambda m: m(torch.zeros(6, 3, 4), (torch.zeros(2, 3, 5),)), ValueError,
     r"hx: expected a tuple \(h_0, c_0\) of two tensors, got 1"),
    (lambda m: m(torch.zeros(6, 3, 4), (torch.zeros(1, 3, 5), torch.zeros(2, 3, 5))), ValueError,
     r"hx\[0\] \(h_0\): expected shape \(2, 3, 5\) \(num_layers \* num_directions, batch, hidden_size\), "
     r"got \(1, 3, 5\)"),
    (lambda m: m(torch.zeros(6, 3, 4), lengths=[6, 7, 2]), ValueError,
     r"lengths: expected every length <= 6 \(the padded sequence length\), got 7"),
    (lambda m: m(torch.zeros(6, 3, 4), lengths=[6, 0, 2]), ValueError, r"lengths: expected every length >= 1, got 0"),
    (lambda m: m(torch.zeros(6, 3, 4), lengths=[6, -1, 2]), ValueError, r"lengths: expected every length >= 1, got -1"),
    (lambda m: m(torch.zeros(6, 3, 4), lengths=[6, 2]), ValueError,
     r"lengths: expected 3 lengths \(one per sequence in the batch\), got 2"),
    (lambda m: m(torch.zeros(6, 3, 4), lengths=torch.tensor([6.0, 2.0, 1.0])), TypeError,
     r"lengths: expected an integer tensor, got dtype torch.float32"),
    (lambda m: m(torch.zeros(6, 3, 4, dtype=torch.float64)), ValueError,
     r"input: expected dtype torch.float32 \(the parameters' dtype\), got torch.float64"),
    (lambda m: m(torch.zeros(6, 3, 4, device="meta")), ValueError,
     r"input: expected device cpu \(the parameters' device\), got meta"),
    (lambda m: m(torch.zeros(6, 3, 4), (torch.zeros(2, 3, 5, dtype=torch.float64), torch.zeros(2, 3, 5))),
     ValueError, r"hx\[0\] \(h_0\): expected dtype torch.float32"),
    (lambda m: m(torch.zeros(3, 6, 3, 4)), ValueError, r"input: expected a 3-D \(batched\) or 2-D \(unbatched\) tensor"),
    (lambda m: m(torch.zeros(6, 4), lengths=[6]), ValueError, r"lengths: expected None for an unbatched"),
    (lambda m: m([[1.0]]), TypeError, r"input: expected a Tensor or a PackedSequence, got list"),
])
@pytest.mark.parametrize("backend", ["loop", "native"])
def test_forward_errors(call, error, match, backend):
    with pytest.raises(error, match=match):
        call(rnnkit.LSTM(4, 5, num_layers=2, backend=backend))


def test_rnn_hx_count_and_packed_lengths_errors():
    rnn = rnnkit.RNN(4, 5, bidirectional=True)
    with pytest.raises(ValueError, match=r"hx: expected shape \(2, 3, 5\)"):
        rnn(torch.zeros(6, 3, 4), torch.zeros(1, 3, 5))
    with pytest.raises(TypeError, match="hx: expected a Tensor, got tuple"):
        rnn(torch.zeros(6, 3, 4), (torch.zeros(2, 3, 5),))
    packed = pack_padded_sequence(torch.zeros(6, 3, 4), [6, 5, 2])
    with pytest.raises(ValueError, match="lengths: expected None with a PackedSequence input"):
        rnn(packed, lengths=[6, 5, 2])


@pytest.mark.parametrize("kwargs,error,match", [
    ({"backend": "cuda"}, ValueError, r"backend: expected one of \('auto', 'loop', 'native'\), got 'cuda'"),
    ({"dropout": 1.5}, ValueError, r"dropout: expected a number in \[0, 1\], got 1.5"),
    ({"num_layers": 0}, ValueError, "num_layers: expected a positive int, got 0"),
    ({"proj_size": 9}, ValueError, "proj_size: expected less than hidden_size=5, got 9"),
    ({"bidirectional": 1}, TypeError, "bidirectional: expected a bool, got int 1"),
    ({"init": "glorot"}, ValueError, r"init: expected one of \['default', 'identity', 'orthogonal', 'xavier'\]"),
])
def test_constructor_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        rnnkit.LSTM(4, 5, **kwargs)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fused", [True, False])
def test_loop_runs_under_bfloat16_autocast(kind, fused):
    """Under autocast the loop follows the lowered dtype of the input projection, close to float32."""
    _, ours = make_pair(kind, 2, True, True, torch.float32, "loop")
    ours.fused_loop = fused
    x = torch.randn(BATCH, STEPS, INPUT)
    expected = ours(x, lengths=[6, 2, 4])[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        actual = ours(x, lengths=[6, 2, 4])[0]
        actual.float().sum().backward()
    assert actual.dtype == torch.bfloat16
    torch.testing.assert_close(actual.float(), expected, rtol=0, atol=0.05)
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in ours.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", ["loop", "native"])
def test_cuda_matches_torch_with_cpu_or_cuda_lengths(kind, backend):
    ref, ours = make_pair(kind, 2, True, True, torch.float64, backend)
    ref, ours = ref.cuda(), ours.cuda()
    x = torch.randn(BATCH, STEPS, INPUT, dtype=torch.float64, device="cuda")
    lengths = [6, 2, 4]
    packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    expected, _ = pad_packed_sequence(ref(packed)[0], batch_first=True, total_length=STEPS)
    for device_lengths in (torch.tensor(lengths), torch.tensor(lengths, device="cuda")):
        torch.testing.assert_close(ours(x, lengths=device_lengths)[0], expected, rtol=0, atol=1e-10)


def test_auto_runs_single_steps_on_the_cpu_with_the_loop():
    auto, native = rnnkit.LSTM(INPUT, HIDDEN), rnnkit.LSTM(INPUT, HIDDEN, backend="native")
    cpu = torch.device("cpu")
    assert not auto._runs_native(1, cpu) and auto._runs_native(2, cpu)
    assert native._runs_native(1, cpu)
    ref = torch.nn.LSTM(INPUT, HIDDEN)
    auto.load_state_dict(ref.state_dict())
    x = torch.randn(1, BATCH, INPUT)
    torch.testing.assert_close(auto(x)[0], ref(x)[0])


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_one_step_in_inference_matches_torch_without_the_loop(kind, bidirectional, monkeypatch):
    """Decoding's one-token calls take the one-step path (no loop, no autograd.Function) and give torch.nn's numbers."""
    ref, ours = make_pair(kind, 2, bidirectional, True, torch.float64, "auto")
    ref.eval(), ours.eval()
    hx = initial_state(kind, 2, bidirectional, torch.float64)
    hx = tuple(s.detach() for s in hx) if isinstance(hx, tuple) else hx.detach()
    x = torch.randn(BATCH, 1, INPUT, dtype=torch.float64)
    monkeypatch.setattr(rnnkit.layers.forward, "loop_forward", lambda *args: pytest.fail("the loop ran a one-step inference call"))
    with torch.no_grad():
        expected_out, expected_state = ref(x, hx)
        out, state = ours(x, hx)
        torch.testing.assert_close(out, expected_out, **TOLERANCE[torch.float64])
        for got, expected in zip(as_tuple(state), as_tuple(expected_state), strict=True):
            torch.testing.assert_close(got, expected, **TOLERANCE[torch.float64])
        unbatched_out, _ = ours(x[0], None)  # (1, F): unbatched, zero state
        torch.testing.assert_close(unbatched_out, ref(x[0])[0], **TOLERANCE[torch.float64])


def test_one_step_is_not_taken_when_a_gradient_or_training_needs_the_loop():
    layer = rnnkit.LSTM(INPUT, HIDDEN, num_layers=2, dropout=0.5)
    x = torch.randn(1, BATCH, INPUT)
    state = layer._initial_state(None, BATCH, False, x)
    layer.eval()
    assert not layer._steps_once_in_inference(x, state, None)  # parameters want gradients
    with torch.no_grad():
        assert layer._steps_once_in_inference(x, state, None)
        assert not layer._steps_once_in_inference(torch.randn(2, BATCH, INPUT), state, None)  # two steps
        assert not layer._steps_once_in_inference(x, state, torch.tensor([1] * BATCH))
        layer.train()  # dropout between the layers
        assert not layer._steps_once_in_inference(x, state, None)
    layer.eval().requires_grad_(False)
    assert layer._steps_once_in_inference(x, state, None)  # frozen: no gradient wanted
    assert not layer._steps_once_in_inference(x.requires_grad_(), state, None)
    assert not rnnkit.LSTM(INPUT, HIDDEN, backend="native").eval()._steps_once_in_inference(x, state, None)


def test_one_step_with_residual_matches_the_loop():
    layer = rnnkit.GRU(HIDDEN, HIDDEN, num_layers=3, residual=True, dtype=torch.float64).eval()
    x = torch.randn(1, BATCH, HIDDEN, dtype=torch.float64)
    looped, looped_h = layer(x)  # parameters want gradients: the loop
    with torch.no_grad():
        assert layer._steps_once_in_inference(x, (looped_h,), None)
        stepped, stepped_h = layer(x)
    torch.testing.assert_close(stepped, looped.detach(), **TOLERANCE[torch.float64])
    torch.testing.assert_close(stepped_h, looped_h.detach(), **TOLERANCE[torch.float64])


VARIANT_ONE_STEP = [
    (rnnkit.LSTM, {"layer_norm": True}),
    (rnnkit.LSTM, {"peephole": True}),
    (rnnkit.LSTM, {"coupled_gates": True}),
    (rnnkit.LSTM, {"zoneout": 0.3}),
    (rnnkit.LSTM, {"layer_norm": True, "peephole": True, "zoneout": 0.3, "bidirectional": True}),
    (rnnkit.LSTM, {"recurrent_dropout": 0.3, "weight_drop": 0.4}),  # both off in evaluation: the plain step
    (rnnkit.GRU, {"layer_norm": True}),
    (rnnkit.GRU, {"zoneout": 0.3, "bidirectional": True}),
    (rnnkit.RNN, {"zoneout": 0.3}),
]


@pytest.mark.parametrize("cls,options", VARIANT_ONE_STEP, ids=[f"{c.__name__}-{o}" for c, o in VARIANT_ONE_STEP])
def test_variant_one_step_in_inference_matches_the_loop(cls, options, monkeypatch):
    torch.manual_seed(0)
    layer = cls(INPUT, HIDDEN, num_layers=2, dtype=torch.float64, **options).eval()
    x = torch.randn(1, BATCH, INPUT, dtype=torch.float64)
    looped, looped_state = layer(x)  # the parameters want gradients: the loop
    monkeypatch.setattr(rnnkit.layers.forward, "loop_forward", lambda *args: pytest.fail("the loop ran a one-step inference call"))
    with torch.no_grad():
        stepped, stepped_state = layer(x)
    torch.testing.assert_close(stepped, looped.detach(), **TOLERANCE[torch.float64])
    for got, expected in zip(as_tuple(stepped_state), as_tuple(looped_state), strict=True):
        torch.testing.assert_close(got, expected.detach(), **TOLERANCE[torch.float64])
