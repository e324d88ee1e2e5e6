"""Training tasks ``forecast`` and ``anomaly_autoencoder`` for ``rnnkit train`` (see configs/timeseries/*.yaml).

``forecast``: windows of one data set (a shipped one by name, or a CSV path), split by time, z-scored with
training statistics, feed a :class:`~rnnkit.timeseries.models.Forecaster`; the loss is the model's (MSE,
Gaussian NLL or pinball), and validation also reports ``val_mse`` and ``val_mae`` of the point forecast on the
scaled target, so models with different losses can be compared (``validation.monitor: val_mse``).

``anomaly_autoencoder``: windows of the training rows feed an :class:`~rnnkit.timeseries.models.LSTMAutoencoder`
(reconstruction MSE); validation reconstructs the validation rows.

Both write a bundle (``rnnkit train ... --out DIR`` -> ``DIR/bundle``) whose bundle.json ``timeseries`` entry
holds what forecasting and detection need besides the weights: the data set, target and column names, the
scaler's mean and std per column, window, horizon, frequency, seasonal period and split.

    rnnkit train configs/timeseries/etth1_h24.yaml --out runs/etth1_h24
    rnnkit forecast runs/etth1_h24/bundle --input series.csv --horizon 24
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.config import check
from rnnkit.timeseries import metrics
from rnnkit.timeseries.data import (
    DATASETS,
    Frame,
    Scaler,
    Splits,
    WindowBatch,
    WindowSet,
    calendar_features,
    ett_splits,
    fit_scaler,
    infer_freq,
    read_frame,
    split_by_time,
    window_origins,
)
from rnnkit.timeseries.inference import predict_at_origins
from rnnkit.timeseries.models import (
    AutoencoderConfig,
    Forecaster,
    ForecasterConfig,
    LSTMAutoencoder,
    forecast_loss,
    point_forecast,
)
from rnnkit.training.registry import register_task
from rnnkit.training.task import StepOutput

__all__ = ["AutoencoderOptions", "AutoencoderTask", "ForecastOptions", "ForecastTask", "Prepared", "prepare"]


@dataclass(frozen=True)
class DataOptions:
    """What to read and how to split it (shared by both tasks)."""

    dataset: str = "ETTh1"  # a shipped data set (rnnkit.timeseries.data.DATASETS) or a path to a CSV file
    target: str | None = None  # the column to forecast; None: the data set's usual target (first column of a CSV)
    past_covariates: tuple[str, ...] = ()  # further columns read as past-only inputs; ("all",): every other one
    calendar: bool = False  # known-future calendar covariates from the timestamps
    split: Literal["fraction", "ett"] = "fraction"  # "ett": Informer's 12/4/4 months (rows 8640/2880/2880)
    val_fraction: float = 0.2  # split "fraction": the last val_fraction + test_fraction of the rows, in order
    test_fraction: float = 0.2

    def __post_init__(self) -> None:
        check(0 <= self.val_fraction < 1, "val_fraction", "a fraction in [0, 1)", self.val_fraction)
        check(0 <= self.test_fraction < 1, "test_fraction", "a fraction in [0, 1)", self.test_fraction)
        check(self.val_fraction + self.test_fraction < 1, "test_fraction",
              f"val_fraction + test_fraction < 1 (val_fraction is {self.val_fraction})", self.test_fraction)


class Prepared(NamedTuple):
    """A data set ready for windowing: everything scaled with training statistics only."""

    frame: Frame
    columns: tuple[str, ...]  # past features, the target first
    past: np.ndarray  # (N, F) scaled
    known: np.ndarray  # (N, K) calendar covariates (K may be 0)
    splits: Splits
    scaler: Scaler  # fitted on past's columns over splits.train only
    freq: str | None
    period: int  # seasonal period (MASE, seasonal naive, ETS, ARIMA)


def _split_rows(splits: Splits, split: str) -> slice:
    if split not in Splits._fields:
        raise ValueError(f"split: expected one of {Splits._fields}, got {split!r}")
    return getattr(splits, split)


def prepare(options: DataOptions, frame: Frame | None = None) -> Prepared:
    """Read, select columns, split by time and scale (statistics from the training rows only)."""
    frame = read_frame(options.dataset) if frame is None else frame
    target = options.target or (DATASETS[options.dataset].target if options.dataset in DATASETS else frame.columns[0])
    if target not in frame.columns:
        raise ValueError(f"target: expected one of {list(frame.columns)}, got {target!r}")
    others = [c for c in frame.columns if c != target]
    covariates = others if tuple(options.past_covariates) == ("all",) else list(options.past_covariates)
    for name in covariates:
        if name not in others:
            raise ValueError(f"past_covariates: expected names among {others} (or ['all']), got {name!r}")
    columns = (target, *covariates)
    values = np.stack([frame.column(c) for c in columns], axis=1)
    if np.isnan(values).any():
        raise ValueError(f"dataset {options.dataset!r}: columns {list(columns)} hold missing values; fill them first")
    if options.split == "ett":
        splits = ett_splits()
        if len(values) < splits.test.stop:
            raise ValueError(f"split: 'ett' needs at least {splits.test.stop} rows, got {len(values)}")
    else:
        splits = split_by_time(len(values), val=options.val_fraction, test=options.test_fraction)
    scaler = fit_scaler(values, splits.train)
    freq = infer_freq(frame.timestamps) if frame.timestamps is not None else None
    if options.calendar and frame.timestamps is None:
        raise ValueError(f"calendar: expected a data set with timestamps, {options.dataset!r} has none")
    known = (calendar_features(frame.timestamps, freq) if options.calendar
             else np.zeros((len(values), 0), np.float32))
    period = DATASETS[options.dataset].period if options.dataset in DATASETS else \
        {"h": 24, "D": 7, "W": 52, "M": 12, "Q": 4, "Y": 1, None: 1}[freq]
    return Prepared(frame, columns, scaler.transform(values), known, splits, scaler, freq, period)


def series_extra(options: DataOptions, prepared: Prepared, **more: Any) -> dict[str, Any]:
    """The bundle's ``timeseries`` entry (JSON)."""
    return {"timeseries": {
        "dataset": options.dataset, "columns": list(prepared.columns), "calendar": options.calendar,
        "freq": prepared.freq, "period": prepared.period,
        "scaler": {"mean": list(prepared.scaler.mean), "std": list(prepared.scaler.std)},
        "split": options.split, "val_fraction": options.val_fraction, "test_fraction": options.test_fraction,
        "splits": {name: [part.start, part.stop] for name, part in prepared.splits._asdict().items()},
        **more,
    }}


def _batches(windows: WindowSet, batch_size: int, order: np.ndarray) -> Iterator[WindowBatch]:
    for start in range(0, len(order), batch_size):
        yield windows.batch(order[start:start + batch_size])


# ------------------------------------------------------------------------------------------------ forecast

def _default_forecaster() -> ForecasterConfig:
    return ForecasterConfig(hidden_size=64)


@dataclass(frozen=True)
class ForecastOptions(DataOptions):
    window: int = 96  # W: input rows per sample
    horizon: int = 24  # H: rows forecast
    batch_size: int = 64
    train_stride: int = 1  # every train_stride-th training origin
    val_stride: int = 1  # every val_stride-th validation origin
    model: ForecasterConfig = field(default_factory=_default_forecaster)  # input/known sizes, horizon: set here

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.window >= 1, "window", "an integer >= 1", self.window)
        check(self.horizon >= 1, "horizon", "an integer >= 1", self.horizon)
        check(self.batch_size >= 1, "batch_size", "an integer >= 1", self.batch_size)
        check(self.train_stride >= 1, "train_stride", "an integer >= 1", self.train_stride)
        check(self.val_stride >= 1, "val_stride", "an integer >= 1", self.val_stride)


class ForecastTask:
    """The Task for ``forecast`` (see the module docstring)."""

    def __init__(self, options: ForecastOptions | None = None, seed: int = 0, *, frame: Frame | None = None):
        self.options, self.seed = options or ForecastOptions(), seed
        o = self.options
        self.data = prepare(o, frame)
        self.model_config = dataclasses.replace(o.model, input_size=len(self.data.columns),
                                                known_size=self.data.known.shape[1], horizon=o.horizon)
        splits = self.data.splits
        self.train_windows = self._windows(window_origins(splits.train, o.window, o.horizon, stride=o.train_stride))
        self.val_windows = self._windows(window_origins(splits.val, o.window, o.horizon, history_start=0,
                                                        stride=o.val_stride))
        if len(self.train_windows) == 0:
            raise ValueError(f"window, horizon: no training sample fits {splits.train.stop - splits.train.start} "
                             f"training rows with window {o.window} + horizon {o.horizon}; shorten them")

    def _windows(self, origins: np.ndarray) -> WindowSet:
        return WindowSet([self.data.past], [self.data.known], [origins], self.options.window, self.options.horizon)

    def build_model(self) -> nn.Module:
        return Forecaster(self.model_config)

    def train_batches(self, epoch: int) -> Iterator[WindowBatch]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        order = torch.randperm(len(self.train_windows), generator=generator).numpy()
        return _batches(self.train_windows, self.options.batch_size, order)

    def val_batches(self) -> Iterator[WindowBatch]:
        return _batches(self.val_windows, 256, np.arange(len(self.val_windows)))

    def step(self, model: nn.Module, batch: WindowBatch, state: Any) -> StepOutput:
        params = model(batch.inputs, batch.future, teacher=batch.targets)
        loss = forecast_loss(params, batch.targets, self.model_config)
        with torch.no_grad():
            error = point_forecast(params, self.model_config) - batch.targets
            metrics = {"mse": float(error.pow(2).mean()), "mae": float(error.abs().mean())}
        return StepOutput(loss=loss, count=batch.targets.numel(), metrics=metrics)

    def bundle_parts(self) -> dict[str, Any]:
        """What `rnnkit train` stores in the bundle besides the weights (see rnnkit.training.run)."""
        return {"extra": series_extra(self.options, self.data, window=self.options.window,
                                      horizon=self.options.horizon)}

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str = "test") -> dict[str, float]:
        """MAE, RMSE, MASE and sMAPE (rnnkit.timeseries.metrics) of ``model``'s point forecasts at every origin
        of "train", "val" or "test", in the target's units, and the coverage of its interval for a
        probabilistic model. Every horizon row is in the split; inputs may come from earlier rows. MASE scales
        by the seasonal-naive MAE of the training rows (period ``data.period``)."""
        rows = _split_rows(self.data.splits, split)
        window, horizon = self.options.window, self.options.horizon
        origins = window_origins(rows, window, horizon, history_start=0)
        if len(origins) == 0:
            raise ValueError(f"split: no forecast fits the {rows.stop - rows.start} {split} rows after {window} "
                             f"input rows with horizon {horizon}")
        was_training = model.training
        result = predict_at_origins(model, self.data.past, self.data.known, origins, window)
        model.train(was_training)
        scaler, target = self.data.scaler, self.data.past[:, 0]
        actual = scaler.inverse(target[origins[:, None] + np.arange(horizon)])  # (n, H)
        point = scaler.inverse(result.point)
        out = {"mae": metrics.mae(actual, point), "rmse": metrics.rmse(actual, point),
               "mase": metrics.mase(actual, point, scaler.inverse(target[self.data.splits.train]), self.data.period),
               "smape": metrics.smape(actual, point)}
        if result.lower is not None:
            out["coverage"] = metrics.coverage(actual, scaler.inverse(result.lower), scaler.inverse(result.upper))
        return {**out, "origins": float(len(origins))}


def make_forecast(options: ForecastOptions, seed: int) -> ForecastTask:
    return ForecastTask(options, seed)


# --------------------------------------------------------------------------------------------- autoencoder

@dataclass(frozen=True)
class AutoencoderOptions(DataOptions):
    batch_size: int = 64
    train_stride: int = 1
    threshold_quantile: float = 0.995  # detect(): flag scores above this quantile of the validation scores
    model: AutoencoderConfig = field(default_factory=AutoencoderConfig)  # window: the reconstructed length

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.batch_size >= 1, "batch_size", "an integer >= 1", self.batch_size)
        check(self.train_stride >= 1, "train_stride", "an integer >= 1", self.train_stride)
        check(0 < self.threshold_quantile < 1, "threshold_quantile", "a value in (0, 1)", self.threshold_quantile)


class AutoencoderTask:
    """The Task for ``autoencoder``: reconstruct windows of the (scaled) past features."""

    def __init__(self, options: AutoencoderOptions | None = None, seed: int = 0, *, frame: Frame | None = None):
        self.options, self.seed = options or AutoencoderOptions(), seed
        o = self.options
        self.data = prepare(o, frame)
        self.model_config = dataclasses.replace(o.model, input_size=len(self.data.columns))
        window = o.model.window
        splits = self.data.splits
        # windows of T rows starting at these rows; training windows stay inside the training rows
        self.train_starts = np.arange(splits.train.start, splits.train.stop - window + 1, o.train_stride)
        self.val_starts = np.arange(splits.val.start, splits.val.stop - window + 1)
        if len(self.train_starts) == 0:
            raise ValueError(f"model.window: expected at most {splits.train.stop - splits.train.start} (the training "
                             f"rows), got {window}")

    def _batch(self, starts: np.ndarray) -> torch.Tensor:
        rows = starts[:, None] + np.arange(self.model_config.window)  # (B, T)
        return torch.from_numpy(self.data.past[rows].astype(np.float32))  # (B, T, F)

    def build_model(self) -> nn.Module:
        return LSTMAutoencoder(self.model_config)

    def train_batches(self, epoch: int) -> Iterator[torch.Tensor]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        order = self.train_starts[torch.randperm(len(self.train_starts), generator=generator).numpy()]
        return (self._batch(order[i:i + self.options.batch_size])
                for i in range(0, len(order), self.options.batch_size))

    def val_batches(self) -> Iterator[torch.Tensor]:
        return (self._batch(self.val_starts[i:i + 256]) for i in range(0, len(self.val_starts), 256))

    def step(self, model: nn.Module, batch: torch.Tensor, state: Any) -> StepOutput:
        loss = F.mse_loss(model(batch), batch)
        return StepOutput(loss=loss, count=batch.numel())

    def bundle_parts(self) -> dict[str, Any]:
        return {"extra": series_extra(self.options, self.data, window=self.model_config.window,
                                      threshold_quantile=self.options.threshold_quantile)}

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str = "test") -> dict[str, float]:
        """Reconstruction MSE (scaled units, the training loss) of ``model`` over every window of T rows inside
        "train", "val" or "test" (stride 1)."""
        rows = _split_rows(self.data.splits, split)
        starts = np.arange(rows.start, rows.stop - self.model_config.window + 1)
        if len(starts) == 0:
            raise ValueError(f"split: no window of {self.model_config.window} rows fits the "
                             f"{rows.stop - rows.start} {split} rows")
        was_training = model.training
        model.eval()
        total = 0.0
        for i in range(0, len(starts), 256):
            batch = self._batch(starts[i:i + 256])
            total += float((model(batch) - batch).pow(2).mean()) * len(batch)
        model.train(was_training)
        return {"mse": total / len(starts), "windows": float(len(starts))}


def make_autoencoder(options: AutoencoderOptions, seed: int) -> AutoencoderTask:
    return AutoencoderTask(options, seed)


register_task("forecast", make_forecast, options=ForecastOptions)
register_task("anomaly_autoencoder", make_autoencoder, options=AutoencoderOptions)
