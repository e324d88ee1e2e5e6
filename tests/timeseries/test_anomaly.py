"""rnnkit.timeseries.anomaly: seeded injection, scores against brute force, threshold choice."""

import numpy as np
import pytest
import torch

from rnnkit.timeseries.anomaly import (
    choose_threshold,
    flag,
    inject_anomalies,
    reconstruction_scores,
    residual_scores,
    rolling_zscore,
)
from rnnkit.timeseries.models import AutoencoderConfig, Forecaster, ForecasterConfig, LSTMAutoencoder


def test_injection_is_seeded_and_labelled():
    values = np.sin(np.arange(2000) / 10)
    first = inject_anomalies(values, seed=3, rows=slice(500, 1500))
    again = inject_anomalies(values, seed=3, rows=slice(500, 1500))
    np.testing.assert_array_equal(first.values, again.values)
    assert len(first.events) == 9 and {e.kind for e in first.events} == {"spike", "level_shift", "variance"}
    for event in first.events:
        assert 500 <= event.start and event.start + event.length <= 1500
        rows = slice(event.start, event.start + event.length)
        assert first.labels[rows].all()
        if event.kind != "variance":  # spikes and shifts move every row of the event by exactly `size`
            np.testing.assert_allclose(first.values[rows] - values[rows], event.size)
    assert first.labels.sum() == sum(e.length for e in first.events)
    np.testing.assert_array_equal(first.values[~first.labels], values[~first.labels])
    scale = values[500:1500].std()
    spikes = [e for e in first.events if e.kind == "spike"]
    assert all(abs(abs(e.size) - 5 * scale) < 1e-9 for e in spikes)
    with pytest.raises(ValueError, match="counts: expected keys among"):
        inject_anomalies(values, seed=0, counts={"drift": 1})


def test_rolling_zscore_matches_brute_force():
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    scores = rolling_zscore(x, 10)
    assert np.isnan(scores[:10]).all()
    for t in range(10, 60):
        past = x[t - 10:t]
        assert scores[t] == pytest.approx(abs(x[t] - past.mean()) / past.std())


def test_reconstruction_scores_average_the_covering_windows():
    torch.manual_seed(0)
    model = LSTMAutoencoder(AutoencoderConfig(window=4, hidden_size=3)).eval()
    series = np.random.default_rng(1).normal(size=(10, 1)).astype(np.float32)
    scores = reconstruction_scores(model, series)
    totals, counts = np.zeros(10), np.zeros(10)
    with torch.no_grad():
        for start in range(7):
            x = torch.from_numpy(series[start:start + 4])[None]
            error = (model(x) - x).pow(2).mean(-1)[0].numpy()
            totals[start:start + 4] += error
            counts[start:start + 4] += 1
    np.testing.assert_allclose(scores, totals / counts, rtol=1e-5)


def test_residual_scores_are_one_step_errors():
    torch.manual_seed(0)
    model = Forecaster(ForecasterConfig(horizon=3, hidden_size=4)).eval()
    series = np.random.default_rng(2).normal(size=(20, 1)).astype(np.float32)
    scores = residual_scores(model, series, None, 5)
    assert np.isnan(scores[:5]).all() and np.isfinite(scores[5:]).all()
    with torch.no_grad():
        for t in (5, 11, 19):
            first = model(torch.from_numpy(series[t - 5:t])[None])[0, 0, 0].item()
            assert scores[t] == pytest.approx(abs(series[t, 0] - first), rel=1e-5)


def test_threshold_from_labels_separates_perfectly_separable_scores():
    scores = np.array([0.1, 0.2, 5.0, 0.3, 6.0, np.nan])
    labels = np.array([0, 0, 1, 0, 1, 0], bool)
    threshold = choose_threshold(scores, labels)
    np.testing.assert_array_equal(flag(scores, threshold), labels)
    assert choose_threshold(np.arange(101.0), quantile=0.9) == pytest.approx(90.0)
    with pytest.raises(ValueError, match="scores: expected at least one finite score"):
        choose_threshold(np.full(3, np.nan))
