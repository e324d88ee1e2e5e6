r"""Anomaly detection: per-step scores, a threshold chosen on validation data, and seeded anomaly injection.

Detectors (each returns one score per row, NaN where it cannot score yet; higher = more anomalous):

* :func:`residual_scores`, forecast residual: a trained :class:`~rnnkit.timeseries.models.Forecaster` predicts
  row t from the W rows before it (the first step of its horizon); the score is |y_t − ŷ_t|, divided by the
  predicted σ for a Gaussian model (a z-score).
* :func:`reconstruction_scores`, reconstruction error: an :class:`~rnnkit.timeseries.models.LSTMAutoencoder`
  reconstructs every window of T rows (stride 1); the score of row t is its squared error averaged over the
  features and over the (up to T) windows that contain it.
* :func:`rolling_zscore`, the baseline: |x_t − mean(x_{t−w..t−1})| / std(x_{t−w..t−1}).

:func:`choose_threshold` picks the threshold on validation scores: the one with the best F1 against
validation labels when there are labels (e.g. anomalies injected into the validation rows), else a high
quantile of the validation scores. :func:`flag` applies it.

Injection (:func:`inject_anomalies`), seeded by numpy's PCG64 and documented event by event, in units of the
standard deviation s of the series part it is applied to:

* ``spike``: one row moves by ±``spike`` · s (default 5 s);
* ``level_shift``: a run of rows (length drawn from ``length``) moves by ±``shift`` · s (default 3 s);
* ``variance``: a run of rows gets added Gaussian noise of standard deviation ``noise`` · s (default 2 s).

Every row of an event is labelled anomalous. Events never overlap and keep a gap of ``length[0]`` rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from rnnkit.timeseries.inference import point_forecast, predict_at_origins
from rnnkit.timeseries.metrics import detection_scores

__all__ = ["ANOMALY_KINDS", "AnomalyEvent", "Injection", "choose_threshold", "flag", "inject_anomalies",
           "reconstruction_scores", "residual_scores", "rolling_zscore"]

ANOMALY_KINDS = ("spike", "level_shift", "variance")


class AnomalyEvent(NamedTuple):
    kind: str  # "spike" | "level_shift" | "variance"
    start: int  # first row (index into the whole series)
    length: int
    size: float  # the shift (spike, level_shift) or the added noise's std (variance), in the series' units


class Injection(NamedTuple):
    values: np.ndarray  # (N,) the series with the anomalies
    labels: np.ndarray  # (N,) bool: rows inside an event
    events: list[AnomalyEvent]


def inject_anomalies(values: np.ndarray, *, seed: int, counts: dict[str, int] | None = None,
                     rows: slice | None = None, spike: float = 5.0, shift: float = 3.0, noise: float = 2.0,
                     length: tuple[int, int] = (12, 48)) -> Injection:
    """Add seeded spikes, level shifts and variance changes to a copy of the 1-D ``values``.

    Args:
        values: (N,) series.
        seed: the generator's seed; the same seed gives the same events.
        counts: events per kind, default {"spike": 5, "level_shift": 2, "variance": 2}.
        rows: where events may fall (default: everywhere); s is the std of values[rows].
        spike, shift, noise: sizes in units of s (see the module docstring).
        length: (min, max) rows of a level shift or variance change, both inclusive.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"values: expected a 1-D series, got shape {values.shape}")
    counts = {"spike": 5, "level_shift": 2, "variance": 2} if counts is None else dict(counts)
    for kind, count in counts.items():
        if kind not in ANOMALY_KINDS:
            raise ValueError(f"counts: expected keys among {ANOMALY_KINDS}, got {kind!r}")
        if not isinstance(count, int) or count < 0:
            raise ValueError(f"counts[{kind!r}]: expected an int >= 0, got {count!r}")
    if not (1 <= length[0] <= length[1]):
        raise ValueError(f"length: expected (min, max) with 1 <= min <= max, got {length!r}")
    rows = slice(0, len(values)) if rows is None else rows
    low, high = rows.start or 0, len(values) if rows.stop is None else rows.stop
    rng = np.random.Generator(np.random.PCG64(seed))
    scale = float(np.std(values[low:high])) or 1.0
    out, labels, events = values.copy(), np.zeros(len(values), bool), []
    taken = np.zeros(len(values), bool)
    gap = length[0]
    kinds = [kind for kind in ANOMALY_KINDS for _ in range(counts.get(kind, 0))]
    for kind in kinds:
        span = 1 if kind == "spike" else int(rng.integers(length[0], length[1] + 1))
        for _ in range(1000):  # rejection sampling of a free place
            start = int(rng.integers(low, high - span + 1))
            if not taken[max(low, start - gap):min(high, start + span + gap)].any():
                break
        else:
            raise ValueError(f"rows: no room for {len(kinds)} non-overlapping events in {high - low} rows; "
                             "inject fewer")
        sign = 1.0 if rng.random() < 0.5 else -1.0
        if kind == "spike":
            size = sign * spike * scale
            out[start] += size
        elif kind == "level_shift":
            size = sign * shift * scale
            out[start:start + span] += size
        else:
            size = noise * scale
            out[start:start + span] += rng.normal(0.0, size, span)
        labels[start:start + span] = True
        taken[start:start + span] = True
        events.append(AnomalyEvent(kind, start, span, float(size)))
    return Injection(out, labels, sorted(events, key=lambda event: event.start))


def rolling_zscore(values: np.ndarray, window: int) -> np.ndarray:
    """|x_t − mean| / std over the ``window`` rows before t; NaN for the first ``window`` rows. (N,) -> (N,)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"values: expected a 1-D series, got shape {values.shape}")
    if not isinstance(window, int) or window < 2:
        raise ValueError(f"window: expected an int >= 2, got {window!r}")
    scores = np.full(len(values), np.nan)
    if len(values) <= window:
        return scores
    past = np.lib.stride_tricks.sliding_window_view(values[:-1], window)  # (N - window, window)
    mean, std = past.mean(axis=1), past.std(axis=1)
    scores[window:] = np.abs(values[window:] - mean) / np.where(std > 0, std, 1e-12)
    return scores


def residual_scores(model: torch.nn.Module, past: np.ndarray, known: np.ndarray | None, window: int,
                    *, batch_size: int = 1024) -> np.ndarray:
    """One-step forecast residual per row t >= window: |y_t − ŷ_t| (÷ σ for a Gaussian model); NaN before
    (and, for a model with known covariates, on the last H − 1 rows, whose horizon has no covariates).

    ``past`` (N, F) and ``known`` (N, K) are scaled as the model was trained (target in past's column 0).
    """
    past = np.asarray(past, dtype=np.float32)
    scores = np.full(len(past), np.nan)
    # row t needs only the first horizon step; known covariates of the whole horizon must exist, though
    last = len(past) - (model.config.horizon if model.config.known_size else 1)
    origins = np.arange(window, last + 1)
    if len(origins) == 0:
        return scores
    with torch.no_grad():
        params = predict_at_origins(model, past, known, origins, window, raw=True, batch_size=batch_size)
    first = params[:, 0, :]  # (n, P): the first horizon step is row t
    residual = np.abs(past[origins, 0] - _first_point(first, model.config))
    if model.config.output == "gaussian":
        residual = residual / first[:, 1]
    scores[origins] = residual
    return scores


def _first_point(params: np.ndarray, config: object) -> np.ndarray:
    return point_forecast(torch.from_numpy(params[:, None, :]), config)[:, 0].numpy()


def reconstruction_scores(model: torch.nn.Module, past: np.ndarray, *, batch_size: int = 512) -> np.ndarray:
    """Per-row squared reconstruction error, averaged over features and over the windows covering the row.

    ``past`` (N, F) scaled as in training; windows of model.config.window rows, stride 1. Rows of a series
    shorter than one window get NaN.
    """
    past = np.asarray(past, dtype=np.float32)
    window = model.config.window
    total, covered = np.zeros(len(past)), np.zeros(len(past))
    starts = np.arange(0, len(past) - window + 1)
    model.eval()
    with torch.no_grad():
        for i in range(0, len(starts), batch_size):
            chunk = starts[i:i + batch_size]
            rows = chunk[:, None] + np.arange(window)  # (b, T)
            x = torch.from_numpy(past[rows])
            error = (model(x) - x).pow(2).mean(dim=-1).numpy()  # (b, T)
            np.add.at(total, rows, error)
            np.add.at(covered, rows, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(covered > 0, total / covered, np.nan)


def choose_threshold(scores: np.ndarray, labels: np.ndarray | None = None, *, quantile: float = 0.995,
                     candidates: int = 400) -> float:
    """A threshold from validation ``scores`` (NaN ignored).

    With ``labels`` (bool, same shape): the candidate (among ``candidates`` quantiles of the scores) with the
    highest F1, the highest threshold among ties. Without labels: the ``quantile`` of the scores.
    """
    scores = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(scores)
    if not finite.any():
        raise ValueError("scores: expected at least one finite score, got none")
    if labels is None:
        if not 0 < quantile < 1:
            raise ValueError(f"quantile: expected a value in (0, 1), got {quantile!r}")
        return float(np.quantile(scores[finite], quantile))
    labels = np.asarray(labels, dtype=bool)
    if labels.shape != scores.shape:
        raise ValueError(f"labels: expected the shape of scores {scores.shape}, got {labels.shape}")
    grid = np.unique(np.quantile(scores[finite], np.linspace(0.5, 1.0, candidates)))
    best, best_f1 = float(grid[-1]), -1.0
    for threshold in grid:
        f1 = detection_scores(flag(scores, threshold)[finite], labels[finite]).f1
        if f1 >= best_f1:
            best, best_f1 = float(threshold), f1
    return best


def flag(scores: np.ndarray, threshold: float) -> np.ndarray:
    """scores > threshold, NaN never flagged. (N,) bool."""
    scores = np.asarray(scores, dtype=np.float64)
    return np.nan_to_num(scores, nan=-np.inf) > threshold


def label_kinds(events: Sequence[AnomalyEvent], length: int) -> dict[str, np.ndarray]:
    """Per kind, the (length,) bool mask of its events' rows (for recall per kind)."""
    masks = {kind: np.zeros(length, bool) for kind in ANOMALY_KINDS}
    for event in events:
        masks[event.kind][event.start:event.start + event.length] = True
    return masks
