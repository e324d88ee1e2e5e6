r"""Forecast and detection metrics, in numpy, on arrays of any matching shape.

With y the actual values, ŷ the forecasts, n the number of values:

    MAE   = mean |y - ŷ|                    RMSE = sqrt(mean (y - ŷ)²)        MSE = mean (y - ŷ)²
    sMAPE = 100 · mean 2|y - ŷ| / (|y| + |ŷ|)      (a term with y = ŷ = 0 counts 0; range [0, 200])
    MASE  = MAE / mean_t |x_t - x_{t-m}|   over the training series x (Hyndman & Koehler 2006, the in-sample
            seasonal-naive MAE with period m; m = 1: the naive one-step MAE)
    coverage = fraction of y inside [lower, upper]

Detection, over boolean per-step flags and labels: precision = TP / (TP + FP), recall = TP / (TP + FN),
F1 = 2PR / (P + R); each is 0 when its denominator is 0.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["DetectionScores", "coverage", "detection_scores", "mae", "mase", "mse", "pinball", "rmse", "smape"]


def _pair(actual: np.ndarray, forecast: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    actual, forecast = np.asarray(actual, dtype=np.float64), np.asarray(forecast, dtype=np.float64)
    if actual.shape != forecast.shape:
        raise ValueError(f"forecast: expected the shape of actual {actual.shape}, got {forecast.shape}")
    if actual.size == 0:
        raise ValueError("actual: expected at least one value, got an empty array")
    return actual, forecast


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    actual, forecast = _pair(actual, forecast)
    return float(np.mean(np.abs(actual - forecast)))


def mse(actual: np.ndarray, forecast: np.ndarray) -> float:
    actual, forecast = _pair(actual, forecast)
    return float(np.mean((actual - forecast) ** 2))


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.sqrt(mse(actual, forecast)))


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    actual, forecast = _pair(actual, forecast)
    denominator = np.abs(actual) + np.abs(forecast)
    terms = np.divide(2 * np.abs(actual - forecast), denominator, out=np.zeros_like(denominator),
                      where=denominator > 0)
    return float(100 * np.mean(terms))


def mase(actual: np.ndarray, forecast: np.ndarray, train: np.ndarray, period: int = 1) -> float:
    """MAE scaled by the in-sample seasonal-naive MAE of ``train`` (1-D) with ``period`` m."""
    train = np.asarray(train, dtype=np.float64).ravel()
    if not isinstance(period, int) or period < 1:
        raise ValueError(f"period: expected an integer >= 1, got {period!r}")
    if len(train) <= period:
        raise ValueError(f"train: expected more than period={period} values, got {len(train)}")
    scale = float(np.mean(np.abs(train[period:] - train[:-period])))
    if scale == 0:
        raise ValueError("train: the seasonal-naive in-sample MAE is 0 (a perfectly periodic training series); "
                         "MASE is undefined")
    return mae(actual, forecast) / scale


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Fraction of ``actual`` values with lower <= y <= upper."""
    actual, lower = _pair(actual, lower)
    _, upper = _pair(actual, upper)
    return float(np.mean((actual >= lower) & (actual <= upper)))


def pinball(actual: np.ndarray, quantile_forecast: np.ndarray, quantile: float) -> float:
    """Mean pinball (quantile) loss: max(q (y - ŷ), (q - 1)(y - ŷ))."""
    if not 0 < quantile < 1:
        raise ValueError(f"quantile: expected a value in (0, 1), got {quantile!r}")
    actual, forecast = _pair(actual, quantile_forecast)
    error = actual - forecast
    return float(np.mean(np.maximum(quantile * error, (quantile - 1) * error)))


class DetectionScores(NamedTuple):
    precision: float
    recall: float
    f1: float
    true_positives: int
    false_positives: int
    false_negatives: int


def detection_scores(flags: np.ndarray, labels: np.ndarray) -> DetectionScores:
    """Point-wise precision, recall and F1 of boolean ``flags`` against boolean ``labels`` (same shape)."""
    flags, labels = np.asarray(flags), np.asarray(labels)
    if flags.shape != labels.shape:
        raise ValueError(f"flags: expected the shape of labels {labels.shape}, got {flags.shape}")
    flags, labels = flags.astype(bool), labels.astype(bool)
    tp = int(np.sum(flags & labels))
    fp = int(np.sum(flags & ~labels))
    fn = int(np.sum(~flags & labels))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return DetectionScores(precision, recall, f1, tp, fp, fn)
