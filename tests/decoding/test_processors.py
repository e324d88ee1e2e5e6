import dataclasses
import math

import pytest
import torch

from rnnkit.decoding import (
    BanTokens,
    Compose,
    Temperature,
    TopK,
    allow_tokens,
    ban_special_tokens,
    ban_tokens,
    compose,
    min_length,
    repetition_penalty,
    temperature,
    top_k,
    top_p,
)

INF = float("-inf")
NO_TOKENS = torch.empty(1, 0, dtype=torch.long)


def test_temperature_divides():
    logits = torch.tensor([[1.0, -2.0, 4.0]])
    torch.testing.assert_close(temperature(2.0)(NO_TOKENS, logits), torch.tensor([[0.5, -1.0, 2.0]]))


def test_top_k_keeps_the_k_best():
    logits = torch.tensor([[1.0, 5.0, 3.0, 2.0], [4.0, 0.0, -1.0, 3.5]])
    expected = torch.tensor([[INF, 5.0, 3.0, INF], [4.0, INF, INF, 3.5]])
    assert torch.equal(top_k(2)(NO_TOKENS.expand(2, 0), logits), expected)
    assert torch.equal(top_k(10)(NO_TOKENS.expand(2, 0), logits), logits)  # k above V keeps everything


@pytest.mark.parametrize(
    "p, kept",
    [(0.45, [0]), (0.7, [0, 2]), (0.9, [0, 2, 1]), (0.97, [0, 2, 1, 3]), (1.0, [0, 2, 1, 3])],
)
def test_top_p_keeps_the_smallest_nucleus(p, kept):
    probs = torch.tensor([[0.5, 0.15, 0.3, 0.05]])  # sorted: 0.5 (0), 0.3 (2), 0.15 (1), 0.05 (3)
    out = top_p(p)(NO_TOKENS, probs.log())
    assert torch.isfinite(out[0]).nonzero().flatten().tolist() == sorted(kept)
    torch.testing.assert_close(out[0, kept], probs.log()[0, kept])  # kept logits are untouched


def test_top_p_ignores_already_masked_tokens():
    logits = torch.tensor([[INF, 0.0, 0.0, INF]])
    assert torch.equal(top_p(0.9)(NO_TOKENS, logits), logits)


def test_repetition_penalty_divides_positive_multiplies_negative():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0]])
    tokens = torch.tensor([[0, 1, 0]])  # token 0 twice: penalised once
    out = repetition_penalty(2.0)(tokens, logits)
    torch.testing.assert_close(out, torch.tensor([[1.0, -2.0, 0.5, 3.0]]))
    assert torch.equal(repetition_penalty(1.7)(NO_TOKENS, logits), logits)


def test_repetition_penalty_rows_are_independent():
    logits = torch.tensor([[2.0, 2.0], [2.0, 2.0]])
    out = repetition_penalty(4.0)(torch.tensor([[0], [1]]), logits)
    torch.testing.assert_close(out, torch.tensor([[0.5, 2.0], [2.0, 0.5]]))


def test_ban_tokens():
    out = ban_tokens([1, 3])(NO_TOKENS, torch.zeros(1, 4))
    assert torch.equal(out, torch.tensor([[0.0, INF, 0.0, INF]]))


def test_allow_tokens_with_a_mask_and_a_function():
    mask = torch.tensor([True, False, True])
    assert torch.equal(allow_tokens(mask)(NO_TOKENS, torch.ones(1, 3)), torch.tensor([[1.0, INF, 1.0]]))

    def alternate(tokens):  # step-dependent: even steps allow token 0 only, odd steps token 1 only
        allowed = torch.zeros(tokens.size(0), 2, dtype=torch.bool)
        allowed[:, tokens.size(1) % 2] = True
        return allowed

    process = allow_tokens(alternate)
    assert torch.equal(process(torch.zeros(2, 0, dtype=torch.long), torch.ones(2, 2)), torch.tensor([[1.0, INF]] * 2))
    assert torch.equal(process(torch.zeros(2, 1, dtype=torch.long), torch.ones(2, 2)), torch.tensor([[INF, 1.0]] * 2))


def test_min_length_bans_eos_until_n_tokens():
    process = min_length(2, eos_id=3)
    logits = torch.zeros(1, 4)
    for steps, eos_allowed in [(0, False), (1, False), (2, True), (5, True)]:
        out = process(torch.zeros(1, steps, dtype=torch.long), logits)
        assert math.isfinite(out[0, 3]) == eos_allowed
        assert torch.isfinite(out[0, :3]).all()
    assert torch.isfinite(logits).all()  # the input is not modified


def test_compose_applies_in_order():
    logits = torch.tensor([[1.0, 3.0, 2.0]])
    out = compose([temperature(0.5), top_k(1)])(NO_TOKENS, logits)
    assert torch.equal(out, torch.tensor([[INF, 6.0, INF]]))
    assert torch.equal(compose([])(NO_TOKENS, logits), logits)


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda: temperature(0), ValueError, ["temperature", "got 0", "greedy"]),
        (lambda: temperature(-1.5), ValueError, ["temperature", "> 0", "-1.5"]),
        (lambda: temperature(float("nan")), ValueError, ["temperature", "finite"]),
        (lambda: temperature("hot"), TypeError, ["temperature", "number", "str"]),
        (lambda: top_k(0), ValueError, ["top_k", ">= 1", "got 0"]),
        (lambda: top_k(2.5), TypeError, ["top_k", "int", "float"]),
        (lambda: top_k(True), TypeError, ["top_k", "bool"]),
        (lambda: top_p(0), ValueError, ["top_p", "0 < p <= 1", "got 0"]),
        (lambda: top_p(1.5), ValueError, ["top_p", "1.5"]),
        (lambda: repetition_penalty(0), ValueError, ["repetition_penalty", "> 0", "1.2"]),
        (lambda: ban_tokens([1, -2]), ValueError, ["ban_tokens", "-2"]),
        (lambda: ban_tokens(3), TypeError, ["ban_tokens", "iterable", "int"]),
        (lambda: allow_tokens([True, False]), TypeError, ["allow_tokens", "list"]),
        (lambda: allow_tokens(torch.ones(3)), TypeError, ["allow_tokens", "bool", "float32"]),
        (lambda: min_length(-1, eos_id=0), ValueError, ["min_length", ">= 0", "-1"]),
        (lambda: min_length(2, eos_id=None), TypeError, ["eos_id", "NoneType"]),
        (lambda: compose(top_k(1)), TypeError, ["compose", "list"]),
        (lambda: compose([top_k(1), 3]), TypeError, ["compose", "processor 1", "int"]),
    ],
)
def test_constructor_errors_name_the_bad_value(make, error, words):
    with pytest.raises(error) as info:
        make()
    for word in words:
        assert word in str(info.value)


def test_errors_that_need_the_vocabulary_come_at_the_first_call():
    with pytest.raises(ValueError, match="ban_tokens: token id 7 .* vocabulary of 4"):
        ban_tokens([7])(NO_TOKENS, torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"allow_tokens: expected a mask of shape \(4,\) or \(1, 4\), got \(3,\)"):
        allow_tokens(torch.ones(3, dtype=torch.bool))(NO_TOKENS, torch.zeros(1, 4))
    with pytest.raises(TypeError, match="allow_tokens: the mask function must return a bool tensor"):
        allow_tokens(lambda tokens: [True])(NO_TOKENS, torch.zeros(1, 4))


# ---------------------------------------------------------------- the processors as frozen dataclasses


def mask_odd_steps(tokens):
    return torch.tensor([tokens.size(1) % 2 == 0, True])


@pytest.mark.parametrize(
    "processor, shown",
    [
        (temperature(0.8), "Temperature(value=0.8)"),
        (temperature(2), "Temperature(value=2.0)"),
        (top_k(5), "TopK(k=5)"),
        (top_p(0.9), "TopP(p=0.9)"),
        (repetition_penalty(1.2), "RepetitionPenalty(penalty=1.2)"),
        (ban_tokens(torch.tensor([1, 3])), "BanTokens(token_ids=(1, 3))"),
        (min_length(2, eos_id=3), "MinLength(length=2, eos_id=3)"),
        (allow_tokens(torch.tensor([True, False, True])), "AllowTokens(allowed=<bool mask (3,), 2 allowed>)"),
        (allow_tokens(mask_odd_steps), "AllowTokens(allowed=mask_odd_steps)"),
        (compose([temperature(0.5), top_k(1)]), "Compose(processors=(Temperature(value=0.5), TopK(k=1)))"),
    ],
)
def test_a_processor_shows_its_arguments(processor, shown):
    assert repr(processor) == shown


def test_ban_special_tokens_is_a_ban_of_the_specials_but_the_end_token():
    class Specials:  # what ban_special_tokens reads from an rnnkit.text.Tokenizer
        num_specials, end_id = 4, 2

    processor = ban_special_tokens(Specials())
    assert processor == BanTokens((0, 1, 3))
    assert torch.equal(processor(NO_TOKENS, torch.zeros(1, 5)), torch.tensor([[INF, INF, 0.0, INF, 0.0]]))


def test_processors_are_frozen_and_compare_by_their_arguments():
    assert top_k(k=2) == TopK(2) and hash(top_k(2)) == hash(TopK(2)) and top_k(2) != top_k(3)
    assert compose([top_k(2), top_p(0.5)]) == Compose((top_k(2), top_p(0.5)))
    assert ban_tokens([1, 2]) == ban_tokens((1, 2))  # stored as a tuple, whatever iterable was given
    mask = torch.tensor([True, False])
    allowed = allow_tokens(mask)
    assert allowed == allowed and allowed != allow_tokens(mask)  # a tensor has no boolean ==: identity
    for processor, name in [(temperature(1.5), "value"), (top_k(2), "k"), (min_length(1, 0), "length"),
                            (allow_tokens(mask), "allowed")]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(processor, name, 3)
    assert isinstance(temperature(2.0), Temperature) and isinstance(temperature(2).value, float)
