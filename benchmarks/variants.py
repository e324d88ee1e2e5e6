"""Speed of the recurrent variants against torch.nn, measured in the same run (forward + backward).

1. LSTM variants at (batch 32, steps 100, input 128, hidden 256), each as a ratio to torch.nn.LSTM: the plain
   loop backend (rnnkit.fused), layer norm, recurrent dropout, weight drop (loop backend and, since the dropped
   weight can be handed to torch's kernel, the native backend), zoneout, and, for reference, the plain-autograd
   path of the layer-norm LSTM (``fused_loop=False``: what a hand-written LayerNorm LSTM in Python costs).
   Target: each variant within 2x of torch.nn.LSTM.
2. minGRU against torch.nn.GRU at the same sizes (batch 32, input 128, hidden 256) for 256, 1024 and 4096
   steps, in its two training modes: the log-space parallel scan and the fused linear recurrence (the
   default on a CPU). Goal: faster than nn.GRU from 1024 steps on.

Implementations are interleaved within each repeat (the machine may be shared: drifts in load hit all of them
alike) and the median is reported. Prints a table and writes benchmarks/results/variants.json.

    python benchmarks/variants.py [--repeats 7] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from layers import machine  # noqa: E402  (benchmarks/layers.py: CPU, threads, torch version)

import rnnkit  # noqa: E402
from rnnkit.variants import MinGRU  # noqa: E402

LSTM_SHAPE = (32, 100, 128, 256)  # batch, steps, input_size, hidden_size
LSTM_VARIANTS = {  # name -> (backend, options, fused_loop)
    "plain loop": ("loop", {}, True),
    "layer_norm": ("loop", {"layer_norm": True}, True),
    "recurrent_dropout=0.25": ("loop", {"recurrent_dropout": 0.25}, True),
    "weight_drop=0.5 (loop)": ("loop", {"weight_drop": 0.5}, True),
    "weight_drop=0.5 (native)": ("native", {"weight_drop": 0.5}, True),
    "zoneout=0.1": ("loop", {"zoneout": 0.1}, True),
    "layer_norm, plain autograd": ("loop", {"layer_norm": True}, False),
}
MIN_GRU_STEPS = (256, 1024, 4096)


def forward_backward(module, x, **kwargs):
    def run():
        out, _ = module(x, **kwargs)
        out.sum().backward()
    return run


def interleaved_medians(runners: dict, repeats: int) -> dict:
    for run in runners.values():  # warm-up
        run()
    times = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def lstm_variants(repeats: int) -> list[dict]:
    batch, steps, input_size, hidden = LSTM_SHAPE
    torch.manual_seed(0)
    reference = torch.nn.LSTM(input_size, hidden)
    x = torch.randn(steps, batch, input_size, requires_grad=True)
    runners = {"torch.nn.LSTM": forward_backward(reference, x)}
    for name, (backend, options, fused) in LSTM_VARIANTS.items():
        module = rnnkit.LSTM(input_size, hidden, backend=backend, **options)
        module.load_state_dict(reference.state_dict(), strict=False)
        module.fused_loop = fused
        runners[name] = forward_backward(module.train(), x)
    medians = interleaved_medians(runners, repeats)
    return ratio_rows("lstm_variants", f"LSTM B={batch} T={steps}", medians, "torch.nn.LSTM",
                      batch=batch, steps=steps, input_size=input_size, hidden_size=hidden)


def ratio_rows(benchmark: str, label: str, medians: dict, base_name: str, **shape) -> list[dict]:
    """One JSON row and one printed line per implementation, with its ratio to ``base_name``."""
    base = medians[base_name]
    rows = []
    for name, median in medians.items():
        rows.append({"benchmark": benchmark, "impl": name, **shape, "median_ms": round(median * 1e3, 3),
                     "ratio_to_torch": round(median / base, 3)})
        print(f"{label} I={shape['input_size']} H={shape['hidden_size']} fwd+bwd  {name:28} "
              f"{median * 1e3:9.2f} ms  x{median / base:5.2f}", flush=True)
    return rows


def min_gru(repeats: int, steps_list) -> list[dict]:
    batch, _, input_size, hidden = LSTM_SHAPE
    rows = []
    for steps in steps_list:
        torch.manual_seed(0)
        reference = torch.nn.GRU(input_size, hidden)
        ours = MinGRU(input_size, hidden)
        x = torch.randn(steps, batch, input_size, requires_grad=True)
        medians = interleaved_medians({"torch.nn.GRU": forward_backward(reference, x),
                                       "MinGRU parallel": forward_backward(ours, x, mode="parallel"),
                                       "MinGRU fused (CPU default)": forward_backward(ours, x, mode="fused")},
                                      repeats)
        rows += ratio_rows("min_gru", f"GRU  B={batch} T={steps:<5}", medians, "torch.nn.GRU",
                           batch=batch, steps=steps, input_size=input_size, hidden_size=hidden)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 repeats, minGRU at 256 and 1024 steps only")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "variants.json"))
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    info = machine()
    print(json.dumps(info))
    rows = lstm_variants(repeats) + min_gru(repeats, MIN_GRU_STEPS[:2] if args.quick else MIN_GRU_STEPS)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    note = ("machine shared with other jobs while measuring: absolute times are noisy; ratios come from "
            "interleaved runs in the same process")
    Path(args.out).write_text(json.dumps({"machine": info, "repeats": repeats, "note": note, "results": rows},
                                         indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()  # OMP_WAIT_POLICY must be set in the shell: OpenMP reads it when torch loads
