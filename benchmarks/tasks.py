"""The full training runs of issue 9 (sentiment, NER, series classification, LM transfer) and their quality table.

    python benchmarks/tasks.py                    # every run, in order (about an hour on a 2-core CPU)
    python benchmarks/tasks.py sst2 wnut17        # only these runs (names below)
    python benchmarks/tasks.py --table            # print the table of benchmarks/results/tasks.json

Each run is `rnnkit train CONFIG --out runs/bench/NAME` (in process), timed, then its bundle is scored on the
test split with rnnkit.tasks.evaluate_bundle. Results are merged into benchmarks/results/tasks.json (a run
re-measured replaces its old row) with the machine, threads, torch version and the load average seen.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rnnkit.tasks import evaluate_bundle  # noqa: E402
from rnnkit.tasks.series import load_series  # noqa: E402
from rnnkit.training.progress import LogProgress  # noqa: E402
from rnnkit.training.run import train  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "tasks.json"
RUNS = ROOT / "runs" / "bench"

# name -> (config, overrides, metric shown in the table, published reference)
BENCHMARKS: dict[str, tuple[str, list[str], str, str]] = {
    "sst2": ("configs/sst2.yaml", [], "accuracy", "sst2"),
    "sst2_attention": ("configs/sst2.yaml", ["task_options.model.pooling=attention"], "accuracy", "sst2"),
    "chnsenticorp": ("configs/chnsenticorp.yaml", [], "accuracy", "chnsenticorp"),
    "wnut17": ("configs/wnut17.yaml", [], "f1", "wnut17"),
    "wnut17_softmax": ("configs/wnut17_softmax.yaml", [], "f1", "wnut17"),
    "weibo": ("configs/weibo_ner.yaml", [], "f1", "weibo"),
    "resume": ("configs/resume_ner.yaml", [], "f1", "resume"),
    "japanese_vowels": ("configs/japanese_vowels.yaml", [], "accuracy", "japanese_vowels"),
    "italy_power": ("configs/italy_power.yaml", [], "accuracy", "italy_power"),
    "japanese_vowels_1nn_dtw": ("", [], "accuracy", "japanese_vowels"),
    "italy_power_1nn_dtw": ("", [], "accuracy", "italy_power"),
    "sst2_lm": ("configs/sst2_lm.yaml", [], "val_loss", "none"),
    "sst2_500_pretrained": ("configs/sst2_transfer.yaml", [f"task_options.pretrained={RUNS}/sst2_lm/bundle"],
                            "accuracy", "none"),
    "sst2_500_scratch": ("configs/sst2_transfer.yaml", ["task_options.pretrained=null"], "accuracy", "none"),
}


def _machine() -> dict:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}


def dtw_distances(query: np.ndarray, references: list[np.ndarray]) -> np.ndarray:
    """Full-window dependent DTW (squared Euclidean frame cost, summed along the path) from ``query`` (T, F)
    to each reference (T_j, F), vectorised over the references (padded; a reference's distance is read at
    its own last frame, which no padded cell can reach)."""
    longest = max(len(r) for r in references)
    padded = np.zeros((len(references), longest, query.shape[1]))
    for index, reference in enumerate(references):
        padded[index, : len(reference)] = reference
    cost = ((query[None, :, None, :] - padded[:, None, :, :]) ** 2).sum(-1)  # (N, T, L)
    total = np.full((len(references), len(query) + 1, longest + 1), np.inf)
    total[:, 0, 0] = 0.0
    for i in range(1, len(query) + 1):
        for j in range(1, longest + 1):
            best = np.minimum(np.minimum(total[:, i - 1, j], total[:, i, j - 1]), total[:, i - 1, j - 1])
            total[:, i, j] = cost[:, i - 1, j - 1] + best
    return total[np.arange(len(references)), len(query), [len(r) for r in references]]


def one_nn_dtw(dataset: str) -> dict:
    """1-nearest-neighbour DTW accuracy on the test split, trained on the whole training split (the
    archive's baseline protocol; raw values, no window)."""
    data = load_series(dataset)
    references = [series.double().numpy() for series, _ in data.train]
    labels = [label for _, label in data.train]
    correct = sum(labels[int(np.argmin(dtw_distances(series.double().numpy(), references)))] == label
                  for series, label in data.test)
    return {"accuracy": correct / len(data.test), "examples": float(len(data.test))}


def run(name: str) -> dict:
    config, overrides, metric, reference = BENCHMARKS[name]
    if name.endswith("_1nn_dtw"):
        start = time.perf_counter()
        test = one_nn_dtw(name.removesuffix("_1nn_dtw"))
        return {"name": name, "config": "1-NN DTW (benchmarks/tasks.py)", "overrides": [], "metric": metric,
                "reference": reference, "train_seconds": round(time.perf_counter() - start, 1), "steps": 0,
                "stopped": "", "best_step": None, "val": {}, "best_val": None, "test": test,
                "load_average_before": None, "load_average_after": None,
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    out = RUNS / name
    shutil.rmtree(out, ignore_errors=True)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    result = train(ROOT / config, overrides, out_dir=out, callbacks=[LogProgress(200)])
    seconds = time.perf_counter() - start
    test = {} if metric == "val_loss" else evaluate_bundle(out / "bundle", "test")
    return {"name": name, "config": config, "overrides": overrides, "metric": metric, "reference": reference,
            "train_seconds": round(seconds, 1), "steps": result.step, "stopped": result.stopped,
            "best_step": result.best_step, "val": result.metrics, "best_val": result.best_value, "test": test,
            "load_average_before": round(load_before, 2), "load_average_after": round(os.getloadavg()[0], 2),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def table(results: dict) -> str:
    lines = ["| run | test metric | value | precision | recall | train s | steps |", "|---|---|---|---|---|---|---|"]
    for name in BENCHMARKS:
        row = results.get("runs", {}).get(name)
        if row is None:
            continue
        test, metric = row["test"], row["metric"]
        value = row["best_val"] if metric == "val_loss" else test.get(metric)
        label = "val loss (nats/word)" if metric == "val_loss" else metric
        lines.append(f"| {name} | {label} | {value:.4f} | {test.get('precision', float('nan')):.4f} | "
                     f"{test.get('recall', float('nan')):.4f} | {row['train_seconds']:.0f} | {row['steps']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"runs to do (default all): {', '.join(BENCHMARKS)}")
    parser.add_argument("--table", action="store_true", help="only print the table of the saved results")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {"runs": {}}
    if not args.table:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
        unknown = sorted(set(args.names) - set(BENCHMARKS))
        if unknown:
            parser.error(f"unknown runs {unknown}; expected some of {list(BENCHMARKS)}")
        for name in args.names or list(BENCHMARKS):
            row = run(name)
            results["runs"][name] = row
            results["machine"] = _machine()
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
            print(f"{name}: {row['train_seconds']} s, test {row['test']}", flush=True)
    print(table(results))


if __name__ == "__main__":
    main()
