import pytest
import torch

from rnnkit.poems import FORMS, NoBundleError, PoemSettings, format_poem, load_poet, poem_form, write_poems
from rnnkit.poems.constraints import form_masks, form_processor


def assert_form(poem, form_name):
    form = FORMS[form_name]
    assert poem.form == form_name
    assert len(poem.lines) == form.num_lines
    assert all(len(line) == form.line_length for line in poem.lines)
    assert poem.text == format_poem(poem.lines)
    assert poem_form(poem.text) is form
    assert not any(c in "<>" for c in poem.text)


@pytest.mark.parametrize("form", list(FORMS))
def test_every_sampled_poem_has_the_form(poet, form):
    for poem in write_poems(poet, form=form, num=6, seed=3, temperature=2.0, top_p=1.0):
        assert_form(poem, form)


@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_deterministic_methods_keep_the_form(poet, method):
    (poem,) = write_poems(poet, form="qijue", method=method, **({"beam": 3} if method == "beam" else {}))
    assert_form(poem, "qijue")
    assert poem.settings["seed"] is None and poem.settings["temperature"] is None  # deterministic: no seed
    assert poem.settings["beam"] == (3 if method == "beam" else None)
    (again,) = write_poems(poet, form="qijue", method=method, **({"beam": 3} if method == "beam" else {}))
    assert again.text == poem.text


def test_sampling_options_with_greedy_or_beam_are_errors(poet):
    for method in ("greedy", "beam"):
        for name, value in (("seed", 1), ("temperature", 0.8), ("top_p", 0.9)):
            with pytest.raises(ValueError, match=f"{name}: only used when sampling; got {name}={value} with"):
                write_poems(poet, method=method, **{name: value})
    with pytest.raises(ValueError, match="beam: only used by method='beam', got beam=3 with method='greedy'"):
        write_poems(poet, method="greedy", beam=3)
    with pytest.raises(ValueError, match="beam: expected an int >= 1, got 0"):
        write_poems(poet, method="beam", beam=0)
    assert PoemSettings(method="beam").beam == 4


def test_acrostic_and_start(poet):
    for form, acrostic in (("wujue", "春夏秋冬"), ("qilv", "一二三四五六七八")):
        for poem in write_poems(poet, form=form, acrostic=acrostic, num=3, seed=0):
            assert_form(poem, form)
            assert "".join(line[0] for line in poem.lines) == acrostic
    for poem in write_poems(poet, form="wulv", start="白日 依山尽，黄", num=3, seed=1):
        assert poem.text.startswith("白日依山尽，黄")
        assert poem.settings["start"] == "白日依山尽黄"
    (poem,) = write_poems(poet, form="wujue", start="春风", acrostic="春夏秋冬", seed=2)
    assert poem.text.startswith("春风") and poem.lines[1][0] == "夏"


def test_seed_reproduces_and_settings_are_recorded(poet):
    first = write_poems(poet, form="wujue", num=2, seed=5)
    assert [p.text for p in first] == [p.text for p in write_poems(poet, form="wujue", num=2, seed=5)]
    assert first[0].settings["seed"] == 5 and first[0].settings["form"] == "wujue"
    assert isinstance(write_poems(poet, form="wujue")[0].settings["seed"], int)  # a drawn seed is reported


def test_theme_raises_theme_characters(poet):
    def count(weight):
        poems = write_poems(poet, form="qilv", num=8, seed=0, theme="月", theme_weight=weight)
        return sum(p.text.count("月") for p in poems)

    assert count(6.0) > count(0.0) + 4


def test_rhyme(poet):
    pytest.importorskip("pypinyin")
    from rnnkit.poems.rhyme import rhyme_group

    for poem in write_poems(poet, form="qilv", num=4, seed=0, rhyme=True):
        assert_form(poem, "qilv")
        ends = [line[-1] for line in poem.lines[1::2]]
        assert len({rhyme_group(c) for c in ends}) == 1 and rhyme_group(ends[0]) is not None
        assert len(set(ends)) == 4  # no rhyme character repeated


def test_form_masks_allow_exactly_one_class(poet):
    tokenizer = poet.tokenizer
    masks = form_masks(tokenizer, FORMS["wujue"], {0: "春"})
    comma, stop = tokenizer.token_to_id("，"), tokenizer.token_to_id("。")
    assert masks[0].nonzero().flatten().tolist() == [tokenizer.token_to_id("春")]
    assert masks[5].nonzero().flatten().tolist() == [comma]
    assert masks[11].nonzero().flatten().tolist() == [stop]
    assert masks[24].nonzero().flatten().tolist() == [tokenizer.end_id]
    assert not masks[1, : tokenizer.num_specials].any() and not masks[1, [comma, stop]].any()
    assert int(masks[1].sum()) == len(tokenizer) - tokenizer.num_specials - 2
    logits = form_processor(masks)(torch.zeros(2, 5, dtype=torch.long), torch.zeros(2, len(tokenizer)))
    assert torch.isfinite(logits).sum(1).tolist() == [1, 1]


def test_errors_are_clear(poet):
    with pytest.raises(ValueError, match=r"acrostic: expected 4 characters for wujue .* got 5"):
        write_poems(poet, form="wujue", acrostic="春夏秋冬雪")
    with pytest.raises(ValueError, match="8-line form"):
        write_poems(poet, form="qijue", acrostic="一二三四五六七八")
    with pytest.raises(ValueError, match="acrostic: the model does not know the character.* 龘"):
        write_poems(poet, form="qijue", acrostic="春龘秋冬")
    with pytest.raises(ValueError, match="start: the model does not know the character.* 鑫 𠀀"):
        write_poems(poet, form="qijue", start="鑫𠀀")
    with pytest.raises(ValueError, match="start: expected at most 20"):
        write_poems(poet, form="wujue", start="春" * 21)
    with pytest.raises(ValueError, match="conflicts with the acrostic"):
        write_poems(poet, form="wujue", start="夏", acrostic="春夏秋冬")
    with pytest.raises(ValueError, match="form must be one of"):
        PoemSettings(form="haiku")
    with pytest.raises(ValueError, match="num"):
        PoemSettings(method="beam", num=2)
    with pytest.raises(ValueError, match="temperature"):
        PoemSettings(temperature=0)
    with pytest.raises(ValueError, match="top_p"):
        PoemSettings(top_p=0)
    with pytest.raises(ValueError, match="method"):
        PoemSettings(method="nucleus")


def test_no_bundle_says_how_to_make_one(tmp_path):
    with pytest.raises(NoBundleError, match="make demo"):
        load_poet(root=tmp_path)
