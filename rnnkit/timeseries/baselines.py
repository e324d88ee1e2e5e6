r"""Classical baselines, forecasting at the same origins as the recurrent models.

Every function takes a 1-D series ``y`` (the target, in whatever units the caller evaluates: scaled or
original), an array of forecast origins (row ``t``: the forecast of rows ``t .. t + H - 1`` made from rows
``< t``, as in :func:`rnnkit.timeseries.data.window_origins`) and the horizon H, and returns an (n_origins, H)
array. No baseline reads a row at or after its origin.

* :func:`naive`: ŷ_{t+k} = y_{t-1} for every k.
* :func:`seasonal_naive` with period m: ŷ_{t+k} = y_{t-m+(k mod m)}, the last observed season repeated.
* :func:`ets` and :func:`arima`: statsmodels state-space models (additive Holt-Winters exponential smoothing;
  SARIMA). **Protocol**: the parameters are estimated once, on the training rows (at most the last
  ``fit_rows`` of them, which keeps hourly data affordable); at each origin the fitted parameters are applied,
  without re-estimation, to the ``history`` rows before the origin (Kalman filter), and the model forecasts H
  steps. Origins therefore see exactly the past the RNN sees, and nothing after.

statsmodels is an optional dependency (``pip install 'rnnkit[timeseries]'``); it is imported on first use.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np

__all__ = ["arima", "ets", "naive", "seasonal_naive"]

logger = logging.getLogger(__name__)


def _check(y: np.ndarray, origins: np.ndarray, horizon: int, needed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64)
    origins = np.asarray(origins, dtype=np.int64)
    if y.ndim != 1:
        raise ValueError(f"y: expected a 1-D series, got shape {y.shape}")
    if not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"horizon: expected an integer >= 1, got {horizon!r}")
    if len(origins) and origins.min() < needed:
        raise ValueError(f"origins: expected origins >= {needed} (rows of history needed), got {origins.min()}")
    return y, origins


def naive(y: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """The last observed value, repeated: (n_origins, H)."""
    y, origins = _check(y, origins, horizon)
    return np.repeat(y[origins - 1][:, None], horizon, axis=1)


def seasonal_naive(y: np.ndarray, origins: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """The last observed season repeated: ŷ_{t+k} = y_{t - m + (k mod m)}; (n_origins, H)."""
    if not isinstance(period, (int, np.integer)) or period < 1:
        raise ValueError(f"period: expected an integer >= 1, got {period!r}")
    y, origins = _check(y, origins, horizon, needed=period)
    steps = np.arange(horizon) % period - period  # (H,) offsets into the last season, all < 0
    return y[origins[:, None] + steps]


def _statsmodels() -> Any:
    try:
        import statsmodels.tsa.statespace.exponential_smoothing as es
        import statsmodels.tsa.statespace.sarimax as sarimax
    except ImportError as error:
        raise ImportError(f"{error}; the ETS and ARIMA baselines need statsmodels: "
                          "pip install 'rnnkit[timeseries]'") from None
    return es, sarimax


def _apply_at_origins(results: Any, y: np.ndarray, origins: np.ndarray, horizon: int, history: int) -> np.ndarray:
    out = np.empty((len(origins), horizon))
    for row, origin in enumerate(origins):
        past = y[max(0, origin - history):origin]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[row] = results.apply(past).forecast(horizon)
    return out


def _fit(model: Any) -> Any:
    with warnings.catch_warnings():  # convergence notices: the fit is still usable and is logged below
        warnings.simplefilter("ignore")
        results = model.fit(disp=False)
    converged = bool(getattr(results, "mle_retvals", {}).get("converged", True))
    if not converged:
        logger.warning("%s: the likelihood optimiser did not report convergence", type(model).__name__)
    return results


def ets(y: np.ndarray, origins: np.ndarray, horizon: int, *, train: slice, period: int | None,
        trend: bool = False, damped_trend: bool = False, fit_rows: int = 2000, history: int = 500) -> np.ndarray:
    """Additive exponential smoothing (level, optional (damped) trend, optional season of ``period``).

    Fitted on ``y[train]`` (its last ``fit_rows`` rows), then applied at each origin to the ``history`` rows
    before it; initial states are concentrated out (least squares) each time. Returns (n_origins, H).
    """
    y, origins = _check(y, origins, horizon)
    es, _ = _statsmodels()
    fit_part = y[train][-fit_rows:]
    seasonal = period if period and period > 1 else None
    model = es.ExponentialSmoothing(fit_part, trend=trend, damped_trend=damped_trend and trend, seasonal=seasonal,
                                    initialization_method="concentrated")
    return _apply_at_origins(_fit(model), y, origins, horizon, history)


def arima(y: np.ndarray, origins: np.ndarray, horizon: int, *, train: slice,
          order: tuple[int, int, int] = (1, 0, 1), seasonal_order: tuple[int, int, int, int] = (0, 0, 0, 0),
          trend: str | None = None, fit_rows: int = 2000, history: int = 500) -> np.ndarray:
    """SARIMA(order)(seasonal_order) by maximum likelihood on ``y[train]`` (its last ``fit_rows`` rows),
    applied at each origin to the ``history`` rows before it. ``trend``: statsmodels' "c", "t", "ct" or None.
    Returns (n_origins, H)."""
    y, origins = _check(y, origins, horizon)
    _, sarimax = _statsmodels()
    model = sarimax.SARIMAX(y[train][-fit_rows:], order=tuple(order), seasonal_order=tuple(seasonal_order),
                            trend=trend)
    return _apply_at_origins(_fit(model), y, origins, horizon, history)
