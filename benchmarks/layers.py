"""Speed of rnnkit's layers against torch.nn, measured in the same run.

For each of RNN/LSTM/GRU at two shapes, forward (inference, under no_grad) and forward+backward: the median
time of torch.nn, rnnkit with backend="native" and backend="loop", and the matmul limit (the same
matrix multiplies the layer needs, run as plain torch.mm calls, with no elementwise work and no Python per
step beyond the calls). Implementations are interleaved within each repeat so that drifts in machine load hit
all of them alike. Prints a table and writes benchmarks/results/layers.json.

    python benchmarks/layers.py [--repeats 15] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

import rnnkit

SHAPES = [  # (batch, steps, input_size, hidden_size)
    (32, 100, 128, 256),
    (1, 1000, 32, 128),
]
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def matmul_limit(kind: str, batch: int, steps: int, input_size: int, hidden: int, backward: bool):
    """The layer's matrix multiplies alone: input projection, one recurrent multiply per step, and in the
    backward pass the input and weight gradients (one multiply each) plus one recurrent multiply per step."""
    rows = GATES[kind] * hidden
    x = torch.randn(steps * batch, input_size)
    w_ih, w_hh = torch.randn(rows, input_size), torch.randn(rows, hidden)
    h = torch.randn(batch, hidden)
    grad = torch.randn(steps * batch, rows)
    states = torch.randn(steps * batch, hidden)

    def run():
        torch.mm(x, w_ih.t())
        for _ in range(steps):
            torch.mm(h, w_hh.t())
        if backward:
            torch.mm(grad, w_ih)
            torch.mm(grad.t(), x)
            for t in range(steps):
                torch.mm(grad[t * batch:(t + 1) * batch], w_hh)
            torch.mm(grad.t(), states)

    return run


def layer_runner(module, x, backward: bool):
    if not backward:
        def run():
            with torch.no_grad():
                module(x)
        return run

    def run():
        out, _ = module(x)
        out.sum().backward()
    return run


def measure(repeats: int, shapes, kinds):
    rows = []
    for kind in kinds:
        for batch, steps, input_size, hidden in shapes:
            torch.manual_seed(0)
            reference = getattr(torch.nn, kind)(input_size, hidden)
            impls = {"torch.nn": reference}
            for backend in ("native", "loop"):
                module = getattr(rnnkit, kind)(input_size, hidden, backend=backend)
                module.load_state_dict(reference.state_dict())
                impls[backend] = module
            for backward in (False, True):
                x = torch.randn(steps, batch, input_size, requires_grad=backward)
                runners = {name: layer_runner(m, x, backward) for name, m in impls.items()}
                runners["matmul limit"] = matmul_limit(kind, batch, steps, input_size, hidden, backward)
                times = {name: [] for name in runners}
                for run in runners.values():  # warm-up
                    run()
                for _ in range(repeats):
                    for name, run in runners.items():
                        start = time.perf_counter()
                        run()
                        times[name].append(time.perf_counter() - start)
                base = statistics.median(times["torch.nn"])
                for name, values in times.items():
                    median = statistics.median(values)
                    rows.append({"kind": kind, "batch": batch, "steps": steps, "input_size": input_size,
                                 "hidden_size": hidden, "pass": "forward+backward" if backward else "forward",
                                 "impl": name, "median_ms": round(median * 1e3, 3),
                                 "ratio_to_torch": round(median / base, 3)})
                    print(f"{kind:5} B={batch:<3} T={steps:<5} I={input_size:<4} H={hidden:<4} "
                          f"{rows[-1]['pass']:17} {name:13} {median * 1e3:9.2f} ms  x{median / base:5.2f}",
                          flush=True)
    return rows


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "(unset)")}


def markdown(rows) -> str:
    """The results as a markdown table, one line per layer, shape and pass, ratios to torch.nn."""
    lines = ["| layer | shape (B, T, I, H) | pass | torch.nn ms | native | loop | matmul limit |",
             "|---|---|---|---:|---:|---:|---:|"]
    keys = []
    for row in rows:
        key = (row["kind"], row["batch"], row["steps"], row["input_size"], row["hidden_size"], row["pass"])
        if key not in keys:
            keys.append(key)
    for key in keys:
        cells = {r["impl"]: r for r in rows
                 if (r["kind"], r["batch"], r["steps"], r["input_size"], r["hidden_size"], r["pass"]) == key}
        kind, batch, steps, input_size, hidden, phase = key
        lines.append(f"| {kind} | {batch}, {steps}, {input_size}, {hidden} | {phase} | "
                     f"{cells['torch.nn']['median_ms']:.1f} | x{cells['native']['ratio_to_torch']:.2f} | "
                     f"x{cells['loop']['ratio_to_torch']:.2f} | x{cells['matmul limit']['ratio_to_torch']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="3 repeats, LSTM only, first shape")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "layers.json"))
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    shapes, kinds = (SHAPES[:1], ["LSTM"]) if args.quick else (SHAPES, list(GATES))
    info = machine()
    print(json.dumps(info))
    rows = measure(repeats, shapes, kinds)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": info, "repeats": repeats, "results": rows}, indent=1) + "\n")
    print(markdown(rows))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
