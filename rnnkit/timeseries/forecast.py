"""The Python API behind ``rnnkit forecast`` and ``rnnkit detect``.

    from rnnkit.timeseries.forecast import forecast, detect
    result = forecast("runs/etth1_h24/bundle", "series.csv", horizon=24, out="forecast")
    # result.table: rows of (timestamp, point, lower, upper) in the series' units;
    # forecast.csv and forecast.png (history, forecast, interval) in "forecast/"
    found = detect("runs/etth1_anomaly/bundle", "series.csv", out="detect")
    # found.scores, found.flags (one per row), found.threshold; detect.csv, detect.png

The series CSV needs the bundle's columns (its bundle.json ``timeseries.columns``: the target first) and,
for a model with calendar covariates, a time column. Rows out of time order are sorted by the time column
(with a logged note); a repeated timestamp is refused. Missing values are refused only in the rows a model
reads (``forecast``: the last ``window`` rows; ``detect``: every row). The bundle's scaler (training
statistics) scales it; forecasts come back in the original units.

``detect`` takes a forecaster bundle (forecast-residual scores) or an autoencoder bundle (reconstruction
scores). Its threshold, unless given, is chosen on the bundle's own validation rows (the data set named in
its bundle.json, re-read and scored): the ``threshold_quantile`` (default 0.995) of their scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from rnnkit.bundle import Bundle, load
from rnnkit.plotting import pyplot
from rnnkit.timeseries.anomaly import choose_threshold, flag, reconstruction_scores, residual_scores
from rnnkit.timeseries.data import (
    Frame,
    Scaler,
    calendar_features,
    future_timestamps,
    read_csv,
    read_frame,
    sort_by_time,
)
from rnnkit.timeseries.inference import predict_at_origins, prediction_interval
from rnnkit.timeseries.models import Forecaster, LSTMAutoencoder

# predict_at_origins lives in rnnkit.timeseries.inference; re-exported here
__all__ = ["DetectionResult", "ForecastResult", "detect", "forecast", "predict_at_origins"]


class ForecastResult(NamedTuple):
    timestamps: np.ndarray | None  # (H,) datetime64 of the forecast rows, None for a series without time
    point: np.ndarray  # (H,) in the target's units
    lower: np.ndarray | None  # (H,) interval ends (probabilistic models), else None
    upper: np.ndarray | None
    csv: Path | None  # written files (None without out)
    png: Path | None


class DetectionResult(NamedTuple):
    scores: np.ndarray  # (N,) per row, NaN where the detector cannot score (the first rows)
    flags: np.ndarray  # (N,) bool
    threshold: float
    csv: Path | None
    png: Path | None


def _info(bundle: Any) -> tuple[Any, dict[str, Any]]:
    loaded = bundle if isinstance(bundle, Bundle) else load(bundle)
    extra = loaded.info.get("timeseries")
    if not isinstance(extra, dict):
        raise ValueError(f"bundle: expected a time-series bundle (bundle.json with a 'timeseries' entry, written by "
                         f"`rnnkit train` with task forecast or anomaly_autoencoder), got task "
                         f"{loaded.info.get('task')!r}")
    return loaded, extra


def _series(series: Any, extra: dict[str, Any], *, last: int | None = None
            ) -> tuple[Frame, np.ndarray, np.ndarray, Scaler]:
    """The series in time order, its columns scaled; ``last``: only the last rows are read (None: all), so
    only they must be complete."""
    frame = sort_by_time(series if isinstance(series, Frame) else read_csv(series))
    columns = extra["columns"]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"series: expected the columns {columns} the model was trained on, missing {missing} "
                         f"(the file has {list(frame.columns)})")
    values = np.stack([frame.column(c) for c in columns], axis=1)
    if last is not None and len(values) < last:
        raise ValueError(f"series: expected at least {last} rows (the model's input window), got {len(values)}")
    used = values if last is None else values[len(values) - last:]
    if np.isnan(used).any():
        where = "" if last is None else f" of the last {last} rows, the ones the model reads"
        raise ValueError(f"series: columns {columns} hold missing values{where}; fill them first")
    scaler = Scaler(tuple(extra["scaler"]["mean"]), tuple(extra["scaler"]["std"]))
    if extra.get("calendar") and frame.timestamps is None:
        raise ValueError("series: this model reads calendar covariates; expected a time column, got none")
    return frame, scaler.transform(values), values, scaler


def forecast(bundle: Any, series: Any, horizon: int | None = None, *, out: str | Path | None = None) -> ForecastResult:
    """Forecast the next ``horizon`` rows after the end of ``series`` (a CSV path or a Frame).

    ``horizon`` defaults to the model's; a direct or seq2seq model forecasts at most its trained horizon (a
    shorter one is its first steps), a recursive model any horizon. With ``out`` (a folder), writes
    ``forecast.csv`` and ``forecast.png`` there.
    """
    loaded, extra = _info(bundle)
    model = loaded.model
    if not isinstance(model, Forecaster):
        raise ValueError(f"bundle: expected a forecaster bundle, got kind {loaded.info.get('kind')!r}")
    config = model.config
    horizon = config.horizon if horizon is None else horizon
    if not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon: expected an int >= 1, got {horizon!r}")
    if horizon > config.horizon and config.decoder != "recursive":
        raise ValueError(f"horizon: this {config.decoder} model forecasts at most {config.horizon} steps, got "
                         f"{horizon}; train one with a longer horizon or a recursive decoder")
    window = int(extra["window"])
    frame, past, values, scaler = _series(series, extra, last=window)
    steps = max(horizon, config.horizon)
    stamps = None
    known_past = np.zeros((window, 0), np.float32)
    future = np.zeros((1, steps, 0), np.float32)
    if frame.timestamps is not None:
        stamps = future_timestamps(frame.timestamps[-1], extra["freq"], steps)
        if extra.get("calendar"):
            known_past = calendar_features(frame.timestamps[-window:], extra["freq"])
            future = calendar_features(stamps, extra["freq"])[None]
    inputs = np.concatenate([past[-window:], known_past], axis=-1)[None].astype(np.float32)
    with torch.no_grad():
        params = model(torch.from_numpy(inputs), torch.from_numpy(future.astype(np.float32)),
                       horizon=steps if config.decoder == "recursive" else None)
    result = prediction_interval(params, config)
    point, lower, upper = (None if part is None else scaler.inverse(part[0, :horizon].numpy())
                           for part in result)
    stamps = None if stamps is None else stamps[:horizon]
    csv_path = png_path = None
    if out is not None:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        csv_path = _write_forecast_csv(folder / "forecast.csv", stamps, point, lower, upper, extra["columns"][0])
        png_path = _plot_forecast(folder / "forecast.png", frame, values[:, 0], stamps, point, lower, upper,
                                  extra["columns"][0], config.coverage)
    return ForecastResult(stamps, point, lower, upper, csv_path, png_path)


def detect(bundle: Any, series: Any, *, threshold: float | None = None, out: str | Path | None = None) -> DetectionResult:
    """Score every row of ``series`` and flag those above the threshold (see the module docstring).

    With ``out`` (a folder), writes ``detect.csv`` (row, timestamp, value, score, flag) and ``detect.png``.
    """
    loaded, extra = _info(bundle)
    frame, past, values, _ = _series(series, extra)
    needed, reason = _rows_to_score(loaded.model, extra)
    if len(past) < needed:
        raise ValueError(f"series: nothing to score: expected at least {needed} rows ({reason}), got {len(past)}; "
                         "pass a longer series")
    scores = _scores(loaded.model, past, frame, extra)
    if threshold is None:
        threshold = _validation_threshold(loaded.model, extra)
    elif not isinstance(threshold, (int, float)):
        raise TypeError(f"threshold: expected a number or None, got {type(threshold).__name__}")
    flags = flag(scores, threshold)
    csv_path = png_path = None
    if out is not None:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        csv_path = folder / "detect.csv"
        with open(csv_path, "w", encoding="utf-8") as file:
            file.write(f"row,timestamp,{extra['columns'][0]},score,flag\n")
            for row in range(len(scores)):
                stamp = "" if frame.timestamps is None else str(frame.timestamps[row])
                score = "" if np.isnan(scores[row]) else f"{scores[row]:.6g}"
                file.write(f"{row},{stamp},{values[row, 0]:.6g},{score},{int(flags[row])}\n")
        png_path = _plot_detection(folder / "detect.png", frame, values[:, 0], scores, flags, threshold,
                                   extra["columns"][0])
    return DetectionResult(scores, flags, float(threshold), csv_path, png_path)


def _rows_to_score(model: Any, extra: dict[str, Any]) -> tuple[int, str]:
    """The fewest rows that give one score, and why (see rnnkit.timeseries.anomaly)."""
    if isinstance(model, LSTMAutoencoder):
        return model.config.window, f"one window of the autoencoder: {model.config.window} rows"
    window, horizon = int(extra["window"]), model.config.horizon
    if model.config.known_size:
        return window + horizon, (f"the forecaster's input window of {window} rows, then the {horizon} rows of "
                                  "its horizon, whose calendar covariates it reads")
    return window + 1, f"the forecaster's input window of {window} rows, then the row it scores"


def _scores(model: Any, past: np.ndarray, frame: Frame, extra: dict[str, Any]) -> np.ndarray:
    if isinstance(model, LSTMAutoencoder):
        return reconstruction_scores(model, past)
    known = calendar_features(frame.timestamps, extra["freq"]) if extra.get("calendar") else None
    return residual_scores(model, past, known, int(extra["window"]))


def _validation_threshold(model: Any, extra: dict[str, Any]) -> float:
    try:
        frame = read_frame(extra["dataset"])
    except (ValueError, FileNotFoundError) as error:
        raise ValueError(f"threshold: the bundle's validation data ({extra['dataset']!r}) cannot be read ({error}); "
                         "pass threshold= explicitly") from None
    start, stop = extra["splits"]["val"]
    window = int(extra["window"])
    begin = max(0, start - window)  # the rows before the validation part are its forecasts' inputs
    part = Frame(frame.values[begin:stop], frame.columns,
                 None if frame.timestamps is None else frame.timestamps[begin:stop])
    _, past, _, _ = _series(part, extra)
    scores = _scores(model, past, part, extra)[start - begin:]
    return choose_threshold(scores, quantile=float(extra.get("threshold_quantile", 0.995)))


def _write_forecast_csv(path: Path, stamps: Any, point: np.ndarray, lower: Any, upper: Any, target: str) -> Path:
    with open(path, "w", encoding="utf-8") as file:
        file.write(f"step,timestamp,{target},lower,upper\n")
        for k in range(len(point)):
            stamp = "" if stamps is None else str(stamps[k])
            low = "" if lower is None else f"{lower[k]:.6g}"
            high = "" if upper is None else f"{upper[k]:.6g}"
            file.write(f"{k + 1},{stamp},{point[k]:.6g},{low},{high}\n")
    return path


def _pyplot() -> Any:
    return pyplot("plotting a forecast or a detection", "timeseries")


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_forecast(path: Path, frame: Frame, history: np.ndarray, stamps: Any, point: np.ndarray, lower: Any,
                   upper: Any, target: str, coverage: float) -> Path:
    plt = _pyplot()
    shown = min(len(history), max(4 * len(point), 96))
    fig, ax = plt.subplots(figsize=(9, 3.5))
    if stamps is not None:
        past_x, future_x = frame.timestamps[-shown:], stamps
    else:
        past_x, future_x = np.arange(len(history) - shown, len(history)), np.arange(len(history), len(history) + len(point))
    ax.plot(past_x, history[-shown:], color="black", linewidth=1, label="history")
    ax.plot(future_x, point, color="tab:blue", linewidth=1.5, label="forecast")
    if lower is not None:
        ax.fill_between(future_x, lower, upper, color="tab:blue", alpha=0.25, label=f"{coverage:.0%} interval")
    ax.set_ylabel(target)
    ax.legend(loc="upper left")
    return _save(plt, fig, path)


def _plot_detection(path: Path, frame: Frame, values: np.ndarray, scores: np.ndarray, flags: np.ndarray,
                    threshold: float, target: str) -> Path:
    plt = _pyplot()
    x = frame.timestamps if frame.timestamps is not None else np.arange(len(values))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
    top.plot(x, values, color="black", linewidth=0.8)
    top.scatter(x[flags], values[flags], color="tab:red", s=12, zorder=3, label=f"flagged ({int(flags.sum())})")
    top.set_ylabel(target)
    top.legend(loc="upper left")
    bottom.plot(x, scores, color="tab:gray", linewidth=0.8)
    bottom.axhline(threshold, color="tab:red", linestyle="--", linewidth=1, label=f"threshold {threshold:.3g}")
    bottom.set_ylabel("score")
    bottom.legend(loc="upper left")
    return _save(plt, fig, path)
