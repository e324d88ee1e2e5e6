import math

import pytest

from rnnkit.poems.baselines import (
    KneserNeyBigramModel,
    UnigramModel,
    evaluate_baselines,
    ney_discount,
    poem_sequences,
)
from rnnkit.poems.task import build_poem_tokenizer

# token ids 0..4; every sequence's first token is given (a form token in the poem task)
TRAIN = [[0, 1, 2, 1, 3], [0, 1, 1, 3], [0, 2, 3]]
V = 5


def test_unigram_closed_form():
    model = UnigramModel(TRAIN, V, alpha=1.0)
    # predicted tokens: 1 2 1 3 | 1 1 3 | 2 3 -> c(1)=4, c(2)=2, c(3)=3, N=9
    assert model.prob(1) == pytest.approx(5 / 14) and model.prob(0) == pytest.approx(1 / 14)
    assert sum(model.prob(w) for w in range(V)) == pytest.approx(1.0)
    assert UnigramModel(TRAIN, V, alpha=0).prob(3) == pytest.approx(3 / 9)


def test_kneser_ney_by_hand():
    model = KneserNeyBigramModel(TRAIN, V)
    # bigram types: (0,1)x2 (1,2) (2,1) (1,3)x2 (1,1) (0,2) (2,3) -> n1=5, n2=2, D=5/9; 7 types
    assert model.discount == pytest.approx(5 / 9)
    # continuation counts N1+(. w): 1 <- {0,2,1} = 3, 2 <- {1,0} = 2, 3 <- {1,2} = 2; n1=0, n2=2 -> D'=0
    assert model.continuation_discount == 0.0
    assert model.continuation_prob(1) == pytest.approx(3 / 7)
    assert model.continuation_prob(4) == 0.0
    # P(3 | 1): c(1, 3) = 2, c(1) = 4 (1->2, 1->3 twice, 1->1), N1+(1 .) = 3
    d = 5 / 9
    expected = (2 - d) / 4 + d * 3 / 4 * (2 / 7)
    assert model.prob(3, 1) == pytest.approx(expected)


@pytest.mark.parametrize("context", [0, 1, 2, 3, 4])
def test_kneser_ney_sums_to_one(context):
    train = TRAIN + [[0, 4, 4, 2]]  # with D' > 0 the uniform floor reaches every word
    model = KneserNeyBigramModel(train, V)
    assert sum(model.prob(w, context) for w in range(V)) == pytest.approx(1.0)


def test_evaluate_matches_a_direct_sum():
    val = [[0, 1, 3], [0, 2, 1, 3]]
    result = evaluate_baselines(TRAIN, val, V)
    uni, bi = UnigramModel(TRAIN, V), KneserNeyBigramModel(TRAIN, V)
    pairs = [(0, 1), (1, 3), (0, 2), (2, 1), (1, 3)]
    assert result.tokens == 5
    assert result.unigram == pytest.approx(-sum(math.log(uni.prob(w)) for _, w in pairs) / 5)
    assert result.bigram_kn == pytest.approx(-sum(math.log(bi.prob(w, v)) for v, w in pairs) / 5)
    with pytest.raises(ValueError, match="val"):
        evaluate_baselines(TRAIN, [[0]], V)


def test_poem_sequences_match_the_task(small_split):
    tokenizer = build_poem_tokenizer(small_split.train)
    (sequence,) = poem_sequences(small_split.train[:1], tokenizer)
    assert tokenizer.tokens[sequence[0]].startswith("<") and sequence[-1] == tokenizer.end_id
    assert ney_discount({"a": 1, "b": 2, "c": 2}) == pytest.approx(1 / 5)
