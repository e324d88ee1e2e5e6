"""Sequence-to-sequence runs at a fixed budget: the toy task, the attention comparison, eng->fra and cmn->eng.

Each run is ``rnnkit train CONFIG --set ...`` (the same code path as the command line) with the config's
time limit, then ``evaluate_translation`` on the held-out test split: corpus BLEU and chrF with sacrebleu,
greedy and beam 5. The comparison trains every attention (none = Sutskever et al. 2014, additive = Bahdanau
et al. 2015's score, dot and general = Luong et al. 2015) on the same data, split, model size and time budget.

    python benchmarks/seq2seq.py                      # everything (about 50 minutes on a 2-core CPU)
    python benchmarks/seq2seq.py --only toy           # toy runs only (about a minute)
    python benchmarks/seq2seq.py --only eng_fra --budget 120   # shorter comparison
    python benchmarks/seq2seq.py --only eng_fra --long 7       # rescore the bundles on sources of >= 7 tokens

Runs are sequential (one thread each) and their wall-clock seconds are recorded: on a shared machine they
depend on the load, so read the figures together with the recorded load average. Writes
benchmarks/results/seq2seq.json (merged into, by run name) and prints the table. Each run starts from an
empty runs/seq2seq-bench/NAME (removed first); its bundle stays in runs/seq2seq-bench/NAME/bundle.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from layers import machine  # noqa: E402  (benchmarks/layers.py: CPU, threads, torch version)

ROOT = Path(__file__).resolve().parents[1]
ATTENTION = {  # name -> overrides of the model's attention
    "none": ["task_options.model.attention=none", "task_options.model.input_feeding=false"],
    "additive": ["task_options.model.attention=additive"],
    "dot": ["task_options.model.attention=dot"],
    "general": ["task_options.model.attention=general"],
}
RUNS = {  # name -> (group, config, overrides)
    "toy_reverse-general": ("toy", "configs/translation/toy_reverse.yaml", []),
    "toy_reverse-none": ("toy", "configs/translation/toy_reverse.yaml",
                         ATTENTION["none"] + ["max_steps=1500"]),
    "toy_sort-general": ("toy", "configs/translation/toy_reverse.yaml", ["task_options.corpus=sort"]),
    **{f"eng_fra-{name}": ("eng_fra", "configs/translation/eng_fra.yaml", overrides)
       for name, overrides in ATTENTION.items()},
    # control: Luong attention without input feeding runs the decoder RNN over all steps at once, as `none` does
    "eng_fra-general-nofeed": ("eng_fra", "configs/translation/eng_fra.yaml",
                               ATTENTION["general"] + ["task_options.model.input_feeding=false"]),
    "cmn_eng-general": ("cmn_eng", "configs/translation/cmn_eng.yaml", []),
}


def run_one(name: str, config: str, overrides: list[str], budget: float | None, out_root: Path) -> dict:
    from rnnkit.training.run import train
    from rnnkit.translation import evaluate_translation

    if budget is not None:
        overrides = [*overrides, f"max_time_s={budget}"]
    out = out_root / name
    if out.exists():  # a fresh run each time: the engine refuses a folder holding another run's checkpoints
        shutil.rmtree(out)
    load_before = os.getloadavg()[0]
    tic = time.perf_counter()
    result = train(ROOT / config, overrides, out_dir=out)
    train_seconds = time.perf_counter() - tic
    evaluation = evaluate_translation(out / "bundle")
    row = {
        "config": config, "overrides": overrides, "steps": result.step, "stopped": result.stopped,
        "train_seconds": round(train_seconds, 1), "val_loss": result.metrics.get("val_loss"),
        "val_exact_match": result.metrics.get("val_exact_match"), "test_sentences": evaluation.sentences,
        "load_average_before": round(load_before, 2), "load_average_after": round(os.getloadavg()[0], 2),
        "bleu_signature": evaluation.bleu_signature, "chrf_signature": evaluation.chrf_signature,
        "examples": [list(example) for example in evaluation.examples],
    }
    for score in evaluation.scores:
        row[score.method] = {"bleu": round(score.bleu, 2), "chrf": round(score.chrf, 2),
                             "exact_match": round(score.exact_match, 4), "decode_seconds": round(score.seconds, 2)}
    return row


def long_sentence_scores(bundle: Path, min_tokens: int) -> dict:
    """BLEU/chrF (beam 5) on the test pairs whose source has at least ``min_tokens`` tokens: where attention
    should matter most."""
    from rnnkit.bundle import load
    from rnnkit.config import from_dict
    from rnnkit.training.config import RunConfig
    from rnnkit.training.registry import task_options
    from rnnkit.translation import translate
    from rnnkit.translation.data import LANGUAGES, normalize
    from rnnkit.translation.evaluate import _reference, corpus_scores
    from rnnkit.translation.task import load_split
    from rnnkit.translation.translate import load_translator

    loaded = load(bundle)
    config = from_dict(RunConfig, loaded.info["run_config"])
    options = task_options(config.task, config.task_options)
    source_language, target_language = LANGUAGES[options.corpus]
    translator = load_translator(loaded)
    test = [pair for pair in load_split(options).test
            if len(translator.source.split(normalize(pair.source, source_language))) >= min_tokens]
    result = translate(translator, [pair.source for pair in test], method="beam", beam_size=5)
    references = [_reference(normalize(pair.target, target_language), target_language) for pair in test]
    bleu, chrf, *_ = corpus_scores(result.texts, references, target_language)
    return {"min_source_tokens": min_tokens, "sentences": len(test), "bleu": round(float(bleu.score), 2),
            "chrf": round(float(chrf.score), 2)}


def print_table(runs: dict) -> None:
    header = (f"{'run':22} {'steps':>6} {'train s':>8} {'val loss':>8}  {'BLEU greedy':>11} {'BLEU beam5':>10} "
              f"{'chrF greedy':>11} {'chrF beam5':>10} {'exact beam5':>11}")
    print(header)
    print("-" * len(header))
    for name, row in runs.items():
        greedy, beam = row["greedy"], row["beam5"]
        print(f"{name:22} {row['steps']:>6} {row['train_seconds']:>8.0f} {row['val_loss']:>8.3f}  "
              f"{greedy['bleu']:>11.1f} {beam['bleu']:>10.1f} {greedy['chrf']:>11.1f} {beam['chrf']:>10.1f} "
              f"{beam['exact_match']:>11.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["toy", "eng_fra", "cmn_eng"], action="append",
                        help="run only these groups (repeatable); default all")
    parser.add_argument("--runs", nargs="*", help="run only these run names")
    parser.add_argument("--budget", type=float, default=None, help="override max_time_s (seconds) of every run")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "seq2seq-bench")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--long", type=int, default=None, metavar="N",
                        help="no training: rescore the existing bundles (beam 5) on test sources of >= N tokens")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    path = ROOT / "benchmarks" / "results" / "seq2seq.json"
    results = json.loads(path.read_text()) if path.is_file() else {"runs": {}}
    results["machine"] = {**machine(), "threads": args.threads, "note": "2-core CPU shared with other agents"}
    for name, (group, config, overrides) in RUNS.items():
        if (args.only and group not in args.only) or (args.runs and name not in args.runs):
            continue
        if args.long is not None:
            bundle = args.out / name / "bundle"
            if name in results["runs"] and bundle.is_dir():
                results["runs"][name]["long"] = long_sentence_scores(bundle, args.long)
                print(name, results["runs"][name]["long"], flush=True)
                path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
            continue
        print(f"{name}: training ({config} {' '.join(overrides)})", flush=True)
        results["runs"][name] = run_one(name, config, overrides, args.budget, args.out)
        path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        print_table({name: results["runs"][name]})
    if args.long is not None:
        return
    print()
    print_table(results["runs"])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
