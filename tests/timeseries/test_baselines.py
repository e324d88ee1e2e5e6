"""rnnkit.timeseries.baselines against closed forms on tiny series."""

import numpy as np
import pytest

from rnnkit.timeseries import baselines
from rnnkit.timeseries.data import split_by_time, window_origins


def periodic(length=120, period=12):
    return np.tile(np.arange(period, dtype=float) ** 1.5, length // period)


def test_seasonal_naive_is_exact_on_a_periodic_series():
    y = periodic()
    for horizon in (1, 5, 12, 30):  # beyond one season too
        origins = np.arange(12, len(y) - horizon + 1)
        forecast = baselines.seasonal_naive(y, origins, horizon, 12)
        assert np.array_equal(forecast, y[origins[:, None] + np.arange(horizon)])


def test_naive_repeats_the_last_value():
    y = np.array([3.0, 1.0, 4.0, 1.0, 5.0])
    np.testing.assert_array_equal(baselines.naive(y, np.array([2, 4]), 3), [[1, 1, 1], [1, 1, 1]])
    np.testing.assert_array_equal(baselines.naive(y, np.array([3]), 2), [[4, 4]])


def test_baselines_never_read_the_origin_or_later():
    y = periodic()
    origins = np.array([40, 60])
    later = y.copy()
    later[40:] = -1e9  # everything from the first origin on
    for method in (lambda s: baselines.naive(s, origins[:1], 6), lambda s: baselines.seasonal_naive(s, origins[:1], 6, 12)):
        assert np.array_equal(method(y), method(later))


def test_seasonal_naive_errors_name_the_argument():
    with pytest.raises(ValueError, match="period: expected an integer >= 1"):
        baselines.seasonal_naive(periodic(), np.array([20]), 3, 0)
    with pytest.raises(ValueError, match="origins: expected origins >= 12"):
        baselines.seasonal_naive(periodic(), np.array([5]), 3, 12)


def test_ets_and_arima_on_closed_forms():
    pytest.importorskip("statsmodels")
    y = periodic(48, 4) + 10.0
    splits = split_by_time(len(y), val=0, test=12)
    origins = window_origins(splits.test, 4, 3, history_start=0)
    truth = y[origins[:, None] + np.arange(3)]
    # additive Holt-Winters with a 4-step season reproduces a noiseless periodic series
    ets = baselines.ets(y, origins, 3, train=splits.train, period=4)
    np.testing.assert_allclose(ets, truth, atol=1e-3 * np.ptp(y))
    # SARIMA(0,0,0)(0,1,0,4) is the seasonal naive model: same forecasts
    arima = baselines.arima(y, origins, 3, train=splits.train, order=(0, 0, 0), seasonal_order=(0, 1, 0, 4))
    np.testing.assert_allclose(arima, baselines.seasonal_naive(y, origins, 3, 4), atol=1e-6)
