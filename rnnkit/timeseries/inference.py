r"""From a forecaster's output parameters to forecasts: the point, the prediction interval, and batched
forecasts at many origins of a scaled series.

A :class:`~rnnkit.timeseries.models.Forecaster` returns (B, H, P) distribution parameters per horizon step
(P = 1 point, 2 Gaussian mean and σ, or Q quantiles; see rnnkit.timeseries.models):

* :func:`point_forecast`: (B, H, P) -> (B, H), the mean, the quantile nearest 0.5, or the value;
* :func:`prediction_interval`: (B, H, P) -> :class:`Forecast` (point, lower, upper) at the config's
  ``coverage``: mean ± Φ⁻¹((1 + c)/2) σ, or the (1 − c)/2 and (1 + c)/2 quantiles (sorted first, so they
  never cross);
* :func:`predict_at_origins`: the model at each origin t of a scaled (N, F) series, reading rows
  [t − window, t), in batches, as numpy.

This module needs only torch and numpy: the models, the anomaly scores, the training task and
``rnnkit forecast`` all build on it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:  # annotations only: the models import this module
    from rnnkit.timeseries.models import Forecaster, ForecasterConfig

__all__ = ["Forecast", "point_forecast", "predict_at_origins", "prediction_interval"]


class Forecast(NamedTuple):
    point: Tensor  # (B, H): the mean, the median quantile, or the point forecast
    lower: Tensor | None  # (B, H): the interval's lower end; None for output "point"
    upper: Tensor | None  # (B, H)


def point_forecast(params: Tensor, config: ForecasterConfig) -> Tensor:
    """(B, H, P) -> (B, H): the mean, the quantile nearest 0.5, or the value."""
    if config.output == "quantile":
        middle = min(range(len(config.quantiles)), key=lambda i: abs(config.quantiles[i] - 0.5))
        return params.sort(dim=-1).values[..., middle]
    return params[..., 0]


def prediction_interval(params: Tensor, config: ForecasterConfig) -> Forecast:
    """(B, H, P) -> Forecast(point, lower, upper), each (B, H); lower and upper None for output "point"."""
    point = point_forecast(params, config)
    if config.output == "point":
        return Forecast(point, None, None)
    if config.output == "gaussian":
        z = math.sqrt(2.0) * torch.special.erfinv(torch.tensor((1 + config.coverage) / 2) * 2 - 1).item()
        return Forecast(point, point - z * params[..., 1], point + z * params[..., 1])
    ordered = params.sort(dim=-1).values  # monotone rearrangement: quantiles never cross
    levels = list(config.quantiles)
    low = min(range(len(levels)), key=lambda i: abs(levels[i] - (1 - config.coverage) / 2))
    high = min(range(len(levels)), key=lambda i: abs(levels[i] - (1 + config.coverage) / 2))
    return Forecast(point, ordered[..., low], ordered[..., high])


def predict_at_origins(model: Forecaster, past: np.ndarray, known: np.ndarray | None, origins: np.ndarray,
                       window: int, *, raw: bool = False, batch_size: int = 512) -> Any:
    """Forecasts of ``model`` at each origin t from rows [t − window, t) of the scaled ``past`` (N, F) and
    ``known`` (N, K). Returns the raw parameters (n, H, P) as numpy when ``raw``, else a
    :class:`Forecast` of (n, H) numpy arrays (scaled units)."""
    config = model.config
    past = np.asarray(past, dtype=np.float32)
    known = np.zeros((len(past), 0), np.float32) if known is None else np.asarray(known, dtype=np.float32)
    origins = np.asarray(origins, dtype=np.int64)
    # inputs need rows [t - window, t); known covariates of the horizon need rows [t, t + H) too
    last = len(past) - (config.horizon if config.known_size else 0)
    if len(origins) and (origins.min() < window or origins.max() > last):
        raise ValueError(f"origins: expected values in [{window}, {last}], got [{origins.min()}, {origins.max()}]")
    model.eval()
    chunks = []
    with torch.no_grad():
        for i in range(0, len(origins), batch_size):
            part = origins[i:i + batch_size]
            rows = part[:, None] + np.arange(-window, 0)  # (b, W)
            inputs = np.concatenate([past[rows], known[rows]], axis=-1)
            ahead = part[:, None] + np.arange(config.horizon)
            future = known[ahead] if config.known_size else np.zeros((len(part), config.horizon, 0), np.float32)
            chunks.append(model(torch.from_numpy(inputs), torch.from_numpy(future)))
    params = torch.cat(chunks) if chunks else torch.zeros(0, config.horizon, config.outputs_per_step)
    if raw:
        return params.numpy()
    result = prediction_interval(params, config)
    return type(result)(*(None if part is None else part.numpy() for part in result))
