import pytest
from sacrebleu.metrics import BLEU, CHRF

from rnnkit.translation import evaluate_translation, translate
from rnnkit.translation.data import toy_pairs
from rnnkit.translation.evaluate import corpus_scores


def test_corpus_scores_are_sacrebleus():
    hypotheses = ["the cat sat on the mat.", "il fait froid."]
    references = ["the cat is on the mat.", "il fait très froid."]
    bleu, chrf, bleu_signature, chrf_signature = corpus_scores(hypotheses, references, "eng")
    assert bleu.score == pytest.approx(BLEU().corpus_score(hypotheses, [references]).score)
    assert chrf.score == pytest.approx(CHRF().corpus_score(hypotheses, [references]).score)
    assert "tok:13a" in bleu_signature and "nc:6" in chrf_signature
    zh, *_ = corpus_scores(["我累死了。"], ["我累死了。"], "cmn")
    assert zh.score == pytest.approx(100.0)


def test_evaluation_of_the_toy_bundle_on_its_held_out_split(toy_bundle):
    result = evaluate_translation(toy_bundle, beam_size=3, limit=50)
    assert [score.method for score in result.scores] == ["greedy", "beam3"]
    assert result.sentences == 50 and result.task == "reverse"
    # the held-out split is the one the run config describes: test strings rebuilt with split_seed + 1
    held = toy_pairs("reverse", 400, min_length=3, max_length=6, seed=1)[:50]
    assert [example[0] for example in result.examples] == [pair.source for pair in held[:5]]
    greedy = translate(toy_bundle, [pair.source for pair in held])
    expected = sum(text == pair.target for text, pair in zip(greedy.texts, held, strict=True)) / 50
    assert result.scores[0].exact_match == pytest.approx(expected)
    assert "tok:char" in result.bleu_signature
    if expected == 1.0:
        assert result.scores[0].bleu == pytest.approx(100.0)
