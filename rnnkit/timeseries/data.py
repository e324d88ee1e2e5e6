r"""Time-series data: reading, splitting by time, scaling, windowing, rolling origins, calendar covariates.

Everything here is built so that nothing from the future leaks into what a model or a scaler sees:

* **Splits are by time, in order** (:func:`split_by_time`, :func:`ett_splits`): train, then validation,
  then test, as three ``slice`` objects over the rows.
* **The scaler is fitted on the training rows only** (:func:`fit_scaler`): its mean and standard deviation
  are those of ``values[splits.train]``; validation and test rows never enter them.
* **Windows never cross a split** (:func:`window_origins`). A sample at *origin* ``t`` reads the input rows
  ``[t - window, t)`` and predicts the target rows ``[t, t + horizon)``. A split's samples have every target
  row inside that split. Training samples also keep their inputs inside the training rows; validation and test
  samples may read their inputs from the rows *before* the split (the past, already observed when the forecast
  is made: the protocol of Informer and DLinear), never from after the origin.

::

    rows      0 ............................ 8640 ........ 11520 ........ 14400
    split     |<------------ train ---------->|<--- val --->|<--- test --->|
    sample    [ inputs t-W .. t-1 ][ targets t .. t+H-1 ]        (t: the origin)
                                      targets all inside one split

* **Rolling-origin backtests** (:func:`rolling_origins`): evenly spaced forecast origins over a split, the
  same ones for every model and baseline, so their errors are measured on the same forecasts.
* **Calendar covariates** (:func:`calendar_features`) are *known in the future* (hour of day, day of week,
  month, ...), encoded as sin/cos pairs; other columns of a frame are *past-only* covariates.

Data sets ship in the repository's data/ folder (``data/ett``, ``data/timeseries``; see their READMEs for
sources and licences). ETT's licence (CC BY-ND 4.0) forbids modified copies, so its files are stored
byte-identical, xz-compressed, and :func:`load_dataset` checks the SHA-256 of the decompressed bytes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import lzma
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rnnkit.text.data import data_path

logger = logging.getLogger(__name__)

__all__ = ["DATASETS", "Frame", "Splits", "Scaler", "WindowBatch", "WindowSet", "calendar_features",
           "dataset_names", "ett_splits", "fit_scaler", "future_timestamps", "infer_freq", "load_dataset",
           "parse_timestamps", "read_csv", "read_frame", "rolling_origins", "sort_by_time", "split_by_time",
           "window_origins"]


class Frame(NamedTuple):
    """A table of series on one time axis."""

    values: np.ndarray  # (N, C) float64; NaN for a missing value
    columns: tuple[str, ...]  # C names
    timestamps: np.ndarray | None  # (N,) numpy datetime64, or None when the file has no time column
    name: str = ""

    def column(self, name: str) -> np.ndarray:
        """The (N,) values of one column, by name."""
        if name not in self.columns:
            raise ValueError(f"column: expected one of {list(self.columns)}, got {name!r}")
        return self.values[:, self.columns.index(name)]


@dataclass(frozen=True)
class DatasetSpec:
    file: tuple[str, ...]  # path under data/
    sha256: str  # of the uncompressed CSV
    target: str  # the column forecast by default
    freq: str  # h, D, W, M, Q, Y
    period: int  # the seasonal period used by seasonal naive, ETS, ARIMA and MASE


DATASETS: dict[str, DatasetSpec] = {
    "ETTh1": DatasetSpec(("ett", "ETTh1.csv.xz"),
                         "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066", "OT", "h", 24),
    "ETTh2": DatasetSpec(("ett", "ETTh2.csv.xz"),
                         "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b", "OT", "h", 24),
    "airline_passengers": DatasetSpec(("timeseries", "airline_passengers.csv.xz"),
                                      "28af0eb869db6d9fbd31d5af03993a0cbf36c0857c3eb046a068c094b60da851",
                                      "Passengers", "M", 12),
    "co2": DatasetSpec(("timeseries", "co2_mauna_loa_weekly.csv.xz"),
                       "16695fa2786e53414e5a6b54767a3fdf5de99cfbc68617f69d1362d92776a92f", "co2", "W", 52),
    "lynx": DatasetSpec(("timeseries", "lynx.csv.xz"),
                        "7210bf1057112814c3f868e29555d5fff47ff907f791b3cfd8e63329e647887d", "trappings", "Y", 10),
    "sunspots_monthly": DatasetSpec(("timeseries", "sunspots_monthly.csv.xz"),
                                    "f31ebf2720cd3c933cd576e4568920eb9c1f627316746c085a1737b71d8d9a92",
                                    "sunspot_number", "M", 1),  # the ~11-year cycle is irregular: no seasonal period
    "sunspots_yearly": DatasetSpec(("timeseries", "sunspots_yearly.csv.xz"),
                                   "f67889b1d9002cd5227f0e0ef54e35b419cdd85a31279adef6f73fb41e5c0a9b",
                                   "SUNACTIVITY", "Y", 11),
    "macrodata": DatasetSpec(("timeseries", "us_macrodata_quarterly.csv.xz"),
                             "d93c0d3a7a77ef83c3af14e46032bb1d02ae3a512b22ab94159a8ca226fcf708", "realgdp", "Q", 4),
    "uschange": DatasetSpec(("timeseries", "uschange_quarterly.csv.xz"),
                            "9e64df6e642870025fccab291645b0ed68a7f5c14bcb8a3022d06f0ed78c00ea", "Consumption", "Q", 4),
}


def dataset_names() -> list[str]:
    return sorted(DATASETS)


def load_dataset(name: str) -> Frame:
    """Read a shipped data set by name (see :data:`DATASETS`), checking the original file's SHA-256.

    ``co2`` has 59 empty weeks, filled by linear interpolation in time; ``macrodata``'s ``year`` and
    ``quarter`` columns become the timestamps. Every other file is returned exactly as stored.
    """
    if name not in DATASETS:
        raise ValueError(f"name: expected one of {dataset_names()}, got {name!r}")
    spec = DATASETS[name]
    path = data_path(*spec.file)
    raw = lzma.decompress(path.read_bytes())
    digest = hashlib.sha256(raw).hexdigest()
    if digest != spec.sha256:
        raise ValueError(f"{path}: SHA-256 of the decompressed file is {digest}, expected {spec.sha256} "
                         "(the file was modified or corrupted; restore it from git)")
    text = raw.decode("utf-8")
    if name == "macrodata":
        frame = read_csv(io.StringIO(text), time_column=None)
        year, quarter = frame.column("year").astype(int), frame.column("quarter").astype(int)
        months = (year - 1970) * 12 + (quarter - 1) * 3
        keep = [i for i, column in enumerate(frame.columns) if column not in ("year", "quarter")]
        return Frame(frame.values[:, keep], tuple(frame.columns[i] for i in keep),
                     months.astype("datetime64[M]"), name)
    frame = read_csv(io.StringIO(text))
    values = frame.values
    if name == "co2":
        values = _interpolate(values, frame.timestamps)
    return Frame(values, frame.columns, frame.timestamps, name)


def read_frame(dataset: str) -> Frame:
    """A shipped data set by name, else a CSV file by path (rows sorted by time; a repeated timestamp is an error)."""
    if dataset in DATASETS:
        return load_dataset(dataset)
    if Path(dataset).suffix in (".csv", ".xz") and Path(dataset).is_file():
        return sort_by_time(read_csv(dataset)._replace(name=Path(dataset).stem))  # as forecast/detect read it
    raise ValueError(f"dataset: expected one of {sorted(DATASETS)} or the path of an existing .csv file, "
                     f"got {dataset!r}")


def _interpolate(values: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """Fill NaN by linear interpolation in time, column by column (the ends: nearest value)."""
    values = values.copy()
    x = timestamps.astype("datetime64[D]").astype(np.int64).astype(np.float64)
    for j in range(values.shape[1]):
        missing = np.isnan(values[:, j])
        if missing.any() and (~missing).any():
            values[missing, j] = np.interp(x[missing], x[~missing], values[~missing, j])
    return values


# ---------------------------------------------------------------------------------------------- reading CSV

def read_csv(source: str | Path | io.TextIOBase, *, time_column: str | None = "auto") -> Frame:
    """Read a CSV with a header row into a :class:`Frame`.

    Args:
        source: a path (``.csv`` or ``.csv.xz``) or an open text stream.
        time_column: the column holding timestamps; ``"auto"``: the first column when its values are not all
            numbers or its name is date/time/month/year/quarter-like; None: no time column.

    Every other column must hold numbers (an empty cell is NaN). Timestamps may be ISO dates or date-times
    ("2016-07-01 00:00:00", "1949-01"), years ("1700"), quarters ("1970 Q1") or compact dates ("19580329").
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"read_csv: no such file {str(path)!r}")
        opener = lzma.open if path.suffix == ".xz" else open
        with opener(path, "rt", encoding="utf-8", newline="") as file:
            return read_csv(file, time_column=time_column)
    rows = [row for row in csv.reader(source) if row]
    if len(rows) < 2:
        raise ValueError(f"read_csv: expected a header row and at least one data row, got {len(rows)} rows")
    header, body = [name.strip() for name in rows[0]], rows[1:]
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ValueError(f"read_csv: line {number}: expected {len(header)} fields as in the header, got {len(row)}")
    columns = list(zip(*body, strict=True))
    time_index = None
    if time_column == "auto":
        first = header[0].lower()
        named = any(word in first for word in ("date", "time", "month", "year", "quarter", "week", "day"))
        if named or not all(_is_number(cell) for cell in columns[0]):
            time_index = 0
    elif time_column is not None:
        if time_column not in header:
            raise ValueError(f"time_column: expected one of {header} or 'auto' or None, got {time_column!r}")
        time_index = header.index(time_column)
    timestamps = parse_timestamps(columns[time_index]) if time_index is not None else None
    names, data = [], []
    for index, (name, cells) in enumerate(zip(header, columns, strict=True)):
        if index == time_index:
            continue
        try:
            data.append([float(cell) if cell.strip() else math.nan for cell in cells])
        except ValueError:
            raise ValueError(f"read_csv: column {name!r}: expected numbers, got e.g. "
                             f"{next(c for c in cells if not _is_number(c))!r}") from None
        names.append(name)
    if not names:
        raise ValueError("read_csv: expected at least one numeric column besides the time column, got none")
    values = np.asarray(data, dtype=np.float64).T  # (N, C)
    return Frame(values, tuple(names), timestamps)


def sort_by_time(frame: Frame) -> Frame:
    """``frame`` with its rows in time order: as it is when already ascending (or without timestamps), else
    sorted by the timestamps (stable) with a logged note. Raises ValueError on a duplicated timestamp, which
    no order can place (say which row to keep)."""
    stamps = frame.timestamps
    if stamps is None or len(stamps) < 2:
        return frame
    order = np.argsort(stamps, kind="stable")
    ordered = stamps[order]
    repeated = np.flatnonzero(ordered[1:] == ordered[:-1])
    if len(repeated):
        first = ordered[repeated[0]]
        rows = [int(r) + 2 for r in np.flatnonzero(stamps == first)[:3]]  # CSV line numbers (header = line 1)
        raise ValueError(f"series: expected one row per timestamp, got {len(repeated)} repeated timestamp(s), "
                         f"e.g. {first} on lines {rows}; remove or merge the duplicates")
    if (np.diff(order) == 1).all():
        return frame
    logger.info("series%s: the rows were not in time order; sorted them by the time column (first out of order: "
                "line %d, %s)", f" {frame.name}" if frame.name else "",
                int(np.flatnonzero(stamps[1:] < stamps[:-1])[0]) + 3, stamps[1:][stamps[1:] < stamps[:-1]][0])
    return Frame(frame.values[order], frame.columns, ordered, frame.name)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return not cell.strip()  # an empty cell is a missing number
    return True


def parse_timestamps(cells: Sequence[str]) -> np.ndarray:
    """Strings to numpy datetime64: ISO dates/date-times, "YYYY", "YYYY Qn", "YYYYMMDD"."""
    cells = [cell.strip() for cell in cells]
    sample = cells[0]
    try:
        if len(sample) == 4 and sample.isdigit():
            return np.array(cells, dtype="datetime64[Y]")
        if len(sample) == 8 and sample.isdigit():
            return np.array([f"{c[:4]}-{c[4:6]}-{c[6:]}" for c in cells], dtype="datetime64[D]")
        if "Q" in sample.upper():
            parts = [c.upper().replace("-", " ").split("Q") for c in cells]
            months = [(int(year) - 1970) * 12 + (int(quarter) - 1) * 3 for year, quarter in parts]
            return np.array(months, dtype="datetime64[M]")
        return np.array([c.replace(" ", "T") for c in cells], dtype="datetime64")
    except ValueError:
        raise ValueError(f"timestamps: expected ISO dates ('2016-07-01 00:00:00', '1949-01'), years ('1700'), "
                         f"quarters ('1970 Q1') or YYYYMMDD, got e.g. {sample!r}") from None


def infer_freq(timestamps: np.ndarray) -> str:
    """'h', 'D', 'W', 'M', 'Q' or 'Y' from the median spacing of ``timestamps``."""
    if timestamps is None or len(timestamps) < 2:
        raise ValueError("timestamps: expected at least two timestamps to infer a frequency")
    hours = float(np.median(np.diff(timestamps.astype("datetime64[h]").astype(np.int64))))
    for freq, (low, high) in {"h": (0.5, 2), "D": (20, 30), "W": (160, 180), "M": (27 * 24, 32 * 24),
                              "Q": (88 * 24, 93 * 24), "Y": (364 * 24, 367 * 24)}.items():
        if low <= hours <= high:
            return freq
    raise ValueError(f"timestamps: expected hourly, daily, weekly, monthly, quarterly or yearly spacing, "
                     f"got a median spacing of {hours} hours")


def future_timestamps(last: np.datetime64, freq: str, horizon: int) -> np.ndarray:
    """The ``horizon`` timestamps after ``last`` at frequency ``freq``."""
    steps = np.arange(1, horizon + 1)
    if freq in ("h", "D", "W"):
        unit = {"h": np.timedelta64(1, "h"), "D": np.timedelta64(1, "D"), "W": np.timedelta64(7, "D")}[freq]
        return np.datetime64(last, "h" if freq == "h" else "D") + steps * unit
    if freq in ("M", "Q"):
        return np.datetime64(last, "M") + steps * (1 if freq == "M" else 3)
    if freq == "Y":
        return np.datetime64(last, "Y") + steps
    raise ValueError(f"freq: expected one of h, D, W, M, Q, Y, got {freq!r}")


def calendar_features(timestamps: np.ndarray, freq: str) -> np.ndarray:
    """Known-future covariates from the timestamps, as sin/cos pairs of cyclic positions.

    h: hour of day and day of week (4 columns); D: day of week and day of year (4); W: week of year (2);
    M: month of year (2); Q: quarter (2); Y: none (0 columns). Shape (N, K), float32, values in [-1, 1].
    """
    days = timestamps.astype("datetime64[D]").astype(np.int64)
    if freq == "h":
        hour = timestamps.astype("datetime64[h]").astype(np.int64) % 24
        cycles = [(hour, 24), ((days + 3) % 7, 7)]  # 1970-01-01 was a Thursday: Monday is 0
    elif freq == "D":
        day_of_year = days - timestamps.astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
        cycles = [((days + 3) % 7, 7), (day_of_year, 365.25)]
    elif freq == "W":
        day_of_year = days - timestamps.astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
        cycles = [(day_of_year / 7, 365.25 / 7)]
    elif freq in ("M", "Q"):
        month = timestamps.astype("datetime64[M]").astype(np.int64) % 12
        cycles = [(month, 12)] if freq == "M" else [(month // 3, 4)]
    elif freq == "Y":
        cycles = []
    else:
        raise ValueError(f"freq: expected one of h, D, W, M, Q, Y, got {freq!r}")
    columns = []
    for position, period in cycles:
        angle = 2 * np.pi * np.asarray(position, dtype=np.float64) / period
        columns += [np.sin(angle), np.cos(angle)]
    return np.stack(columns, axis=1).astype(np.float32) if columns else np.zeros((len(timestamps), 0), np.float32)


# ------------------------------------------------------------------------------------------ splits, scaling

class Splits(NamedTuple):
    """Row ranges, in time order: train, then validation, then test."""

    train: slice
    val: slice
    test: slice


def split_by_time(length: int, *, val: float | int, test: float | int) -> Splits:
    """Cut ``length`` rows into train | val | test, in order. ``val``/``test`` are fractions (< 1) or counts."""
    if not isinstance(length, int) or length < 3:
        raise ValueError(f"length: expected an int >= 3, got {length!r}")
    counts = []
    for name, amount in (("val", val), ("test", test)):
        if isinstance(amount, float) and 0 <= amount < 1:
            counts.append(int(round(amount * length)))
        elif isinstance(amount, int) and amount >= 0:
            counts.append(amount)
        else:
            raise ValueError(f"{name}: expected a fraction in [0, 1) or a row count >= 0, got {amount!r}")
    n_val, n_test = counts
    n_train = length - n_val - n_test
    if n_train < 1:
        raise ValueError(f"val, test: expected fewer than {length} rows together, got {n_val} + {n_test}")
    return Splits(slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, length))


def ett_splits() -> Splits:
    """The standard ETT-hourly split of Informer (Zhou et al. 2021) and DLinear (Zeng et al. 2023):
    12/4/4 months of 30 days, rows [0, 8640) train, [8640, 11520) validation, [11520, 14400) test."""
    month = 30 * 24
    return Splits(slice(0, 12 * month), slice(12 * month, 16 * month), slice(16 * month, 20 * month))


@dataclass(frozen=True)
class Scaler:
    """Per-column z-score: (x - mean) / std, with statistics from the training rows only (see fit_scaler)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def transform(self, values: np.ndarray) -> np.ndarray:
        """(N, C) -> (N, C) scaled; C must equal len(mean)."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != len(self.mean):
            raise ValueError(f"values: expected shape (N, {len(self.mean)}), got {values.shape}")
        return (values - np.asarray(self.mean)) / np.asarray(self.std)

    def inverse(self, values: np.ndarray, column: int = 0) -> np.ndarray:
        """Scaled values of one column (any shape) back to the original units."""
        return np.asarray(values, dtype=np.float64) * self.std[column] + self.mean[column]


def fit_scaler(values: np.ndarray, train: slice) -> Scaler:
    """Mean and (population) standard deviation of ``values[train]`` per column; a constant column gets std 1.

    Only the training rows are read: validation and test rows cannot influence the statistics.
    """
    rows = np.asarray(values, dtype=np.float64)[train]
    if rows.ndim != 2 or len(rows) == 0:
        raise ValueError(f"train: expected a non-empty slice of rows of a (N, C) array, got {train} of "
                         f"shape {np.shape(values)}")
    mean = np.nanmean(rows, axis=0)
    std = np.nanstd(rows, axis=0)
    std = np.where(std > 0, std, 1.0)
    return Scaler(tuple(float(m) for m in mean), tuple(float(s) for s in std))


# ------------------------------------------------------------------------------------------------ windows

def window_origins(split: slice, window: int, horizon: int, *, history_start: int | None = None,
                   stride: int = 1) -> np.ndarray:
    """Forecast origins ``t`` whose targets ``[t, t + horizon)`` lie inside ``split`` and whose inputs
    ``[t - window, t)`` start at or after ``history_start`` (default ``split.start``: inputs inside the split
    too, as for training; pass 0 to let validation/test inputs read earlier, observed rows).

    Returns an int64 array of origins, ascending, every ``stride``-th one; empty when none fit.
    """
    if window < 1 or horizon < 1 or stride < 1:
        raise ValueError(f"window, horizon, stride: expected integers >= 1, got {window}, {horizon}, {stride}")
    floor = split.start if history_start is None else history_start
    first = max(split.start, floor + window)
    last = split.stop - horizon  # inclusive
    if last < first:
        return np.zeros(0, dtype=np.int64)
    return np.arange(first, last + 1, stride, dtype=np.int64)


def rolling_origins(split: slice, horizon: int, count: int | None = None, *, window: int = 0) -> np.ndarray:
    """Backtest origins over ``split``: ``count`` evenly spaced origins (all of them when None) whose
    targets ``[t, t + horizon)`` lie in the split and which have at least ``window`` earlier rows."""
    origins = window_origins(split, max(window, 1), horizon, history_start=0)
    if count is None or count >= len(origins):
        return origins
    if count < 1:
        raise ValueError(f"count: expected None or an integer >= 1, got {count}")
    return origins[np.unique(np.round(np.linspace(0, len(origins) - 1, count)).astype(np.int64))]


class WindowBatch(NamedTuple):
    """One batch of (input window, horizon) samples; all float32 tensors, batch first."""

    inputs: object  # (B, W, F + K): past features (target first) and known covariates of the input rows
    future: object  # (B, H, K): known covariates of the horizon rows (K may be 0)
    targets: object  # (B, H): the target over the horizon
    series: object  # (B,) int64: which series each sample comes from
    origins: object  # (B,) int64: the origin t of each sample


class WindowSet:
    """(input window, horizon) samples from one or many series, addressed by (series, origin) pairs.

    Args:
        past: per series, an (N_i, F) array of past-observed features, the target in column 0 (scaled).
        known: per series, an (N_i, K) array of known-future covariates, or None (K = 0).
        origins: per series, the origins to sample (from :func:`window_origins`).
        window, horizon: W and H.

    ``batch(indices)`` gathers samples ``indices`` (positions in the flattened (series, origin) list) into a
    :class:`WindowBatch` of torch tensors.
    """

    def __init__(self, past: Sequence[np.ndarray], known: Sequence[np.ndarray] | None,
                 origins: Sequence[np.ndarray], window: int, horizon: int):
        if len(past) != len(origins) or (known is not None and len(known) != len(past)):
            raise ValueError(f"past, known, origins: expected one entry per series, got {len(past)}, "
                             f"{None if known is None else len(known)}, {len(origins)}")
        self.window, self.horizon = window, horizon
        self.past = [np.asarray(p, dtype=np.float32) for p in past]
        self.known = [np.zeros((len(p), 0), np.float32) if known is None else np.asarray(k, dtype=np.float32)
                      for p, k in zip(self.past, known or [None] * len(past), strict=True)]
        for index, (p, o) in enumerate(zip(self.past, origins, strict=True)):
            if len(o) and (o.min() < window or o.max() + horizon > len(p)):
                raise ValueError(f"origins[{index}]: expected values in [{window}, {len(p) - horizon}], "
                                 f"got [{o.min()}, {o.max()}]")
        self.index = np.concatenate([np.stack([np.full(len(o), i), np.asarray(o)], 1) for i, o in enumerate(origins)]
                                    or [np.zeros((0, 2))]).astype(np.int64)  # (M, 2): series, origin

    def __len__(self) -> int:
        return len(self.index)

    @property
    def num_features(self) -> int:
        return self.past[0].shape[1]

    @property
    def num_known(self) -> int:
        return self.known[0].shape[1]

    def batch(self, indices: Sequence[int] | np.ndarray) -> WindowBatch:
        import torch

        pairs = self.index[np.asarray(indices, dtype=np.int64)]
        inputs, future, targets = [], [], []
        back, ahead = np.arange(-self.window, 0), np.arange(self.horizon)
        for series in np.unique(pairs[:, 0]):
            rows = pairs[:, 0] == series
            origins = pairs[rows, 1]
            past, known = self.past[series], self.known[series]
            input_rows = origins[:, None] + back  # (b, W)
            target_rows = origins[:, None] + ahead  # (b, H)
            inputs.append((rows, np.concatenate([past[input_rows], known[input_rows]], axis=-1)))
            future.append((rows, known[target_rows]))
            targets.append((rows, past[target_rows, 0]))

        def assemble(parts: list) -> torch.Tensor:
            shape = (len(pairs),) + parts[0][1].shape[1:]
            out = np.empty(shape, dtype=np.float32)
            for rows, value in parts:
                out[rows] = value
            return torch.from_numpy(out)

        return WindowBatch(assemble(inputs), assemble(future), assemble(targets),
                           torch.from_numpy(pairs[:, 0].copy()), torch.from_numpy(pairs[:, 1].copy()))
