import json

import pytest

from rnnkit.text import SPECIAL_TOKENS, Tokenizer, split_words, unknown_tokens


def test_char_round_trip_and_frequency_order():
    tok = Tokenizer.build(["abca", "bcz", "a"], level="char")
    assert tok.tokens[:4] == list(SPECIAL_TOKENS)
    assert tok.tokens[4:] == ["a", "b", "c", "z"]  # a:3, b:2, c:2 (tie by code point), z:1
    for text in ["abc", "", "zzz", "cab"]:
        assert tok.decode(tok.encode(text)) == text
    assert tok.encode("ab", add_start=True, add_end=True) == [tok.start_id, 4, 5, tok.end_id]


def test_unknown_and_min_count():
    tok = Tokenizer.build(["aab"], level="char", min_count=2)
    assert "b" not in tok
    assert tok.encode("abq") == [4, tok.unk_id, tok.unk_id]
    assert tok.unknown("abqb") == ["b", "q"]
    assert tok.decode(tok.encode("abq")) == "a"  # specials (unk) are skipped
    assert tok.decode(tok.encode("abq"), skip_specials=False) == "a<unk><unk>"


def test_decode_stops_at_end():
    tok = Tokenizer.build(["ab"])
    assert tok.decode([4, tok.end_id, 5]) == "a"
    assert tok.decode([4, tok.end_id, 5], stop_at_end=False) == "ab"


def test_word_level_round_trip_on_tokens():
    text = "Hello, world! It's a test."
    assert split_words(text) == ["Hello", ",", "world", "!", "It's", "a", "test", "."]
    tok = Tokenizer.build([text], level="word")
    assert tok.decode(tok.encode(text)) == " ".join(split_words(text))
    assert tok.encode("world unseen")[1] == tok.unk_id


def test_max_size_keeps_most_frequent():
    tok = Tokenizer.build(["aaabbc"], max_size=2)
    assert tok.tokens[4:] == ["a", "b"]


def test_extra_specials():
    tok = Tokenizer.build(["ab"], extra_specials=["<x>", "<y>"])
    assert tok.num_specials == 6 and tok.token_to_id("<y>") == 5 and tok.token_to_id("a") == 6
    assert tok.decode([5, 6]) == "a"


def test_json_save_load(tmp_path):
    tok = Tokenizer.build(["白日依山尽，黄河入海流。"], level="char", extra_specials=["<wujue>"])
    path = tmp_path / "tok.json"
    tok.save(path)
    assert "白" in path.read_text(encoding="utf-8")  # readable, not \\u-escaped
    loaded = Tokenizer.load(path)
    assert loaded == tok and loaded.encode("黄河") == tok.encode("黄河")
    assert json.loads(path.read_text(encoding="utf-8"))["level"] == "char"


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="level"):
        Tokenizer.build(["a"], level="byte")
    with pytest.raises(ValueError, match="min_count"):
        Tokenizer.build(["a"], min_count=0)
    with pytest.raises(ValueError, match="special tokens"):
        Tokenizer(["a", "b"])
    with pytest.raises(ValueError, match="unique"):
        Tokenizer([*SPECIAL_TOKENS, "a", "a"])
    with pytest.raises(TypeError, match="text"):
        Tokenizer.build(["a"]).encode(3)
    with pytest.raises(ValueError, match="token id"):
        Tokenizer.build(["a"]).id_to_token(99)
    with pytest.raises(ValueError, match="version"):
        Tokenizer.from_dict({"format": "rnnkit.tokenizer", "version": 99})


def test_unknown_tokens_warns_for_some_and_refuses_none_or_all():
    tok = Tokenizer.build(["the cat sat"], level="word")
    assert unknown_tokens(tok.split("the dog and the dog"), tok.__contains__, argument="x", text="") == ["dog", "and"]
    assert unknown_tokens(["cat"], tok.__contains__, argument="x", text="cat") == []
    with pytest.raises(ValueError, match=r"^prompt: expected a text with at least one token, got '' \(empty"):
        unknown_tokens([], tok.__contains__, argument="prompt", text="")
    with pytest.raises(ValueError, match=r"^inputs\[2\]: expected a text with at least one token the model knows, "
                                         r"got 'dog dog emu' whose every token is unknown to it \(dog emu\)"):
        unknown_tokens(["dog", "dog", "emu"], tok.__contains__, argument="inputs[2]", text="dog dog emu")
