"""Unigram and Kneser-Ney bigram validation nats per character on the poem task's split.

    python benchmarks/poem_baselines.py [--json benchmarks/results/poem_baselines.json]

Same split (95/5 by poem, random.Random(0)), same tokenizer (characters seen once in training are <unk>)
and same targets (characters, punctuation and the end token after the form token) as the poem task's
validation loss, so the numbers compare directly with `rnnkit eval` on a poem bundle.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from rnnkit.poems.baselines import evaluate_baselines, poem_sequences
from rnnkit.poems.data import load_poems, split_poems
from rnnkit.poems.task import PoemTaskConfig, build_poem_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    config = PoemTaskConfig()
    tic = time.perf_counter()
    split = split_poems(load_poems(), config.val_fraction, config.split_seed)
    tokenizer = build_poem_tokenizer(split.train, config.min_count)
    train, val = poem_sequences(split.train, tokenizer), poem_sequences(split.val, tokenizer)
    result = evaluate_baselines(train, val, len(tokenizer))
    seconds = time.perf_counter() - tic
    print(f"poems: {len(split.train)} train / {len(split.val)} validation, vocabulary {len(tokenizer)}, "
          f"{result.tokens} validation tokens")
    print(f"{'model':<24}{'nats/char':>10}{'bits/char':>10}{'perplexity':>12}")
    for name, nats in (("unigram (add-one)", result.unigram), ("Kneser-Ney bigram", result.bigram_kn)):
        print(f"{name:<24}{nats:>10.3f}{nats / 0.6931471805599453:>10.3f}{2.718281828459045 ** nats:>12.1f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            **result._asdict(), "train_poems": len(split.train), "val_poems": len(split.val),
            "vocab_size": len(tokenizer), "seconds": seconds, "machine": platform.machine(),
            "python": platform.python_version(), "torch": torch.__version__,
        }, indent=2))


if __name__ == "__main__":
    main()
