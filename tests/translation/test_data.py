import pytest

from rnnkit.translation.data import (
    SentencePair,
    detokenize,
    load_pairs,
    normalize,
    split_pairs,
    tokenizer_level,
    toy_pairs,
)


def test_corpora_load_with_the_documented_counts():
    fra = load_pairs("eng_fra")
    assert len(fra) == 50_000 and fra[0] == SentencePair("Go.", "Va !")
    assert load_pairs("fra_eng")[0] == SentencePair("Va !", "Go.")
    cmn = load_pairs("eng_cmn")
    assert len(cmn) == 29_155 and cmn[0] == SentencePair("Hi.", "嗨。")
    assert load_pairs("cmn_eng")[0] == SentencePair("嗨。", "Hi.")
    with pytest.raises(ValueError, match="corpus: expected one of"):
        load_pairs("reverse")


def test_normalize_and_detokenize():
    assert normalize("Courez\u202f!  Don’t", "fra") == "courez ! don't"
    assert normalize("１２ 3", "digits") == "123"
    assert normalize("我 喜欢 Tom。", "cmn") == "我喜欢tom。"
    assert detokenize("je suis là . vraiment ?", "fra") == "je suis là. vraiment ?"
    assert detokenize("i am here . really ?", "eng") == "i am here. really?"
    assert detokenize("我 累", "cmn") == "我 累"
    assert tokenizer_level("cmn") == "char" and tokenizer_level("fra") == "word"


def test_split_keeps_every_translation_of_a_source_together_and_is_seeded():
    pairs = [SentencePair(f"s{i // 3}", f"t{i}") for i in range(300)]  # 100 sources, 3 translations each
    split = split_pairs(pairs, val_size=10, test_size=20, seed=5)
    sources = [{p.source for p in part} for part in split]
    assert not (sources[0] & sources[1]) and not (sources[0] & sources[2]) and not (sources[1] & sources[2])
    assert sum(len(part) for part in split) == 300
    assert 20 <= len(split.test) < 23 and 10 <= len(split.val) < 13
    assert split == split_pairs(pairs, val_size=10, test_size=20, seed=5)
    assert split != split_pairs(pairs, val_size=10, test_size=20, seed=6)
    with pytest.raises(ValueError, match="leave nothing to train on"):
        split_pairs(pairs[:30], val_size=10, test_size=20)


@pytest.mark.parametrize("task", ["reverse", "sort"])
def test_toy_pairs(task):
    pairs = toy_pairs(task, 200, min_length=2, max_length=4, seed=1)
    assert len({p.source for p in pairs}) == 200
    for source, target in pairs:
        assert 2 <= len(source) <= 4 and source.isdigit()
        assert target == (source[::-1] if task == "reverse" else "".join(sorted(source)))
    others = toy_pairs(task, 100, min_length=2, max_length=4, seed=2, exclude={p.source for p in pairs})
    assert not {p.source for p in others} & {p.source for p in pairs}
    with pytest.raises(ValueError, match="count: expected at most"):
        toy_pairs(task, 60, min_length=1, max_length=2)
    with pytest.raises(ValueError, match="task: expected one of"):
        toy_pairs("copy", 5)
