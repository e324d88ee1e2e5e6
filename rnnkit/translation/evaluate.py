"""Corpus BLEU and chrF of a translation bundle on its held-out test split: what `rnnkit eval` reports for it.

    from rnnkit.translation import evaluate_translation
    result = evaluate_translation("runs/eng_fra/bundle")            # greedy and beam 5
    for row in result.scores:
        print(row.method, row.bleu, row.chrf, row.seconds)

The test pairs are rebuilt from the run config stored in the bundle (corpus, length filter, split seed),
so they are exactly the pairs held out from training. Scores come from sacrebleu (Post 2018,
arXiv:1804.08771): ``corpus_bleu`` with its default 13a tokenizer ("zh" for a Chinese target, "char" for
the digit toy tasks) and ``corpus_chrf`` (chrF2, character 6-grams), one reference per sentence, on
normalised (lowercased) references, as the model writes lowercase text. The sacrebleu signatures are returned with the scores.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["TranslationEvaluation", "TranslationScore", "corpus_scores", "evaluate_translation"]

_BLEU_TOKENIZERS = {"cmn": "zh", "digits": "char"}  # sacrebleu tokenizers; 13a for English and French


class TranslationScore(NamedTuple):
    method: str  # "greedy" or "beam<K>"
    bleu: float  # corpus BLEU, 0-100
    chrf: float  # corpus chrF, 0-100
    seconds: float  # decoding time for the whole split
    exact_match: float  # fraction of outputs equal to their reference (after normalisation)


class TranslationEvaluation(NamedTuple):
    scores: list[TranslationScore]  # one per decoding method
    sentences: int  # test pairs scored
    task: str  # the corpus, e.g. "eng_fra"
    source: Path  # the bundle evaluated
    bleu_signature: str
    chrf_signature: str
    examples: list[tuple[str, str, str]]  # the first few (source, reference, beam output)


def corpus_scores(hypotheses: list[str], references: list[str], target_language: str) -> tuple[Any, Any, str, str]:
    """sacrebleu's corpus BLEU and chrF scores for one reference per hypothesis, and the two signatures."""
    try:
        from sacrebleu.metrics import BLEU, CHRF
    except ImportError as error:
        raise ImportError(f"{error}; BLEU and chrF need sacrebleu: pip install 'rnnkit[translate]'") from None
    bleu, chrf = BLEU(tokenize=_BLEU_TOKENIZERS.get(target_language, "13a")), CHRF()
    bleu_score, chrf_score = bleu.corpus_score(hypotheses, [references]), chrf.corpus_score(hypotheses, [references])
    return bleu_score, chrf_score, str(bleu.get_signature()), str(chrf.get_signature())


def evaluate_translation(path: str | Path, *, beam_size: int = 5, limit: int | None = None,
                         num_examples: int = 5) -> TranslationEvaluation:
    """Greedy and beam-``beam_size`` BLEU/chrF of the seq2seq bundle at ``path`` on its test split.

    Args:
        path: a bundle folder written by ``rnnkit train`` (it keeps the run config).
        beam_size: the beam's width (the issue reports beam 5).
        limit: score only the first ``limit`` test pairs (None: all).
        num_examples: example translations returned with the scores.
    """
    from rnnkit.bundle import BUNDLE_FILE, load
    from rnnkit.config import from_dict
    from rnnkit.training.config import RunConfig
    from rnnkit.training.registry import task_options
    from rnnkit.translation.data import LANGUAGES, normalize
    from rnnkit.translation.task import load_split
    from rnnkit.translation.translate import load_translator, translate

    bundle = load(path)
    translator = load_translator(bundle)
    if "run_config" not in bundle.info:
        raise ValueError(f"evaluate_translation: bundle {bundle.path} has no run_config, so its test split is unknown")
    config = from_dict(RunConfig, bundle.info["run_config"], source=str(bundle.path / BUNDLE_FILE))
    options = task_options(config.task, config.task_options, source=str(bundle.path))
    test = load_split(options).test[:limit]
    if not test:
        raise ValueError(f"evaluate_translation: the test split of {bundle.path} is empty")
    _, target_language = LANGUAGES[options.corpus]
    references = [_reference(normalize(pair.target, target_language), target_language) for pair in test]
    sources = [pair.source for pair in test]
    scores, signatures, examples = [], ("", ""), []
    for method in ("greedy", "beam"):
        tic = time.perf_counter()
        result = translate(translator, sources, method=method, beam_size=beam_size)
        seconds = time.perf_counter() - tic
        bleu, chrf, *signatures = corpus_scores(result.texts, references, target_language)
        exact = sum(h == r for h, r in zip(result.texts, references, strict=True)) / len(test)
        name = "greedy" if method == "greedy" else f"beam{beam_size}"
        scores.append(TranslationScore(name, float(bleu.score), float(chrf.score), seconds, exact))
        if method == "beam":
            examples = [(s, r, h) for s, r, h in zip(sources, references, result.texts, strict=False)][:num_examples]
    return TranslationEvaluation(scores, len(test), options.corpus, bundle.path, signatures[0], signatures[1], examples)


def _reference(text: str, language: str) -> str:
    """A normalised reference in the form the model writes: its tokens joined and detokenized."""
    from rnnkit.text.tokenizer import split_words
    from rnnkit.translation.data import detokenize, tokenizer_level

    if tokenizer_level(language) == "char":
        return "".join(text.split())
    return detokenize(" ".join(split_words(text)), language)
