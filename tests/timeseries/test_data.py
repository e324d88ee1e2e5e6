"""rnnkit.timeseries.data: no leakage across splits, windows against direct slicing, readers, calendar."""

import io
import lzma

import numpy as np
import pytest

from rnnkit.timeseries import data as ts_data
from rnnkit.timeseries.data import (
    Scaler,
    WindowSet,
    calendar_features,
    ett_splits,
    fit_scaler,
    future_timestamps,
    infer_freq,
    load_dataset,
    read_csv,
    rolling_origins,
    split_by_time,
    window_origins,
)
from rnnkit.timeseries.task import DataOptions, prepare


def test_split_by_time_is_ordered_and_complete():
    splits = split_by_time(100, val=0.2, test=10)
    assert (splits.train, splits.val, splits.test) == (slice(0, 70), slice(70, 90), slice(90, 100))
    with pytest.raises(ValueError, match="val: expected a fraction"):
        split_by_time(100, val=1.5, test=0.1)
    with pytest.raises(ValueError, match="fewer than 10 rows"):
        split_by_time(10, val=5, test=5)


def test_ett_splits_are_the_informer_borders():
    splits = ett_splits()  # 12/4/4 months of 30 days, hourly
    assert (splits.train, splits.val, splits.test) == (slice(0, 8640), slice(8640, 11520), slice(11520, 14400))


def test_scaler_sees_only_training_rows():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(50, 3))
    splits = split_by_time(50, val=10, test=10)
    scaler = fit_scaler(values, splits.train)
    np.testing.assert_allclose(scaler.mean, values[:30].mean(axis=0))
    np.testing.assert_allclose(scaler.std, values[:30].std(axis=0))
    changed = values.copy()
    changed[30:] = 1e6  # whatever validation and test hold, the statistics stay the same
    assert fit_scaler(changed, splits.train) == scaler


def test_prepare_scales_with_training_statistics_only():
    frame = load_dataset("airline_passengers")
    options = DataOptions(dataset="airline_passengers", val_fraction=0.2, test_fraction=0.2)
    prepared = prepare(options, frame)
    train = frame.values[prepared.splits.train, 0]
    assert prepared.scaler.mean[0] == pytest.approx(train.mean())
    assert prepared.scaler.std[0] == pytest.approx(train.std())
    bumped = frame._replace(values=np.where(np.arange(144)[:, None] >= prepared.splits.val.start, 0.0, frame.values))
    assert prepare(options, bumped).scaler == prepared.scaler


def test_constant_column_gets_unit_std():
    assert fit_scaler(np.ones((5, 1)), slice(0, 5)).std == (1.0,)


def test_scaler_round_trip():
    scaler = Scaler((2.0, -1.0), (4.0, 0.5))
    values = np.array([[6.0, 0.0], [2.0, -1.0]])
    np.testing.assert_allclose(scaler.transform(values), [[1.0, 2.0], [0.0, 0.0]])
    np.testing.assert_allclose(scaler.inverse(scaler.transform(values)[:, 1], column=1), values[:, 1])
    with pytest.raises(ValueError, match=r"values: expected shape \(N, 2\)"):
        scaler.transform(np.zeros((3, 3)))


@pytest.mark.parametrize("window,horizon", [(1, 1), (5, 3), (12, 7)])
def test_windows_never_cross_the_split(window, horizon):
    splits = split_by_time(60, val=15, test=15)
    train = window_origins(splits.train, window, horizon)
    # training samples: inputs and targets all inside the training rows
    assert train.min() - window >= splits.train.start and train.max() + horizon <= splits.train.stop
    # brute force: every origin whose whole window fits in the training rows is there
    expected = [t for t in range(60) if t - window >= 0 and t + horizon <= splits.train.stop]
    assert train.tolist() == expected
    for part in (splits.val, splits.test):
        origins = window_origins(part, window, horizon, history_start=0)
        assert origins.min() >= part.start and origins.max() + horizon <= part.stop  # targets inside the split
        assert (origins - window >= 0).all()  # inputs only from rows before the origin (the observed past)
        assert len(origins) == part.stop - part.start - horizon + 1


def test_window_batch_matches_direct_slicing():
    rng = np.random.default_rng(1)
    past, known = rng.normal(size=(40, 2)), rng.normal(size=(40, 3))
    origins = np.array([5, 9, 30])
    windows = WindowSet([past], [known], [origins], window=5, horizon=4)
    batch = windows.batch([2, 0])
    for row, t in enumerate([30, 5]):
        np.testing.assert_allclose(batch.inputs[row].numpy(), np.concatenate([past[t - 5:t], known[t - 5:t]], 1),
                                   rtol=1e-6)
        np.testing.assert_allclose(batch.future[row].numpy(), known[t:t + 4], rtol=1e-6)
        np.testing.assert_allclose(batch.targets[row].numpy(), past[t:t + 4, 0], rtol=1e-6)
    assert batch.origins.tolist() == [30, 5]


def test_window_set_of_many_series():
    first, second = np.arange(20.0)[:, None], 100 + np.arange(30.0)[:, None]
    windows = WindowSet([first, second], None, [np.array([3]), np.array([10, 26])], window=3, horizon=2)
    batch = windows.batch(np.arange(3))
    assert batch.series.tolist() == [0, 1, 1]
    np.testing.assert_allclose(batch.targets.numpy(), [[3, 4], [110, 111], [126, 127]])
    assert batch.future.shape == (3, 2, 0)
    with pytest.raises(ValueError, match=r"origins\[0\]: expected values in \[3, 18\]"):
        WindowSet([first], None, [np.array([19])], window=3, horizon=2)


def test_rolling_origins_are_evenly_spaced_inside_the_split():
    split = slice(100, 200)
    every = rolling_origins(split, 10, None, window=20)
    assert every[0] == 100 and every[-1] == 190 and len(every) == 91
    some = rolling_origins(split, 10, 4, window=20)
    assert some.tolist() == [100, 130, 160, 190]


def test_calendar_features_closed_form():
    stamps = np.array(["2016-07-04T06", "2016-07-04T18"], dtype="datetime64[h]")  # a Monday
    features = calendar_features(stamps, "h")
    np.testing.assert_allclose(features[:, :2], [[1, 0], [-1, 0]], atol=1e-6)  # hour 6: sin 1; hour 18: sin -1
    np.testing.assert_allclose(features[:, 2:], [[0, 1], [0, 1]], atol=1e-6)  # Monday: position 0
    assert calendar_features(np.array(["1990", "1991"], dtype="datetime64[Y]"), "Y").shape == (2, 0)


def test_frequencies_and_future_timestamps():
    hourly = np.array(["2016-07-01T00", "2016-07-01T01", "2016-07-01T02"], dtype="datetime64[h]")
    assert infer_freq(hourly) == "h"
    assert future_timestamps(hourly[-1], "h", 2).tolist() == list(
        np.array(["2016-07-01T03", "2016-07-01T04"], dtype="datetime64[h]"))
    monthly = np.array(["1949-11", "1949-12"], dtype="datetime64[M]")
    assert infer_freq(monthly) == "M"
    assert [str(t) for t in future_timestamps(monthly[-1], "M", 2)] == ["1950-01", "1950-02"]


def test_read_csv_time_formats():
    frame = read_csv(io.StringIO("Quarter,a,b\n1970 Q1,1,2\n1970 Q2,3,\n"))
    assert frame.columns == ("a", "b")
    assert [str(t) for t in frame.timestamps] == ["1970-01", "1970-04"]
    assert np.isnan(frame.values[1, 1])
    compact = read_csv(io.StringIO("date,co2\n19580329,316.1\n19580405,317.3\n"))
    assert str(compact.timestamps[0]) == "1958-03-29"
    with pytest.raises(ValueError, match="column 'x': expected numbers"):
        read_csv(io.StringIO("date,x\n2020-01-01,abc\n"))
    with pytest.raises(ValueError, match="line 3: expected 2 fields"):
        read_csv(io.StringIO("date,x\n2020-01-01,1\n2020-01-02,1,2\n"))


def test_shipped_data_sets_load_with_their_documented_sizes():
    assert load_dataset("ETTh1").values.shape == (17420, 7)
    assert load_dataset("airline_passengers").values.shape == (144, 1)
    co2 = load_dataset("co2")
    assert co2.values.shape == (2284, 1) and not np.isnan(co2.values).any()  # 59 gaps interpolated
    with pytest.raises(ValueError, match="name: expected one of"):
        load_dataset("ETTm1")


def test_modified_ett_file_is_refused(tmp_path, monkeypatch):
    original = lzma.decompress((ts_data.data_path("ett", "ETTh1.csv.xz")).read_bytes())
    (tmp_path / "ett").mkdir()
    (tmp_path / "ett" / "ETTh1.csv.xz").write_bytes(lzma.compress(original.replace(b"30.531", b"30.532", 1), preset=0))
    monkeypatch.setattr(ts_data, "data_path", lambda *parts: tmp_path.joinpath(*parts))
    with pytest.raises(ValueError, match="SHA-256 of the decompressed file"):
        load_dataset("ETTh1")


def test_sort_by_time_sorts_and_refuses_repeated_timestamps(caplog):
    from rnnkit.timeseries.data import Frame, sort_by_time

    stamps = np.array(["2021-01-03", "2021-01-01", "2021-01-02"], dtype="datetime64[D]")
    frame = Frame(np.array([[3.0], [1.0], [2.0]]), ("x",), stamps)
    with caplog.at_level("INFO", logger="rnnkit.timeseries.data"):
        ordered = sort_by_time(frame)
    assert ordered.values[:, 0].tolist() == [1.0, 2.0, 3.0] and (np.diff(ordered.timestamps) > 0).all()
    assert any("line 3" in r.getMessage() for r in caplog.records)  # the first row earlier than the one before
    assert sort_by_time(ordered) is ordered and sort_by_time(frame._replace(timestamps=None)).timestamps is None
    with pytest.raises(ValueError, match=r"series: expected one row per timestamp.*2021-01-01 on lines \[2, 3\]"):
        sort_by_time(frame._replace(timestamps=stamps[[1, 1, 2]]))
