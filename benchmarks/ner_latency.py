"""NER prediction latency against input length: ``rnnkit.predict.predict`` on one text of 1k, 10k, 100k characters.

Models (random weights: the time does not depend on them): a Weibo-sized character tagger (embedding 100,
BiLSTM 2 x 128, CRF over 17 tags, 3,500 characters; configs/weibo_ner.yaml) on Chinese text, and a
WNUT-17-sized word tagger (embedding 100, BiLSTM 2 x 100, character BiLSTM per word, CRF over 13 tags;
configs/wnut17.yaml) on English text. The texts are random characters or words from a fixed list with
sentence ends and spaces, seeded.

Configurations, interleaved within each repeat, median of ``--repeats``:

* ``pieces, 1 thread``: what ``rnnkit predict`` does (texts cut into pieces of at most 256 tokens, batched;
  one torch thread, rnnkit.threads.inference_threads);
* ``pieces, N threads``: the same with torch's default thread count;
* ``whole, N threads``: the text as one sequence (``max_tokens`` above its length), torch's default threads:
  the old behaviour's shape (the Viterbi back-pointer change is in both), only up to ``--whole-up-to``
  characters (10,000), as it takes minutes beyond on a busy machine.

Ratios are to ``pieces, N threads`` (what a Python caller gets with torch's default threads).

Writes benchmarks/results/ner_latency.json and prints a markdown table.

    .venv/bin/python benchmarks/ner_latency.py [--repeats 3] [--lengths 1000 10000 100000] [--whole-up-to 10000]
        [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch

from rnnkit.bundle import load, save
from rnnkit.models.tagger import Tagger, TaggerConfig
from rnnkit.predict import predict
from rnnkit.tasks.ner import tokenize
from rnnkit.text.tokenizer import SPECIAL_TOKENS, Tokenizer

RESULTS = Path(__file__).resolve().parent / "results"
WORDS = ("the", "a", "going", "to", "see", "Taylor", "Swift", "in", "London", "tonight", "new", "iPhone", "from",
         "Apple", "I", "love", "my", "@user", "#music", "it's", "great", "http://t.co/x1", "New", "York", "we")


def _labels(types: int) -> list[str]:
    return ["O", *(f"{prefix}-T{k}" for k in range(types) for prefix in ("B", "I"))]


def make_bundles(folder: Path) -> dict[str, Path]:
    torch.manual_seed(0)
    characters = [chr(0x4E00 + i) for i in range(3500)]
    chinese = Tokenizer([*SPECIAL_TOKENS, *characters, "。", "，"], level="char")
    labels = _labels(8)
    model = Tagger(TaggerConfig(vocab_size=len(chinese), labels=tuple(labels), embedding_size=100, hidden_size=128))
    bundles = {"weibo-size, characters": save(folder / "zh", model.eval(), chinese, task="ner",
                                              extra={"labels": labels, "lowercase": False, "split": "char"})}
    english = Tokenizer([*SPECIAL_TOKENS, *sorted({w.lower() for w in WORDS}), ".", ",", "!"], level="word")
    chars = Tokenizer.build(WORDS + (".,!",), level="char")
    labels = _labels(6)
    model = Tagger(TaggerConfig(vocab_size=len(english), labels=tuple(labels), embedding_size=100, hidden_size=100,
                                char_vocab_size=len(chars)))
    bundles["wnut17-size, words"] = save(folder / "en", model.eval(), english, task="ner", tokenizers={"chars": chars},
                                         extra={"labels": labels, "lowercase": True, "split": "word",
                                                "max_word_length": 20})
    return bundles


def make_text(kind: str, length: int) -> str:
    rng = random.Random(length)
    parts: list[str] = []
    size = 0
    while size < length:
        if kind.endswith("characters"):
            sentence = "".join(chr(0x4E00 + rng.randrange(3500)) for _ in range(rng.randint(10, 40))) + "。"
        else:
            sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 20))) + rng.choice(".,!") + " "
        parts.append(sentence)
        size += len(sentence)
    return "".join(parts)[:length]


def seconds(bundle, text: str, max_tokens: int, threads: int) -> float:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        start = time.perf_counter()
        predict(bundle, [text], max_tokens=max_tokens)
        return time.perf_counter() - start
    finally:
        torch.set_num_threads(previous)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lengths", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--whole-up-to", type=int, default=10000, help="time the whole-text path up to this length")
    parser.add_argument("--quick", action="store_true", help="lengths 1000 and 10000, one repeat")
    args = parser.parse_args()
    if args.quick:
        args.lengths, args.repeats = [1000, 10000], 1
    default_threads, load_before = torch.get_num_threads(), os.getloadavg()
    configs = {"pieces, 1 thread": (256, 1), f"pieces, {default_threads} threads": (256, default_threads),
               f"whole, {default_threads} threads": (10**9, default_threads)}
    baseline = f"pieces, {default_threads} threads"
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        bundles = {name: load(path) for name, path in make_bundles(Path(folder)).items()}
        for name, bundle in bundles.items():
            for length in args.lengths:
                text = make_text(name, length)
                predict(bundle, [text[:2000]])  # warm-up
                tokens = len(tokenize(text, bundle.info["split"])[0])
                chosen = {c: v for c, v in configs.items() if not c.startswith("whole") or length <= args.whole_up_to}
                times: dict[str, list[float]] = {config: [] for config in chosen}
                for _ in range(args.repeats):
                    for config, (max_tokens, threads) in chosen.items():  # interleaved
                        times[config].append(seconds(bundle, text, max_tokens, threads))
                for config, values in times.items():
                    median = statistics.median(values)
                    rows.append({"model": name, "characters": length, "tokens": tokens, "config": config,
                                 "median_s": median, "ratio": median / statistics.median(times[baseline]),
                                 "runs_s": values})
                    print(f"{name} {length} chars {config}: {median:.3f} s", flush=True)
    report = {"machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                          "torch": torch.__version__, "default_threads": default_threads,
                          "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
                          "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "load_before": load_before},
              "repeats": args.repeats, "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ner_latency.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"\n| model | characters | tokens | configuration | median s | vs {baseline} |")
    print("|---|---:|---:|---|---:|---:|")
    for row in rows:
        print(f"| {row['model']} | {row['characters']:,} | {row['tokens']:,} | {row['config']} | "
              f"{row['median_s']:.3f} | x{row['ratio']:.2f} |")


if __name__ == "__main__":
    main()
