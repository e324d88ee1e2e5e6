"""int8 dynamic quantization (rnnkit.quantize) against float32, in one run: decoding speed at batch 1 and 32,
and the quality cost on a trained poem bundle.

    .venv/bin/python benchmarks/quantize.py [--bundle runs/demo/bundle] [--repeats 5]

Speed: greedy decoding of 64 new tokens after a 16-token prompt, tokens/s, 1 thread, alternating, median of
the repeats: PyTorch float32 and int8 (rnnkit.quantize), and onnxruntime float32 and int8 (rnnkit export,
--quantize int8) fed one token at a time with the state carried; two random-weight LSTM language models: the demo's shape (vocabulary
5,533, embedding 256, 1 x 384, adaptive softmax) and benchmarks/generate.py's (vocabulary 6,000, 256, 2 x 512,
full softmax). Quality (with --bundle): validation nats per character of the bundle's own task and split,
float32 and int8. Writes benchmarks/results/quantize.json and prints a table.
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

from rnnkit.decoding import generate
from rnnkit.models.lm import LanguageModel, LanguageModelConfig
from rnnkit.quantize import quantize_dynamic

RESULTS = Path(__file__).resolve().parent / "results"
SHAPES = {
    "demo (5533, 256, 1x384, adaptive)": LanguageModelConfig(vocab_size=5533, embedding_size=256, hidden_size=384,
                                                            adaptive_cutoffs=(1000, 3000)),
    "generate.py (6000, 256, 2x512)": LanguageModelConfig(vocab_size=6000, embedding_size=256, hidden_size=512,
                                                         num_layers=2),
}


def tokens_per_second(model, batch: int, vocab_size: int, new_tokens: int = 64) -> float:
    prompt = torch.randint(0, vocab_size, (batch, 16), generator=torch.Generator().manual_seed(batch))
    start = time.perf_counter()
    with torch.no_grad():
        generate(model, prompt, method="greedy", max_new_tokens=new_tokens)
    return batch * new_tokens / (time.perf_counter() - start)


def onnx_tokens_per_second(session, config, batch: int, new_tokens: int = 64) -> float:
    """Greedy decoding with an exported graph: the prompt in one call, then one token per call."""
    import numpy as np

    prompt = torch.randint(0, config.vocab_size, (batch, 16), generator=torch.Generator().manual_seed(batch))
    names = [i.name for i in session.get_inputs()]
    states = [np.zeros((config.num_layers, batch, config.hidden_size), np.float32) for _ in names[2:]]
    start = time.perf_counter()
    tokens, lengths = prompt.numpy(), np.full((batch,), 16, np.int64)
    for _ in range(new_tokens):
        logits, *states = session.run(None, dict(zip(names, (tokens, lengths, *states), strict=True)))
        tokens, lengths = logits[:, -1].argmax(-1)[:, None].astype(np.int64), np.ones((batch,), np.int64)
    return batch * new_tokens / (time.perf_counter() - start)


def _sessions(model: LanguageModel, folder: Path) -> dict:
    import onnxruntime

    from rnnkit.bundle import save
    from rnnkit.export import export_bundle
    from rnnkit.text import Tokenizer
    from rnnkit.text.tokenizer import SPECIAL_TOKENS

    tokenizer = Tokenizer([*SPECIAL_TOKENS, *(f"t{i}" for i in range(model.config.vocab_size - 4))])  # right size
    bundle = save(folder / "bundle", model, tokenizer, task="benchmark")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    files = {"onnx fp32": export_bundle(bundle).path, "onnx int8": export_bundle(bundle, quantize="int8").path}
    return {label: onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            for label, path in files.items()}


def speed(repeats: int) -> list[dict]:
    import tempfile

    rows = []
    for name, config in SHAPES.items():
        torch.manual_seed(0)
        fp32 = LanguageModel(config).eval()
        models = {"fp32": fp32, "int8": quantize_dynamic(fp32)}
        with tempfile.TemporaryDirectory() as folder:
            sessions = _sessions(fp32, Path(folder))
        for batch in (1, 32):
            runs = {label: [] for label in (*models, *sessions)}
            for _ in range(repeats):
                for label, model in models.items():
                    runs[label].append(tokens_per_second(model, batch, config.vocab_size))
                for label, session in sessions.items():
                    runs[label].append(onnx_tokens_per_second(session, config, batch))
            row = {"model": name, "batch": batch, **{k: statistics.median(v) for k, v in runs.items()}}
            rows.append(row)
            print(f"{name:36s} batch {batch:2d}  " + "  ".join(f"{k} {row[k]:8.1f}" for k in runs) + " tokens/s",
                  flush=True)
    return rows


def quality(bundle_path: str) -> dict:
    from rnnkit.bundle import load
    from rnnkit.config import from_dict
    from rnnkit.training.config import RunConfig
    from rnnkit.training.registry import build_task
    from rnnkit.training.trainer import evaluate

    bundle = load(bundle_path)
    config = from_dict(RunConfig, bundle.info["run_config"], source=bundle_path)
    task = build_task(config.task, config.task_options, seed=config.seed, source=bundle_path)
    result = {"bundle": str(bundle_path), "task": config.task}
    for label, model in (("fp32", bundle.model.eval()), ("int8", quantize_dynamic(bundle.model))):
        result[label] = evaluate(task, model, torch.device("cpu"))["val_loss"]
        print(f"{label}: validation {result[label]:.4f} nats per token", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--bundle", help="a trained language-model bundle for the quality cost, e.g. runs/demo/bundle")
    args = parser.parse_args()
    torch.set_num_threads(1)
    machine = {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__, "threads": 1,
               "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "(unset)"), "repeats": args.repeats}
    print(machine)
    results = {"machine": machine, "speed": speed(args.repeats)}
    if args.bundle:
        results["quality"] = quality(args.bundle)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "quantize.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
