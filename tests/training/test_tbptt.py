"""Truncated BPTT against full BPTT, document resets against running each document alone."""

from __future__ import annotations

import pytest
import torch

from rnnkit.training.tbptt import batchify, detach_state, num_windows, reset_state, run_with_resets, windows


def _model(seed: int = 0):
    torch.manual_seed(seed)
    lstm = torch.nn.LSTM(3, 5, num_layers=2, batch_first=True, dtype=torch.float64)
    head = torch.nn.Linear(5, 1, dtype=torch.float64)
    return lstm, head


def _tbptt_gradients(lstm, head, x, window):
    """Sum of per-window losses with the state carried and detached between windows; returns the grads."""
    lstm.zero_grad()
    head.zero_grad()
    state, total = None, 0.0
    for begin in range(0, x.size(1), window):
        out, state = lstm(x[:, begin : begin + window], state)
        loss = head(out).square().sum()
        loss.backward()
        total += loss.item()
        state = detach_state(state)
    return total, [p.grad.clone() for p in lstm.parameters()]


@pytest.mark.parametrize("window", [12, 13, 40])
def test_window_at_least_the_sequence_equals_full_bptt(window):
    lstm, head = _model()
    x = torch.randn(4, 12, 3, dtype=torch.float64)
    out, _ = lstm(x)
    full_loss = head(out).square().sum()
    full = torch.autograd.grad(full_loss, list(lstm.parameters()))
    loss, truncated = _tbptt_gradients(lstm, head, x, window)
    assert loss == pytest.approx(full_loss.item(), rel=1e-12)
    for a, b in zip(truncated, full, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_short_windows_keep_the_forward_pass_but_cut_gradients():
    lstm, head = _model()
    x = torch.randn(4, 12, 3, dtype=torch.float64)
    out, _ = lstm(x)
    full_loss = head(out).square().sum()
    full = torch.autograd.grad(full_loss, list(lstm.parameters()))
    loss, truncated = _tbptt_gradients(lstm, head, x, 4)
    assert loss == pytest.approx(full_loss.item(), rel=1e-12)  # state carried: same forward
    assert not torch.allclose(truncated[1], full[1])  # detached: shorter gradient paths


def test_batchify_and_windows_layout():
    stream = torch.arange(24)
    tracks = batchify(stream, 3)
    assert tracks.tolist() == [list(range(0, 8)), list(range(8, 16)), list(range(16, 24))]
    parts = list(windows(tracks, 4))
    assert len(parts) == num_windows(8, 4) == 2
    assert parts[0].inputs.tolist()[0] == [0, 1, 2, 3] and parts[0].targets.tolist()[0] == [1, 2, 3, 4]
    assert parts[1].inputs.tolist()[2] == [20, 21, 22] and parts[1].targets.tolist()[2] == [21, 22, 23]
    assert [w.inputs.tolist() for w in windows(tracks, 4, first=1)] == [parts[1].inputs.tolist()]
    with pytest.raises(ValueError, match="num_tracks"):
        batchify(stream, 13)


def test_run_with_resets_equals_each_document_alone():
    lstm, _ = _model(1)
    x = torch.randn(2, 10, 3, dtype=torch.float64)
    reset = torch.zeros(2, 10, dtype=torch.bool)
    reset[0, 4] = True  # track 0: documents [0, 4) and [4, 10)
    reset[1, 7] = True  # track 1: documents [0, 7) and [7, 10)
    out, (h, c) = run_with_resets(lstm, x, None, reset)
    for track, cut in [(0, 4), (1, 7)]:
        first, _ = lstm(x[track : track + 1, :cut])
        second, (h_ref, _) = lstm(x[track : track + 1, cut:])
        torch.testing.assert_close(out[track : track + 1], torch.cat([first, second], 1), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(h[:, track], h_ref[:, 0], rtol=1e-12, atol=1e-12)


def test_reset_state_zeroes_only_the_chosen_tracks():
    h = torch.ones(2, 3, 4)
    out = reset_state((h, h), torch.tensor([False, True, False]))
    assert out[0][:, 1].abs().sum() == 0 and out[1][:, [0, 2]].eq(1).all()
