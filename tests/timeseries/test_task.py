"""rnnkit.timeseries.task and forecast: `rnnkit train` writes a bundle; `rnnkit forecast`/`detect` use it."""

import csv

import numpy as np
import pytest
from typer.testing import CliRunner

from rnnkit.bundle import load
from rnnkit.cli import app
from rnnkit.timeseries.data import load_dataset
from rnnkit.timeseries.forecast import detect, forecast
from rnnkit.timeseries.task import AutoencoderOptions, AutoencoderTask, ForecastOptions, ForecastTask

runner = CliRunner()


def write_series(path, rows=400, start=0):
    t = np.arange(start, start + rows)
    stamps = np.datetime64("2021-01-01T00", "h") + t.astype("timedelta64[h]")
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["date", "load", "temp"])
        for stamp, step in zip(stamps, t, strict=True):
            writer.writerow([str(stamp).replace("T", " ") + ":00:00", f"{np.sin(step / 4):.5f}",
                             f"{10 + np.cos(step / 4):.5f}"])
    return path


def write_config(path, data, **model):
    lines = ["task: forecast", "task_options:", f"  dataset: {data}", "  target: temp",
             "  past_covariates: [load]", "  calendar: true", "  window: 16", "  horizon: 6", "  batch_size: 32",
             "  model:", "    hidden_size: 8"] + [f"    {k}: {v}" for k, v in model.items()]
    lines += ["seed: 0", "device: cpu", "max_steps: 20", "log_every: 10", "validation:", "  every: 10",
              "  monitor: val_mse", "checkpoint:", "  every: 10"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forecast")
    data = write_series(folder / "train.csv")
    config = write_config(folder / "config.yaml", data, output="gaussian")
    result = runner.invoke(app, ["train", str(config), "--out", str(folder / "run")])
    assert result.exit_code == 0, result.output
    return folder


def test_bundle_holds_scaler_columns_window_and_horizon(trained):
    bundle = load(trained / "run" / "bundle")
    extra = bundle.info["timeseries"]
    assert extra["columns"] == ["temp", "load"] and extra["window"] == 16 and extra["horizon"] == 6
    assert extra["freq"] == "h" and extra["calendar"] is True
    temp = np.array([10 + np.cos(step / 4) for step in range(240)])  # the training rows: first 60% of 400
    assert extra["scaler"]["mean"][0] == pytest.approx(temp.mean(), abs=1e-4)
    assert extra["scaler"]["std"][0] == pytest.approx(temp.std(), abs=1e-4)
    assert bundle.model.config.input_size == 2 and bundle.model.config.known_size == 4


def test_cli_forecast_writes_csv_and_plot(trained, tmp_path):
    series = write_series(tmp_path / "new.csv", rows=50, start=1000)
    result = runner.invoke(app, ["forecast", str(trained / "run" / "bundle"), "--input", str(series),
                                 "--horizon", "4", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(tmp_path / "out" / "forecast.csv")))
    after_last = np.datetime64("2021-01-01T00", "h") + np.timedelta64(1050, "h")  # rows were hours 1000..1049
    assert len(rows) == 4 and rows[0]["timestamp"] == str(after_last) == "2021-02-13T18"
    assert float(rows[0]["lower"]) <= float(rows[0]["temp"]) <= float(rows[0]["upper"])
    assert (tmp_path / "out" / "forecast.png").stat().st_size > 1000


@pytest.mark.parametrize("command", ["forecast", "detect"])
def test_cli_output_that_cannot_be_written_is_one_error_line(trained, tmp_path, unwritable, user_error, command):
    series = write_series(tmp_path / "new.csv", rows=50, start=1000)
    arguments = [command, str(trained / "run" / "bundle"), "--input", str(series)]
    user_error(runner.invoke(app, [*arguments, "--out", str(unwritable / "out")]), "--out", str(unwritable))
    (tmp_path / "out" / f"{command}.csv").mkdir(parents=True)  # the folder is writable, the file is not
    user_error(runner.invoke(app, [*arguments, "--out", str(tmp_path / "out")]),
               str(tmp_path / "out" / f"{command}.csv"), "Is a directory")


def test_forecast_api_checks_its_input(trained, tmp_path):
    series = write_series(tmp_path / "new.csv", rows=50)
    with pytest.raises(ValueError, match="horizon: this direct model forecasts at most 6 steps, got 7"):
        forecast(trained / "run" / "bundle", series, 7)
    short = write_series(tmp_path / "short.csv", rows=10)
    with pytest.raises(ValueError, match="series: expected at least 16 rows"):
        forecast(trained / "run" / "bundle", short)
    (tmp_path / "other.csv").write_text("date,x\n2021-01-01 00:00:00,1\n")
    with pytest.raises(ValueError, match=r"series: expected the columns \['temp', 'load'\]"):
        forecast(trained / "run" / "bundle", tmp_path / "other.csv")
    result = runner.invoke(app, ["forecast", str(trained / "run" / "bundle"), "--input", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2 and "no such file" in result.output


def _rewrite(path, edit):
    """Apply ``edit`` to the data lines of a CSV (the header stays first)."""
    header, *lines = path.read_text().splitlines()
    path.write_text("\n".join([header, *edit(lines)]) + "\n")
    return path


def test_forecast_sorts_rows_out_of_time_order(trained, tmp_path, caplog):
    bundle = trained / "run" / "bundle"
    ordered = forecast(bundle, write_series(tmp_path / "ordered.csv", rows=50, start=1000))
    shuffled = _rewrite(write_series(tmp_path / "shuffled.csv", rows=50, start=1000),
                        lambda lines: [lines[i] for i in np.random.default_rng(0).permutation(len(lines))])
    with caplog.at_level("INFO", logger="rnnkit.timeseries.data"):
        result = forecast(bundle, shuffled)
    assert (result.timestamps == ordered.timestamps).all()
    np.testing.assert_array_equal(result.point, ordered.point)
    assert any("not in time order" in r.getMessage() for r in caplog.records)
    found = detect(bundle, shuffled, threshold=1.0)  # scores in time order too
    np.testing.assert_array_equal(found.scores, detect(bundle, tmp_path / "ordered.csv", threshold=1.0).scores)


def test_training_data_is_read_in_time_order(tmp_path):
    ordered = write_series(tmp_path / "ordered.csv", rows=100)
    shuffled = _rewrite(write_series(tmp_path / "shuffled.csv", rows=100),
                        lambda lines: [lines[i] for i in np.random.default_rng(1).permutation(len(lines))])
    tasks = [ForecastTask(ForecastOptions(dataset=str(path), window=8, horizon=2)) for path in (ordered, shuffled)]
    np.testing.assert_array_equal(tasks[0].data.past, tasks[1].data.past)


def test_repeated_timestamps_are_refused(trained, tmp_path):
    series = _rewrite(write_series(tmp_path / "dup.csv", rows=50), lambda lines: [*lines, lines[20]])
    with pytest.raises(ValueError, match=r"series: expected one row per timestamp.*2021-01-01T20.*lines \[22, 52\]"):
        forecast(trained / "run" / "bundle", series)
    result = runner.invoke(app, ["detect", str(trained / "run" / "bundle"), "--input", str(series)])
    assert result.exit_code == 2 and "one row per timestamp" in result.output


def test_missing_values_are_refused_only_in_the_rows_read(trained, tmp_path):
    bundle = trained / "run" / "bundle"
    complete = forecast(bundle, write_series(tmp_path / "complete.csv", rows=50))
    def blank(row):
        return lambda lines: [line if i != row else line.rsplit(",", 1)[0] + "," for i, line in enumerate(lines)]
    early = _rewrite(write_series(tmp_path / "early.csv", rows=50), blank(5))  # outside the last 16 rows
    np.testing.assert_array_equal(forecast(bundle, early).point, complete.point)
    late = _rewrite(write_series(tmp_path / "late.csv", rows=50), blank(40))
    with pytest.raises(ValueError, match="missing values of the last 16 rows"):
        forecast(bundle, late)
    with pytest.raises(ValueError, match="missing values"):
        detect(bundle, early, threshold=1.0)  # detect reads every row


def test_detect_on_a_series_too_short_to_score_fails_naming_the_window(trained, tmp_path):
    short = write_series(tmp_path / "short.csv", rows=21)  # 16 input rows + 6 horizon rows are needed
    with pytest.raises(ValueError, match=r"series: nothing to score: expected at least 22 rows \(the "
                                         r"forecaster's input window of 16 rows.*got 21"):
        detect(trained / "run" / "bundle", short, threshold=1.0)
    result = runner.invoke(app, ["detect", str(trained / "run" / "bundle"), "--input", str(short), "--threshold", "1",
                                 "--out", str(tmp_path / "out")])
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(errors) == 1 and "22 rows" in errors[0], result.output
    assert np.isfinite(detect(trained / "run" / "bundle", write_series(tmp_path / "enough.csv", rows=22),
                              threshold=1.0).scores).sum() == 1


def test_cli_detect_flags_an_injected_spike(trained, tmp_path):
    series = write_series(tmp_path / "new.csv", rows=120, start=400)
    text = open(series).read().splitlines()
    fields = text[61].split(",")
    fields[2] = str(float(fields[2]) + 50)  # row 60: a spike of 50 (the series' std is about 0.7)
    text[61] = ",".join(fields)
    series.write_text("\n".join(text) + "\n")
    result = runner.invoke(app, ["detect", str(trained / "run" / "bundle"), "--input", str(series),
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(tmp_path / "out" / "detect.csv")))
    assert len(rows) == 120 and rows[60]["flag"] == "1"
    found = detect(trained / "run" / "bundle", series, threshold=1e9)
    assert not found.flags.any() and found.threshold == 1e9


def test_autoencoder_task_bundle_and_detect(tmp_path):
    from rnnkit.training.config import RunConfig
    from rnnkit.training.run import save_run_bundle
    from rnnkit.training.trainer import Trainer

    frame = load_dataset("airline_passengers")
    options = AutoencoderOptions(dataset="airline_passengers", batch_size=16)
    task = AutoencoderTask(options, seed=0, frame=frame)
    config = RunConfig(task="anomaly_autoencoder", max_steps=5, device="cpu")
    result = Trainer(task, config, out_dir=tmp_path / "run").fit()
    folder = save_run_bundle(task, config, result)
    bundle = load(folder)
    assert bundle.info["kind"] == "autoencoder" and bundle.info["timeseries"]["threshold_quantile"] == 0.995
    series = tmp_path / "air.csv"
    series.write_text("Date,Passengers\n" + "".join(f"{str(t)},{v}\n" for t, v in
                                                     zip(frame.timestamps, frame.values[:, 0], strict=True)))
    found = detect(folder, series)
    assert found.scores.shape == (144,) and np.isfinite(found.scores).all()


def test_options_errors_name_the_field():
    with pytest.raises(ValueError, match="target: expected one of"):
        ForecastTask(ForecastOptions(dataset="airline_passengers", target="nope"))
    with pytest.raises(ValueError, match="dataset: expected one of"):
        ForecastTask(ForecastOptions(dataset="missing.csv"))
    with pytest.raises(ValueError, match="no training sample fits"):
        ForecastTask(ForecastOptions(dataset="airline_passengers", window=80, horizon=12))
    with pytest.raises(ValueError, match="calendar: expected a data set with timestamps"):
        ForecastTask(ForecastOptions(dataset="airline_passengers", calendar=True),
                     frame=load_dataset("airline_passengers")._replace(timestamps=None))
