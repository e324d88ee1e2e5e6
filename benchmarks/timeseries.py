"""The time-series comparison: every recurrent model and every baseline, per data set and horizon.

For each experiment (a config in configs/timeseries/), on the same split, scaler and test origins:

* RNN variants, each trained with `rnnkit train` (the config, plus an override) for the same number of
  optimizer steps (with a time cap as a safety net; the table says how many steps each did), the best
  validated weights kept: ``lstm`` (the config: direct multi-horizon, point), ``gru``,
  ``lstm_recursive`` (autoregressive), ``lstm_seq2seq``, ``lstm_gaussian``, ``lstm_quantile`` and
  ``lstm_calendar`` (known-future calendar covariates; not for yearly data).
* Baselines (rnnkit.timeseries.baselines): naive, seasonal naive, ETS and ARIMA (statsmodels; parameters
  estimated once on the training rows, then applied at each origin without re-estimation).

Two evaluations of the test part:

1. **backtest**: ``origins`` evenly spaced rolling origins (all test origins for AirPassengers and
   sunspots; 100 for ETT and CO2, which keeps ETS/ARIMA affordable), every model and baseline, MAE/RMSE/MASE/sMAPE in the original
   units (MASE scaled by the training part's seasonal-naive MAE), interval coverage for probabilistic models.
2. **full test set** (ETT only): every test origin, MSE/MAE on the z-scored target, the protocol of the
   published Informer/DLinear univariate tables; RNNs, naive and seasonal naive.

Anomaly detection (ETTh1 OT, z-scored): seeded spikes, level shifts and variance changes injected into the
validation part (seed 1) and the test part (seed 2); each detector's threshold is the one with the best F1 on
the validation labels; precision/recall/F1 on the test part. Detectors: the forecast residual of the
``etth1_h24`` LSTM (first horizon step), the reconstruction error of the configs/timeseries/etth1_anomaly.yaml
autoencoder, and a rolling z-score (48 h).

Writes benchmarks/results/timeseries.json (merged: experiments not run keep their previous results), PNGs
in docs/images/timeseries/, and prints the tables.

    python benchmarks/timeseries.py                         # everything (about 30 min on the 2-core CPU)
    python benchmarks/timeseries.py --only etth1_h24        # one experiment (< 10 min)
    python benchmarks/timeseries.py --only anomaly
    python benchmarks/timeseries.py --quick                 # seconds per model: a smoke test
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from layers import machine  # noqa: E402  (benchmarks/layers.py: CPU, threads, torch version)

from rnnkit.bundle import load  # noqa: E402
from rnnkit.timeseries import baselines, metrics  # noqa: E402
from rnnkit.timeseries.anomaly import (  # noqa: E402
    choose_threshold,
    flag,
    inject_anomalies,
    label_kinds,
    reconstruction_scores,
    residual_scores,
    rolling_zscore,
)
from rnnkit.timeseries.data import rolling_origins, window_origins  # noqa: E402
from rnnkit.timeseries.forecast import predict_at_origins  # noqa: E402
from rnnkit.training.run import load_run, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs" / "timeseries"
RESULTS = ROOT / "benchmarks" / "results" / "timeseries.json"
IMAGES = ROOT / "docs" / "images" / "timeseries"

VARIANTS = {
    "lstm": [],
    "gru": ["task_options.model.cell=gru"],
    "lstm_recursive": ["task_options.model.decoder=recursive"],
    "lstm_seq2seq": ["task_options.model.decoder=seq2seq"],
    "lstm_gaussian": ["task_options.model.output=gaussian"],
    "lstm_quantile": ["task_options.model.output=quantile"],
    "lstm_calendar": ["task_options.calendar=true"],
}

# name -> config, training steps and time cap (s) per RNN, backtest origins (None: all), ETS and ARIMA settings
EXPERIMENTS = {
    "etth1_h24": dict(config="etth1_h24.yaml", budget=90, steps=800, origins=100, full_test=True,
                      ets=dict(period=24), arima=dict(order=(1, 0, 1), seasonal_order=(0, 1, 1, 24))),
    "etth1_h96": dict(config="etth1_h96.yaml", budget=90, steps=800, origins=100, full_test=True,
                      ets=dict(period=24), arima=dict(order=(1, 0, 1), seasonal_order=(0, 1, 1, 24))),
    "etth2_h24": dict(config="etth2_h24.yaml", budget=90, steps=800, origins=100, full_test=True,
                      ets=dict(period=24), arima=dict(order=(1, 0, 1), seasonal_order=(0, 1, 1, 24))),
    "airline": dict(config="airline.yaml", budget=60, steps=300, origins=None, full_test=False,
                    ets=dict(period=12, trend=True, damped_trend=True, history=10_000),
                    arima=dict(order=(0, 1, 1), seasonal_order=(0, 1, 1, 12), history=10_000)),
    "sunspots": dict(config="sunspots.yaml", budget=60, steps=600, origins=None, full_test=False,
                     ets=dict(period=None, history=10_000),
                     arima=dict(order=(2, 0, 1), trend="c", history=10_000)),
    "co2": dict(config="co2.yaml", budget=60, steps=600, origins=100, full_test=False,
                ets=dict(period=52, trend=True, history=520),  # 10 years of weeks before each origin
                arima=dict(order=(1, 1, 1), seasonal_order=(0, 1, 1, 52), history=520)),
}

logger = logging.getLogger("benchmarks.timeseries")


def train_variant(config: Path, overrides: list[str], folder: Path) -> tuple[object, float, int]:
    tic = time.perf_counter()
    result = train(config, overrides, out_dir=folder)
    seconds = time.perf_counter() - tic
    return load(folder / "bundle"), seconds, result.step


def evaluate(actual: np.ndarray, forecast: np.ndarray, train_values: np.ndarray, period: int,
             lower: np.ndarray | None = None, upper: np.ndarray | None = None) -> dict:
    row = {"mae": metrics.mae(actual, forecast), "rmse": metrics.rmse(actual, forecast),
           "mase": metrics.mase(actual, forecast, train_values, period), "smape": metrics.smape(actual, forecast)}
    if lower is not None:
        row["coverage"] = metrics.coverage(actual, lower, upper)
    return row


def run_experiment(name: str, spec: dict, quick: bool, work: Path) -> dict:
    config = CONFIGS / spec["config"]
    budget = 3 if quick else spec["budget"]
    task = load_run(config).task
    data, options = task.data, task.options
    window, horizon = options.window, options.horizon
    splits, scaler, period = data.splits, data.scaler, data.period
    scaled = data.past[:, 0]
    original = scaler.inverse(scaled)
    train_values = original[splits.train]
    backtest = rolling_origins(splits.test, horizon, spec["origins"], window=window)
    full = window_origins(splits.test, window, horizon, history_start=0)
    actual = original[backtest[:, None] + np.arange(horizon)]
    actual_scaled = scaled[full[:, None] + np.arange(horizon)]
    rows, full_rows, forecasts = [], [], {}
    variants = {k: v for k, v in VARIANTS.items() if not (k == "lstm_calendar" and data.freq == "Y")}
    for variant, extra in variants.items():
        overrides = extra + [f"max_time_s={budget}"] + (["max_steps=40", "validation.every=20"] if quick else
                                                          [f"max_steps={spec['steps']}"])
        bundle, seconds, steps = train_variant(config, overrides, work / f"{name}-{variant}")
        model = bundle.model
        ts = bundle.info["timeseries"]
        known = task.data.known if not ts["calendar"] else load_run(config, extra).task.data.known
        result = predict_at_origins(model, data.past, known, backtest, window)
        point = scaler.inverse(result.point)
        lower = None if result.lower is None else scaler.inverse(result.lower)
        upper = None if result.upper is None else scaler.inverse(result.upper)
        row = {"model": variant, **evaluate(actual, point, train_values, period, lower, upper),
               "train_s": round(seconds, 1), "steps": steps}
        rows.append(row)
        forecasts[variant] = (point, lower, upper)
        if spec["full_test"]:
            whole = predict_at_origins(model, data.past, known, full, window).point
            full_rows.append({"model": variant, "mse": metrics.mse(actual_scaled, whole),
                              "mae": metrics.mae(actual_scaled, whole)})
        logger.info("%s %s: MAE %.4g in %.0f s (%d steps)", name, variant, row["mae"], seconds, steps)
    # baselines on the original units (ETS/ARIMA fitted on the training rows)
    tic = time.perf_counter()
    base = {"naive": baselines.naive(original, backtest, horizon),
            "seasonal_naive": baselines.seasonal_naive(original, backtest, horizon, period)}
    timings = {"naive": 0.0, "seasonal_naive": 0.0}
    for method in ("ets", "arima"):
        tic = time.perf_counter()
        settings = dict(spec[method])
        if quick:
            settings["fit_rows"] = 300
        function = getattr(baselines, method)
        base[method] = function(original, backtest, horizon, train=splits.train, **settings)
        timings[method] = time.perf_counter() - tic
    for method, point in base.items():
        rows.append({"model": method, **evaluate(actual, point, train_values, period),
                     "train_s": round(timings[method], 1), "steps": None})
        forecasts[method] = (point, None, None)
    if spec["full_test"]:
        for method, point in (("naive", baselines.naive(scaled, full, horizon)),
                              ("seasonal_naive", baselines.seasonal_naive(scaled, full, horizon, period))):
            full_rows.append({"model": method, "mse": metrics.mse(actual_scaled, point),
                              "mae": metrics.mae(actual_scaled, point)})
    plot_experiment(name, data, original, backtest, horizon, forecasts)
    best = min(rows, key=lambda r: r["mae"])["model"]
    return {"dataset": options.dataset, "target": data.columns[0], "window": window, "horizon": horizon,
            "split": {k: [v.start, v.stop] for k, v in splits._asdict().items()}, "period": period,
            "backtest_origins": len(backtest), "full_test_origins": len(full) if spec["full_test"] else None,
            "budget_s": budget, "rows": rows, "full_test": full_rows, "best_mae": best}


def plot_experiment(name: str, data: object, original: np.ndarray, origins: np.ndarray, horizon: int,
                    forecasts: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    IMAGES.mkdir(parents=True, exist_ok=True)
    pick = len(origins) // 2
    origin = int(origins[pick])
    shown = max(3 * horizon, 48)
    x = np.arange(origin - shown, origin + horizon)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.plot(x, original[x], color="black", linewidth=1, label="actual")
    steps = np.arange(origin, origin + horizon)
    for model, color in (("lstm", "tab:blue"), ("lstm_gaussian", "tab:purple"), ("seasonal_naive", "tab:orange"),
                         ("ets", "tab:green"), ("arima", "tab:red")):
        point, lower, upper = forecasts[model]
        ax.plot(steps, point[pick], color=color, linewidth=1.3, label=model)
        if lower is not None:
            ax.fill_between(steps, lower[pick], upper[pick], color=color, alpha=0.2, label="80% interval")
    ax.axvline(origin - 0.5, color="gray", linestyle=":", linewidth=1)
    ax.set_title(f"{name}: {data.columns[0]}, test origin row {origin}")
    ax.set_xlabel("row")
    ax.legend(loc="upper left", fontsize=8, ncol=3)
    fig.tight_layout()
    fig.savefig(IMAGES / f"{name}.png", dpi=100)
    plt.close(fig)


def run_anomaly(quick: bool, work: Path) -> dict:
    budget = 3 if quick else 90
    quick_steps = ["max_steps=40", "validation.every=20"] if quick else ["max_steps=800"]
    forecaster, f_seconds, _ = train_variant(CONFIGS / "etth1_h24.yaml", [f"max_time_s={budget}"] + quick_steps,
                                             work / "anomaly-forecaster")
    autoencoder, a_seconds, _ = train_variant(CONFIGS / "etth1_anomaly.yaml", [f"max_time_s={budget}"] + quick_steps,
                                              work / "anomaly-autoencoder")
    task = load_run(CONFIGS / "etth1_h24.yaml").task
    splits, scaled = task.data.splits, task.data.past[:, 0].astype(np.float64)
    val_inj = inject_anomalies(scaled, seed=1, rows=splits.val)
    both = inject_anomalies(val_inj.values, seed=2, rows=splits.test)
    values, labels = both.values, val_inj.labels | both.labels
    series = values[:splits.test.stop, None]
    detectors = {
        "lstm_residual": residual_scores(forecaster.model, series, None, task.options.window),
        "lstm_autoencoder": reconstruction_scores(autoencoder.model, series),
        "rolling_zscore": rolling_zscore(values[:splits.test.stop], 48),
    }
    rows = []
    kinds = label_kinds(both.events, splits.test.stop)
    for name, scores in detectors.items():
        threshold = choose_threshold(scores[splits.val], labels[splits.val])
        flags = flag(scores, threshold)
        result = metrics.detection_scores(flags[splits.test], labels[splits.test])
        recall = {kind: float(flags[splits.test][mask[splits.test]].mean()) if mask[splits.test].any() else None
                  for kind, mask in kinds.items()}
        rows.append({"detector": name, "threshold": threshold, "precision": result.precision, "recall": result.recall,
                     "f1": result.f1, "recall_by_kind": recall})
    plot_anomaly(values, labels, detectors, rows, splits)
    return {"series": "ETTh1 OT (z-scored)", "val_events": [e._asdict() for e in val_inj.events],
            "test_events": [e._asdict() for e in both.events], "rows": rows,
            "train_s": {"lstm_residual": round(f_seconds, 1), "lstm_autoencoder": round(a_seconds, 1)}}


def plot_anomaly(values: np.ndarray, labels: np.ndarray, detectors: dict, rows: list, splits: object) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    IMAGES.mkdir(parents=True, exist_ok=True)
    test = np.arange(splits.test.start, splits.test.stop)
    fig, axes = plt.subplots(len(detectors) + 1, 1, figsize=(11, 7), sharex=True)
    axes[0].plot(test, values[test], color="black", linewidth=0.6)
    axes[0].scatter(test[labels[test]], values[test][labels[test]], color="tab:orange", s=6, label="injected")
    axes[0].legend(loc="upper left", fontsize=8)
    axes[0].set_ylabel("OT (scaled)")
    for ax, (name, scores), row in zip(axes[1:], detectors.items(), rows, strict=True):
        flags = flag(scores, row["threshold"])
        ax.plot(test, scores[test], color="tab:gray", linewidth=0.6)
        ax.scatter(test[flags[test]], scores[test][flags[test]], color="tab:red", s=6)
        ax.axhline(row["threshold"], color="tab:red", linestyle="--", linewidth=0.8)
        ax.set_ylabel(name, fontsize=8)
        ax.set_title(f"{name}: precision {row['precision']:.2f}, recall {row['recall']:.2f}, F1 {row['f1']:.2f}",
                     fontsize=8)
    axes[-1].set_xlabel("row (test part)")
    fig.tight_layout()
    fig.savefig(IMAGES / "anomaly.png", dpi=100)
    plt.close(fig)


def print_tables(results: dict) -> None:
    for name, experiment in results.get("experiments", {}).items():
        print(f"\n## {name}: {experiment['dataset']} {experiment['target']}, window {experiment['window']}, "
              f"horizon {experiment['horizon']}, {experiment['backtest_origins']} test origins")
        print("| model | MAE | RMSE | MASE | sMAPE % | coverage (80%) | train s | steps |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for row in sorted(experiment["rows"], key=lambda r: r["mae"]):
            cov = f"{row['coverage']:.3f}" if "coverage" in row else ""
            print(f"| {row['model']} | {row['mae']:.4g} | {row['rmse']:.4g} | {row['mase']:.3f} | {row['smape']:.2f} "
                  f"| {cov} | {row['train_s']} | {row['steps'] if row['steps'] is not None else ''} |")
        if experiment["full_test"]:
            print(f"\nfull test set ({experiment['full_test_origins']} origins), z-scored target:")
            print("| model | MSE | MAE |\n|---|---:|---:|")
            for row in sorted(experiment["full_test"], key=lambda r: r["mse"]):
                print(f"| {row['model']} | {row['mse']:.4f} | {row['mae']:.4f} |")
    anomaly = results.get("anomaly")
    if anomaly:
        print("\n## anomaly detection: " + anomaly["series"])
        print("| detector | precision | recall | F1 | recall spike | level shift | variance |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for row in anomaly["rows"]:
            r = row["recall_by_kind"]
            print(f"| {row['detector']} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | "
                  f"{r['spike']:.2f} | {r['level_shift']:.2f} | {r['variance']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", default=None,
                        help=f"experiments to run: {', '.join(EXPERIMENTS)}, anomaly (default: all)")
    parser.add_argument("--quick", action="store_true", help="seconds per model: a smoke test (not written)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    logger.setLevel(logging.INFO)
    names = args.only or [*EXPERIMENTS, "anomaly"]
    unknown = [n for n in names if n not in EXPERIMENTS and n != "anomaly"]
    if unknown:
        parser.error(f"--only: expected names among {[*EXPERIMENTS, 'anomaly']}, got {unknown}")
    results = json.loads(args.out.read_text()) if args.out.is_file() and not args.quick else {}
    results.setdefault("experiments", {})
    results["machine"] = machine()
    results["note"] = "2-core CPU shared with other agents' jobs while measured: seconds are upper bounds"
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            tic = time.perf_counter()
            if name == "anomaly":
                results["anomaly"] = run_anomaly(args.quick, Path(tmp))
                results["anomaly"]["wall_s"] = round(time.perf_counter() - tic, 1)
                print_tables({"anomaly": results["anomaly"]})
            else:
                results["experiments"][name] = run_experiment(name, EXPERIMENTS[name], args.quick, Path(tmp))
                results["experiments"][name]["wall_s"] = round(time.perf_counter() - tic, 1)
                print_tables({"experiments": {name: results["experiments"][name]}})
            logger.info("%s done in %.0f s", name, time.perf_counter() - tic)
            if not args.quick:  # after each experiment: an interrupted run keeps what it finished
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(results, indent=1))
    if not args.quick:
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
