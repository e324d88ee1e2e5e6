"""Variant options of rnnkit.RNN/LSTM/GRU: neutral values, masks, hand-written references of the equations,
the fused LSTM path against autograd through the readable steps, lengths/packing/bidirectional, errors."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit
import rnnkit.layers
import rnnkit.variants.cell

F64 = torch.float64
INPUT, HIDDEN, BATCH, STEPS = 4, 5, 3, 6
CLASSES = {"RNN": rnnkit.RNN, "LSTM": rnnkit.LSTM, "GRU": rnnkit.GRU}
TORCH = {"RNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}
NEUTRAL = {
    "RNN": {"recurrent_dropout": 0.0, "weight_drop": 0.0, "zoneout": 0.0, "residual": False},
    "GRU": {"layer_norm": False, "recurrent_dropout": 0.0, "weight_drop": 0.0, "zoneout": 0.0, "residual": False},
    "LSTM": {"layer_norm": False, "recurrent_dropout": 0.0, "weight_drop": 0.0, "zoneout": 0.0, "residual": False,
             "peephole": False, "coupled_gates": False},
}
# One entry per option (and a few combinations), for every kind that offers it.
VARIANTS = [
    ("LSTM", {"layer_norm": True}), ("LSTM", {"recurrent_dropout": 0.3}), ("LSTM", {"weight_drop": 0.4}),
    ("LSTM", {"zoneout": 0.2}), ("LSTM", {"residual": True}), ("LSTM", {"peephole": True}),
    ("LSTM", {"coupled_gates": True}), ("LSTM", {"peephole": True, "coupled_gates": True, "layer_norm": True}),
    ("LSTM", {"layer_norm": True, "zoneout": 0.1, "recurrent_dropout": 0.2, "proj_size": 3}),
    ("GRU", {"layer_norm": True}), ("GRU", {"recurrent_dropout": 0.3}), ("GRU", {"weight_drop": 0.4}),
    ("GRU", {"zoneout": 0.2}), ("GRU", {"residual": True}),
    ("RNN", {"recurrent_dropout": 0.3}), ("RNN", {"weight_drop": 0.4}), ("RNN", {"zoneout": 0.2}),
    ("RNN", {"residual": True}),
]
VARIANT_IDS = [kind + "-" + "-".join(f"{k}={v}" for k, v in options.items()) for kind, options in VARIANTS]


def make(kind, options=None, num_layers=2, bidirectional=False, dtype=F64, backend="loop", **kwargs):
    torch.manual_seed(0)
    layer = CLASSES[kind](INPUT, HIDDEN, num_layers=num_layers, bidirectional=bidirectional, dtype=dtype,
                          backend=backend, **kwargs, **(options or {}))
    with torch.no_grad():  # move layer-norm gains and shifts away from 1 and 0 so that mistakes show
        for name, p in layer.named_parameters():
            if name.startswith("layer_norm"):
                p.add_(0.3 * torch.randn_like(p))
    return layer


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def loss_and_grads(layer, x, **kwargs):
    out, state = layer(x, **kwargs)
    loss = (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum()
    loss = loss + sum((s * s).sum() for s in as_tuple(state))
    return out, as_tuple(state), torch.autograd.grad(loss, [x] + list(layer.parameters()))


def ln(v, gain, shift=0.0):
    """Layer normalization written out: (v − mean) / sqrt(var + 1e-5) ⊙ gain + shift."""
    mean = v.mean(-1, keepdim=True)
    var = ((v - mean) ** 2).mean(-1, keepdim=True)
    return (v - mean) / torch.sqrt(var + 1e-5) * gain + shift


# -- neutral values -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", CLASSES)
@pytest.mark.parametrize("backend", ["loop", "native"])
def test_neutral_options_equal_the_plain_layer_exactly(kind, backend):
    plain = make(kind, backend=backend, bidirectional=True)
    neutral = make(kind, NEUTRAL[kind], backend=backend, bidirectional=True)
    assert list(neutral.state_dict()) == list(TORCH[kind](INPUT, HIDDEN, num_layers=2, bidirectional=True).state_dict())
    neutral.load_state_dict(plain.state_dict())
    x = torch.randn(STEPS, BATCH, INPUT, dtype=F64, requires_grad=True)
    for a, b in zip(loss_and_grads(plain, x, lengths=[6, 2, 4]), loss_and_grads(neutral, x, lengths=[6, 2, 4]),
                    strict=True):
        for u, v in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,), strict=True):
            torch.testing.assert_close(u, v, rtol=0, atol=0)
    assert neutral.uses_native() == (backend == "native") and repr(neutral) == repr(plain)


@pytest.mark.parametrize("kind", CLASSES)
def test_dropout_options_in_eval_equal_the_plain_layer_exactly(kind):
    plain = make(kind).eval()
    dropped = make(kind, {"recurrent_dropout": 0.5, "weight_drop": 0.5}).eval()
    assert list(dropped.state_dict()) == list(plain.state_dict())
    x = torch.randn(STEPS, BATCH, INPUT, dtype=F64)
    torch.testing.assert_close(dropped(x)[0], plain(x)[0], rtol=0, atol=0)
    assert make(kind, {"weight_drop": 0.5}, backend="auto").eval().uses_native()


# -- recurrent dropout ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", CLASSES)
@pytest.mark.parametrize("fused", [True, False])
def test_recurrent_dropout_reuses_one_mask_per_sequence_at_every_step(kind, fused, monkeypatch):
    """Masks are drawn once per layer and direction, (B, F) on the input and (B, H) on h, and the output equals
    a hand-written loop that multiplies every step by those same masks."""
    layer = make(kind, {"recurrent_dropout": 0.5}, num_layers=1).train()
    layer.fused_loop = fused
    masks = []
    real = rnnkit.variants.cell.dropout_mask
    monkeypatch.setattr(rnnkit.variants.cell, "dropout_mask", lambda like, p: masks.append(real(like, p)) or masks[-1])
    x = torch.randn(STEPS, BATCH, INPUT, dtype=F64)
    out = layer(x)[0]
    assert [tuple(m.shape) for m in masks] == [(BATCH, INPUT), (BATCH, HIDDEN)]
    input_mask, hidden_mask = masks
    assert set(input_mask.unique().tolist()) <= {0.0, 2.0}
    cell = {"RNN": torch.nn.RNNCell, "LSTM": torch.nn.LSTMCell, "GRU": torch.nn.GRUCell}[kind](INPUT, HIDDEN, dtype=F64)
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    h = torch.zeros(BATCH, HIDDEN, dtype=F64)
    c = torch.zeros(BATCH, HIDDEN, dtype=F64)
    for t in range(STEPS):
        # the cell sees m_h ⊙ h only inside W_hh (...); rebuild that by hand for each kind
        if kind == "LSTM":
            gates = F.linear(x[t] * input_mask, cell.weight_ih, cell.bias_ih) + F.linear(h * hidden_mask,
                                                                                         cell.weight_hh, cell.bias_hh)
            i, f, g, o = gates.chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        elif kind == "GRU":
            x_r, x_z, x_n = F.linear(x[t] * input_mask, cell.weight_ih, cell.bias_ih).chunk(3, 1)
            h_r, h_z, h_n = F.linear(h * hidden_mask, cell.weight_hh, cell.bias_hh).chunk(3, 1)
            r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
            n = torch.tanh(x_n + r * h_n)
            h = (1 - z) * n + z * h
        else:
            h = torch.tanh(F.linear(x[t] * input_mask, cell.weight_ih, cell.bias_ih)
                           + F.linear(h * hidden_mask, cell.weight_hh, cell.bias_hh))
        torch.testing.assert_close(out[t], h, rtol=0, atol=1e-12)


# -- weight drop --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", CLASSES)
def test_weight_drop_resampled_per_forward_off_in_eval_and_same_on_both_backends(kind):
    loop = make(kind, {"weight_drop": 0.5}, num_layers=1, bidirectional=True).train()
    native = make(kind, {"weight_drop": 0.5}, num_layers=1, bidirectional=True, backend="native").train()
    x = torch.randn(STEPS, BATCH, INPUT, dtype=F64)
    assert not torch.equal(loop(x)[0], loop(x)[0])  # a new mask each forward
    torch.manual_seed(5)
    expected = loop(x)[0]
    torch.manual_seed(5)  # the native path draws the same masks in the same order
    torch.testing.assert_close(native(x)[0], expected, rtol=0, atol=1e-12)
    reference = TORCH[kind](INPUT, HIDDEN, bidirectional=True, dtype=F64)
    torch.manual_seed(5)  # ... and it is torch's layer with a DropConnect-ed weight_hh
    state = dict(loop.state_dict())
    for name in ("weight_hh_l0", "weight_hh_l0_reverse"):
        state[name] = F.dropout(state[name], 0.5, training=True)
    reference.load_state_dict(state)
    torch.testing.assert_close(reference(x)[0], expected, rtol=0, atol=1e-12)
    loop.eval()
    torch.testing.assert_close(loop(x)[0], loop(x)[0], rtol=0, atol=0)
    out = loop(x)[0]
    out.sum().backward()  # gradients reach the raw weight through the mask
    assert loop.weight_hh_l0.grad is not None


# -- zoneout --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", CLASSES)
def test_zoneout_deterministic_in_eval_and_keeps_units_in_training(kind, monkeypatch):
    layer = make(kind, {"zoneout": 0.5}, num_layers=1)
    x = torch.randn(STEPS, BATCH, INPUT, dtype=F64)
    layer.eval()
    torch.testing.assert_close(layer(x)[0], layer(x)[0], rtol=0, atol=0)
    layer.train()
    masks = []
    real = rnnkit.variants.cell.zoneout_masks
    monkeypatch.setattr(rnnkit.variants.cell, "zoneout_masks", lambda *a: masks.append(real(*a)) or masks[-1])
    out = layer(x)[0]
    keep_h = masks[0][0]  # (T, B, H): 1 where h keeps its previous value
    assert tuple(keep_h.shape) == (STEPS, BATCH, HIDDEN) and 0 < keep_h.mean() < 1
    previous = torch.cat([torch.zeros(1, BATCH, HIDDEN, dtype=F64), out[:-1]])
    kept = keep_h.bool()
    assert torch.equal(out[kept], previous[kept])  # zoned-out units are exactly the previous state
    assert not torch.equal(layer(x)[0], out)  # fresh masks per forward


def test_zoneout_eval_is_the_expectation():
    """In evaluation h' = p h + (1 − p) h̃ (and c likewise): a hand-written LSTM loop."""
    p = 0.3
    layer = make("LSTM", {"zoneout": p}, num_layers=1).eval()
    ref = torch.nn.LSTMCell(INPUT, HIDDEN, dtype=F64)
    ref.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    x = torch.randn(STEPS, BATCH, INPUT, dtype=F64)
    h = c = torch.zeros(BATCH, HIDDEN, dtype=F64)
    out = layer(x)[0]
    for t in range(STEPS):
        i, f, g, o = (F.linear(x[t], ref.weight_ih, ref.bias_ih) + F.linear(h, ref.weight_hh, ref.bias_hh)).chunk(4, 1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(c_new)  # tanh of the fresh cell (Krueger et al. 2017, eq. in 3.1)
        h, c = p * h + (1 - p) * h_new, p * c + (1 - p) * c_new
        torch.testing.assert_close(out[t], h, rtol=0, atol=1e-12)


# -- equations against hand-written references --------------------------------------------------------------


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("extra", [{}, {"peephole": True}, {"coupled_gates": True},
                                   {"peephole": True, "coupled_gates": True}])
def test_layer_norm_peephole_coupled_lstm_against_hand_written_equations(fused, extra):
    layer = make("LSTM", {"layer_norm": True, **extra}, num_layers=1)
    layer.fused_loop = fused
    if extra.get("peephole"):
        with torch.no_grad():
            layer.peephole_weight_l0.normal_()
    w = dict(layer.named_parameters())
    x = torch.randn(STEPS, BATCH, INPUT, dtype=F64)
    h = c = torch.zeros(BATCH, HIDDEN, dtype=F64)
    out, (h_n, c_n) = layer(x)
    coupled = extra.get("coupled_gates", False)
    for t in range(STEPS):
        a = (ln(x[t] @ w["weight_ih_l0"].T, w["layer_norm_ih_weight_l0"]) + w["bias_ih_l0"] + w["bias_hh_l0"]
             + ln(h @ w["weight_hh_l0"].T, w["layer_norm_hh_weight_l0"]))
        if coupled:
            a_i, a_g, a_o = a.chunk(3, 1)
        else:
            a_i, a_f, a_g, a_o = a.chunk(4, 1)
        if extra.get("peephole"):
            peep = w["peephole_weight_l0"].view(-1, HIDDEN)
            a_i = a_i + peep[0] * c
            if not coupled:
                a_f = a_f + peep[1] * c
        i = torch.sigmoid(a_i)
        f = 1 - i if coupled else torch.sigmoid(a_f)
        c = f * c + i * torch.tanh(a_g)
        if extra.get("peephole"):
            a_o = a_o + peep[-1] * c
        h = torch.sigmoid(a_o) * torch.tanh(ln(c, w["layer_norm_cell_weight_l0"], w["layer_norm_cell_bias_l0"]))
        torch.testing.assert_close(out[t], h, rtol=0, atol=1e-12)
    torch.testing.assert_close(c_n[0], c, rtol=0, atol=1e-12)


def test_layer_norm_gru_against_hand_written_equations():
    layer = make("GRU", {"layer_norm": True}, num_layers=1)
    w = dict(layer.named_parameters())
    x = torch.randn(STEPS, BATCH, INPUT, dtype=F64)
    h = torch.zeros(BATCH, HIDDEN, dtype=F64)
    out = layer(x)[0]
    for t in range(STEPS):
        x_r, x_z, x_n = (ln(x[t] @ w["weight_ih_l0"].T, w["layer_norm_ih_weight_l0"]) + w["bias_ih_l0"]).chunk(3, 1)
        h_r, h_z, h_n = (ln(h @ w["weight_hh_l0"].T, w["layer_norm_hh_weight_l0"]) + w["bias_hh_l0"]).chunk(3, 1)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        h = (1 - z) * n + z * h
        torch.testing.assert_close(out[t], h, rtol=0, atol=1e-12)


def test_residual_adds_each_stacked_layers_input_to_its_output():
    layer = make("LSTM", {"residual": True}, num_layers=3, bidirectional=True)
    x = torch.randn(STEPS, BATCH, INPUT, dtype=F64)
    out = layer(x)[0]
    layer_input = x
    for k in range(3):
        single = torch.nn.LSTM(layer_input.size(-1), HIDDEN, bidirectional=True, dtype=F64)
        single.load_state_dict({n.replace(f"_l{k}", "_l0"): v for n, v in layer.state_dict().items() if f"_l{k}" in n})
        y = single(layer_input)[0]
        layer_input = y + layer_input if k > 0 else y
    torch.testing.assert_close(out, layer_input, rtol=0, atol=1e-12)


# -- the fused LSTM path against autograd through the readable step ------------------------------------------


FUSED_CASES = [dict(zip(("layer_norm", "peephole", "coupled_gates", "zoneout", "recurrent_dropout"), flags, strict=True))
               for flags in itertools.product((False, True), (False, True), (False, True), (0.0, 0.3), (0.0, 0.3))
               if any(flags)]


@pytest.mark.parametrize("options", FUSED_CASES, ids=lambda o: "-".join(k for k, v in o.items() if v))
@pytest.mark.parametrize("training", [True, False])
def test_fused_lstm_variants_equal_autograd_through_the_step(options, training):
    layer = make("LSTM", options, num_layers=2, bidirectional=True, proj_size=3 if options["peephole"] else 0)
    if options["peephole"]:
        with torch.no_grad():
            layer.peephole_weight_l0.normal_()
    layer.train(training)
    x = torch.randn(STEPS, BATCH, INPUT, dtype=F64, requires_grad=True)
    results = []
    for fused in (True, False):
        layer.fused_loop = fused
        torch.manual_seed(3)  # the same masks on both paths
        results.append(loss_and_grads(layer, x, lengths=[6, 2, 4]))
    (out_a, state_a, grads_a), (out_b, state_b, grads_b) = results
    for a, b in zip((out_a, *state_a, *grads_a), (out_b, *state_b, *grads_b), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-11)


@pytest.mark.parametrize("options", [dict(layer_norm=True), dict(peephole=True, zoneout=0.3)],
                         ids=["layer_norm", "peephole-zoneout"])
def test_fused_lstm_variants_in_inference_read_the_cached_layout_and_agree(options, monkeypatch):
    """Without gradients the variant loop multiplies by rnnkit.transposed's cached (in, out) copies (its
    forward is told so), with the same numbers as when autograd needs the weights."""
    layer = make("LSTM", options, num_layers=2, proj_size=3 if options.get("peephole") else 0).eval()
    x = torch.randn(STEPS, BATCH, INPUT, dtype=F64)
    expected, expected_state = layer(x, lengths=[6, 2, 4])  # the weights want gradients: W.t() views
    made = []
    original = rnnkit.transposed.transposed

    def spy(weight, *, inference=None):
        result = original(weight, inference=inference)
        made.append(result.is_contiguous())
        return result

    monkeypatch.setattr("rnnkit.variants.fused_lstm.transposed", spy)
    with torch.no_grad():
        got, got_state = layer(x, lengths=[6, 2, 4])
    assert made and all(made)  # contiguous copies, not transposed views
    for a, b in zip((got, *got_state), (expected, *expected_state), strict=True):
        torch.testing.assert_close(a, b.detach(), rtol=0, atol=1e-11)


# -- lengths, packing, bidirectional with every variant --------------------------------------------------------


@pytest.mark.parametrize("kind,options", VARIANTS, ids=VARIANT_IDS)
def test_every_variant_handles_lengths_packing_and_bidirectional(kind, options):
    layer = make(kind, options, bidirectional=True)
    x = torch.randn(BATCH, STEPS, INPUT, dtype=F64)
    lengths = [6, 3, 1]  # sorted, so that packing keeps the row order and rows meet the same masks
    layer.batch_first = True
    # training: the padded+lengths path and the PackedSequence path draw the same masks in the same order
    layer.train()
    torch.manual_seed(7)
    padded, padded_state = layer(x, lengths=lengths)
    torch.manual_seed(7)
    packed, packed_state = layer(pack_padded_sequence(x, torch.tensor(lengths), batch_first=True,
                                                      enforce_sorted=False))
    packed, _ = pad_packed_sequence(packed, batch_first=True, total_length=STEPS)
    torch.testing.assert_close(packed, padded, rtol=0, atol=1e-12)
    for a, b in zip(as_tuple(packed_state), as_tuple(padded_state), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    assert torch.all(padded[1, 3:] == 0) and torch.all(padded[2, 1:] == 0)
    # evaluation (deterministic): a padded sequence gives what the sequence alone gives
    layer.eval()
    out, state = layer(x, lengths=lengths)
    alone, alone_state = layer(x[1:2, :3])
    torch.testing.assert_close(out[1:2, :3], alone, rtol=0, atol=1e-12)
    for a, b in zip(as_tuple(state), as_tuple(alone_state), strict=True):
        torch.testing.assert_close(a[:, 1:2], b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind,options", VARIANTS, ids=VARIANT_IDS)
def test_every_variant_trains_in_float32_and_under_autocast(kind, options):
    layer = make(kind, options, dtype=torch.float32).train()
    x = torch.randn(STEPS, BATCH, INPUT)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(x, lengths=[6, 2, 4])[0]
    out.float().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())


# -- parameters, backends, repr ----------------------------------------------------------------------------


def test_extra_parameters_have_their_own_names_and_torch_weights_load():
    layer = rnnkit.LSTM(INPUT, HIDDEN, num_layers=2, bidirectional=True, layer_norm=True, peephole=True)
    torch_keys = list(torch.nn.LSTM(INPUT, HIDDEN, num_layers=2, bidirectional=True).state_dict())
    keys = list(layer.state_dict())
    assert keys[:len(torch_keys)] == torch_keys
    extra = keys[len(torch_keys):]
    assert len(extra) == 5 * 4 and all(k.startswith(("layer_norm_", "peephole_")) for k in extra)
    assert "layer_norm_cell_bias_l1_reverse" in extra and "peephole_weight_l0" in extra
    missing = layer.load_state_dict(torch.nn.LSTM(INPUT, HIDDEN, num_layers=2, bidirectional=True).state_dict(),
                                    strict=False).missing_keys
    assert missing == extra
    assert torch.equal(layer.layer_norm_hh_weight_l0, torch.ones(4 * HIDDEN))
    assert torch.equal(layer.layer_norm_cell_bias_l0, torch.zeros(HIDDEN))


@pytest.mark.parametrize("init", ["default", "orthogonal", "xavier+forget_bias"])
def test_init_schemes_touch_torch_parameters_only(init):
    layer = rnnkit.LSTM(INPUT, HIDDEN, layer_norm=True, init=init)
    assert torch.equal(layer.layer_norm_ih_weight_l0, torch.ones(4 * HIDDEN))
    coupled = rnnkit.LSTM(INPUT, HIDDEN, coupled_gates=True, init=init.replace("+forget_bias", ""))
    assert coupled.weight_ih_l0.shape == (3 * HIDDEN, INPUT)  # CIFG: blocks i, g, o
    assert sum(p.numel() for p in coupled.parameters()) == 3 * (HIDDEN * INPUT + HIDDEN * HIDDEN + 2 * HIDDEN)


def test_auto_switches_to_loop_and_native_raises_with_the_reason():
    assert not rnnkit.LSTM(INPUT, HIDDEN, layer_norm=True).uses_native()
    gru = rnnkit.GRU(INPUT, HIDDEN, recurrent_dropout=0.2)
    assert not gru.uses_native() and gru.eval().uses_native()  # masks only in training
    for kwargs, reason in [({"layer_norm": True}, "layer_norm=True"), ({"zoneout": 0.1}, "zoneout=0.1"),
                           ({"peephole": True}, "peephole=True"), ({"coupled_gates": True}, "coupled_gates=True"),
                           ({"residual": True, "num_layers": 2}, "residual=True"),
                           ({"recurrent_dropout": 0.2}, "recurrent_dropout=0.2")]:
        lstm = rnnkit.LSTM(INPUT, HIDDEN, backend="native", **kwargs)
        with pytest.raises(ValueError, match=rf"backend='native' cannot run this layer: {reason}.*use backend='loop'"):
            lstm(torch.zeros(STEPS, BATCH, INPUT))
    assert rnnkit.LSTM(INPUT, HIDDEN, backend="native", weight_drop=0.3).uses_native()


def test_repr_names_non_neutral_options():
    text = repr(rnnkit.LSTM(INPUT, HIDDEN, layer_norm=True, zoneout=0.1))
    assert "layer_norm=True" in text and "zoneout=0.1" in text and "peephole" not in text


# -- errors -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,kwargs,error,match", [
    ("LSTM", {"layer_norm": 1}, TypeError, "layer_norm: expected a bool, got int 1"),
    ("LSTM", {"peephole": "yes"}, TypeError, "peephole: expected a bool, got str 'yes'"),
    ("GRU", {"zoneout": 1.0}, ValueError, r"zoneout: expected a probability in \[0, 1\), got 1.0"),
    ("GRU", {"recurrent_dropout": -0.1}, ValueError, r"recurrent_dropout: expected a probability in \[0, 1\), got -0.1"),
    ("RNN", {"weight_drop": math.nan}, ValueError, r"weight_drop: expected a probability in \[0, 1\), got nan"),
    ("RNN", {"weight_drop": "0.5"}, TypeError, r"weight_drop: expected a float in \[0, 1\), got str '0.5'"),
    ("LSTM", {"residual": True}, ValueError, r"residual: connections run between stacked layers.*expected "
                                             r"num_layers >= 2, got num_layers=1"),
    ("LSTM", {"coupled_gates": True, "init": "orthogonal+forget_bias"}, ValueError,
     r"init: 'forget_bias' sets the forget gate's bias, but coupled_gates=True has no forget gate"),
    ("RNN", {"layer_norm": True}, TypeError, "layer_norm"),  # not offered for the Elman RNN
    ("GRU", {"peephole": True}, TypeError, "peephole"),  # LSTM only
])
def test_option_errors_name_the_argument(kind, kwargs, error, match):
    with pytest.raises(error, match=match):
        CLASSES[kind](INPUT, HIDDEN, **kwargs)
