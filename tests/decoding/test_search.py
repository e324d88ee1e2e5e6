import inspect
import itertools

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnkit.decoding import (
    Generation,
    Step,
    ban_tokens,
    generate,
    length_penalty_factor,
    min_length,
    repetition_penalty,
    stream,
    temperature,
    top_k,
    top_p,
)
from rnnkit.decoding.processors import compose

PROMPTS = [[0], [1, 2, 3], [2, 2]]


# ---------------------------------------------------------------- brute force references


def all_outputs(vocab_size, eos_id, max_new_tokens):
    """Every output beam search can return: EOS-terminated sequences of 1..N tokens with no earlier EOS,
    and the N-token sequences without EOS (cut at max_new_tokens)."""
    if eos_id is None:
        return list(itertools.product(range(vocab_size), repeat=max_new_tokens))
    other = [t for t in range(vocab_size) if t != eos_id]
    ended = [prefix + (eos_id,) for n in range(max_new_tokens) for prefix in itertools.product(other, repeat=n)]
    return ended + list(itertools.product(other, repeat=max_new_tokens))


def reference_scores(model, prompt, outputs, processor, alpha):
    """Score each output by rerunning the model on prompt + output from scratch (no state carried)."""
    scores = []
    for output in outputs:
        tokens = torch.tensor([list(prompt) + list(output)])
        logits, _ = model(tokens)  # (1, P + n, V)
        total = 0.0
        for step, token in enumerate(output):
            history = tokens[:, len(prompt) : len(prompt) + step]
            scored = processor(history, logits[:, len(prompt) - 1 + step])
            total += torch.log_softmax(scored, dim=-1)[0, token].item()
        scores.append(total / length_penalty_factor(len(output), alpha))
    return torch.tensor(scores, dtype=torch.float64)


def best_by_enumeration(model, prompt, outputs, processor, alpha):
    scores = reference_scores(model, prompt, outputs, processor, alpha)
    top2 = scores.topk(2).values
    assert top2[0] - top2[1] > 1e-9, "tie in the reference: pick another seed"
    best = int(scores.argmax())
    return list(outputs[best]), float(scores[best])


def row(result: Generation, b: int) -> list[int]:
    return result.tokens[b, : result.lengths[b]].tolist()


# ---------------------------------------------------------------- beam search == enumeration


@pytest.mark.parametrize(
    "eos_id, alpha, processors",
    [
        (None, 0.0, []),
        (None, 1.0, [repetition_penalty(1.5)]),
        (4, 0.0, []),
        (4, 1.0, []),
        (4, 2.5, []),  # strong preference for long outputs
        (4, -0.7, []),  # negative alpha: short outputs favoured
        (4, 0.6, [min_length(2, eos_id=4), repetition_penalty(2.0), temperature(0.7)]),
    ],
)
def test_full_width_beam_search_finds_the_best_sequence(tiny_lm, eos_id, alpha, processors):
    model = tiny_lm(vocab_size=5, seed=1)
    max_new_tokens = 4 if eos_id is not None else 3
    outputs = all_outputs(5, eos_id, max_new_tokens)
    processor = compose(processors)
    result = generate(model, PROMPTS, method="beam", beam_size=len(outputs), max_new_tokens=max_new_tokens,
                      processors=processors, eos_id=eos_id, length_penalty=alpha)
    for b, prompt in enumerate(PROMPTS):
        best, score = best_by_enumeration(model, prompt, outputs, processor, alpha)
        assert row(result, b) == best
        torch.testing.assert_close(result.scores[b].item(), score, rtol=0, atol=1e-10)
        assert bool(result.finished[b]) == (eos_id is not None and best[-1] == eos_id)
        torch.testing.assert_close(
            result.log_probs[b].sum().item() / length_penalty_factor(len(best), alpha), score, rtol=0, atol=1e-10
        )


def test_beam_search_stops_when_nothing_open_can_win(bigram_lm):
    # After any token, EOS (id 2) has probability 0.9: the first EOS hypothesis beats everything open.
    table = torch.tensor([[0.05, 0.05, 0.9]] * 3, dtype=torch.float64).log()
    model = bigram_lm(table)
    result = generate(model, [[0]], method="beam", beam_size=3, max_new_tokens=50, eos_id=2, length_penalty=0.0)
    assert row(result, 0) == [2]
    assert len(model.calls) <= 3  # the prompt plus at most two steps, not 50


def test_beam_search_exact_with_a_bigram_model(bigram_lm):
    torch.manual_seed(0)
    table = torch.randn(4, 4, dtype=torch.float64).mul(2).log_softmax(-1)
    model = bigram_lm(table)
    outputs = all_outputs(4, 3, 5)
    result = generate(model, [[0], [1, 2]], method="beam", beam_size=len(outputs), max_new_tokens=5, eos_id=3,
                      length_penalty=0.8)
    for b, prompt in enumerate([[0], [1, 2]]):
        best, score = best_by_enumeration(model, prompt, outputs, compose([]), 0.8)
        assert row(result, b) == best
        torch.testing.assert_close(result.scores[b].item(), score, rtol=0, atol=1e-10)


# ---------------------------------------------------------------- greedy, sampling


def test_greedy_equals_beam_of_one(tiny_lm):
    model = tiny_lm(vocab_size=5, seed=2)
    greedy = generate(model, PROMPTS, max_new_tokens=6)
    beam = generate(model, PROMPTS, method="beam", beam_size=1, max_new_tokens=6, length_penalty=1.0)
    assert torch.equal(greedy.tokens, beam.tokens)
    torch.testing.assert_close(greedy.log_probs, beam.log_probs, rtol=0, atol=1e-12)
    # With EOS, beam search of width 1 is greedy when alpha = 0 (alpha > 0 may keep looking past EOS).
    greedy = generate(model, PROMPTS, max_new_tokens=8, eos_id=4)
    beam = generate(model, PROMPTS, method="beam", beam_size=1, max_new_tokens=8, eos_id=4, length_penalty=0.0)
    for b in range(len(PROMPTS)):
        assert row(greedy, b) == row(beam, b)
    torch.testing.assert_close(greedy.scores, beam.scores, rtol=0, atol=1e-12)


def test_greedy_picks_the_argmax_of_a_full_rerun(tiny_lm):
    model = tiny_lm(vocab_size=5, seed=3)
    result = generate(model, PROMPTS, max_new_tokens=5)
    for b, prompt in enumerate(PROMPTS):
        tokens = list(prompt)
        for _ in range(5):
            logits, _ = model(torch.tensor([tokens]))
            tokens.append(int(logits[0, -1].argmax()))
        assert row(result, b) == tokens[len(prompt) :]


def test_eos_stops_rows_and_pads_with_eos(bigram_lm):
    # token 0 -> 1 -> 2 (EOS); token 3 -> 3 -> 3 ...: row 0 ends after two tokens, row 1 never.
    table = torch.full((4, 4), -10.0, dtype=torch.float64)
    table[0, 1] = table[1, 2] = table[3, 3] = 0.0
    model = bigram_lm(table)
    result = generate(model, [[0], [3]], max_new_tokens=4, eos_id=2)
    assert result.tokens.tolist() == [[1, 2, 2, 2], [3, 3, 3, 3]]
    assert result.lengths.tolist() == [2, 4]
    assert result.finished.tolist() == [True, False]
    assert result.log_probs[0, 2:].tolist() == [0.0, 0.0]
    torch.testing.assert_close(result.scores, result.log_probs.sum(1))
    model.calls.clear()
    generate(model, [[0], [0]], max_new_tokens=10, eos_id=2)
    assert len(model.calls) == 2  # the prompt, one step; then every row has finished


def test_sampling_with_a_seed_is_reproducible_and_leaves_the_global_rng_alone(tiny_lm):
    model = tiny_lm(vocab_size=5, seed=4, sharpness=1.0)
    rng = torch.get_rng_state()
    first = generate(model, PROMPTS * 4, method="sample", max_new_tokens=12, seed=7, processors=[top_p(0.95)])
    second = generate(model, PROMPTS * 4, method="sample", max_new_tokens=12, seed=7, processors=[top_p(0.95)])
    assert torch.equal(rng, torch.get_rng_state())
    assert torch.equal(first.tokens, second.tokens)
    assert torch.equal(first.scores, second.scores)
    other = generate(model, PROMPTS * 4, method="sample", max_new_tokens=12, seed=8, processors=[top_p(0.95)])
    assert not torch.equal(first.tokens, other.tokens)  # 12 * 12 draws from flat distributions


def test_sampling_with_top_k_1_is_greedy(tiny_lm):
    model = tiny_lm(vocab_size=5, seed=5, sharpness=0.5)
    greedy = generate(model, PROMPTS, max_new_tokens=7, eos_id=4)
    sampled = generate(model, PROMPTS, method="sample", max_new_tokens=7, eos_id=4, processors=[top_k(1)], seed=0)
    assert torch.equal(greedy.tokens, sampled.tokens)
    assert torch.equal(greedy.lengths, sampled.lengths)


def test_sampling_follows_the_processed_distribution(tiny_lm):
    model = tiny_lm(vocab_size=5, seed=6, sharpness=0.5)
    n = 4000
    result = generate(model, [[1, 2]] * n, method="sample", max_new_tokens=1, processors=[temperature(1.5)], seed=0)
    logits, _ = model(torch.tensor([[1, 2]]))
    probs = torch.softmax(logits[0, -1] / 1.5, dim=-1)
    frequency = torch.bincount(result.tokens[:, 0], minlength=5).double() / n
    sigma = (probs * (1 - probs) / n).sqrt()
    assert ((frequency - probs).abs() < 4.5 * sigma + 1e-9).all(), (frequency, probs)
    nucleus = generate(model, [[1, 2]] * 500, method="sample", max_new_tokens=1, processors=[top_p(0.6)], seed=0)
    allowed = torch.isfinite(top_p(0.6)(None, logits[:, -1]))[0]
    assert allowed[nucleus.tokens[:, 0]].all()


# ---------------------------------------------------------------- incremental, batch invariance


def test_incremental_logits_equal_rerunning_the_prefix(tiny_lm):
    model = tiny_lm(vocab_size=6, hidden_size=10, num_layers=2, seed=7)
    prompts = [[0, 1, 2, 3, 4], [5], [2, 3]]
    seen = []

    def record(tokens, logits):
        seen.append(logits.clone())
        return logits

    model.calls.clear()
    result = generate(model, prompts, method="sample", max_new_tokens=6, processors=[record], seed=1)
    assert model.calls == [(3, 5)] + [(3, 1)] * 5  # the prompt once, then one token per row per step
    for step, logits in enumerate(seen):
        for b, prompt in enumerate(prompts):
            full = torch.tensor([prompt + result.tokens[b, :step].tolist()])
            expected, _ = model(full)
            torch.testing.assert_close(logits[b], expected[0, -1], rtol=0, atol=1e-12)


def batch_of_eight():
    generator = torch.Generator().manual_seed(0)
    lengths = [3, 1, 8, 5, 2, 7, 4, 6]
    return [torch.randint(0, 7, (n,), generator=generator).tolist() for n in lengths]


@pytest.mark.parametrize("method", ["beam", "greedy"])
def test_batch_invariance(tiny_lm, method):
    model = tiny_lm(vocab_size=7, hidden_size=16, num_layers=2, seed=8, sharpness=1.5)
    prompts = batch_of_eight()
    options = dict(method=method, max_new_tokens=9, eos_id=6, processors=[repetition_penalty(1.3)])
    if method == "beam":
        options.update(beam_size=5, length_penalty=0.6)
    padded = torch.full((8, 8), 3, dtype=torch.long)  # the padding value must not matter
    for b, prompt in enumerate(prompts):
        padded[b, : len(prompt)] = torch.tensor(prompt)
    together = generate(model, padded, [len(p) for p in prompts], **options)
    from_list = generate(model, prompts, **options)
    assert torch.equal(together.tokens, from_list.tokens)
    for b, prompt in enumerate(prompts):
        alone = generate(model, [prompt], **options)
        assert row(alone, 0) == row(together, b)
        assert bool(alone.finished[0]) == bool(together.finished[b])
        torch.testing.assert_close(alone.scores[0], together.scores[b], rtol=0, atol=1e-12)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.integers(0, 5), min_size=1, max_size=6), min_size=1, max_size=5), st.booleans())
def test_any_batch_decodes_each_prompt_as_alone(tiny_lm, prompts, beam):
    model = tiny_lm(vocab_size=6, hidden_size=8, seed=12)  # the fixture is a class: nothing shared
    options = dict(method="beam", beam_size=2) if beam else dict(method="greedy")
    together = generate(model, prompts, max_new_tokens=4, eos_id=5, **options)
    for b, prompt in enumerate(prompts):
        assert row(generate(model, [prompt], max_new_tokens=4, eos_id=5, **options), 0) == row(together, b)


# ---------------------------------------------------------------- streaming, result type


@pytest.mark.parametrize("method", ["greedy", "sample", "beam"])
def test_stream_yields_what_generate_returns(tiny_lm, method):
    model = tiny_lm(vocab_size=5, seed=9)
    options = dict(method=method, max_new_tokens=6, eos_id=4, seed=3 if method == "sample" else None)
    if method == "beam":
        options.update(beam_size=3)
    result = generate(model, PROMPTS, **options)
    steps = list(stream(model, PROMPTS, **options))
    assert all(isinstance(step, Step) for step in steps)
    assert torch.equal(torch.stack([s.tokens for s in steps], 1), result.tokens)
    assert torch.equal(torch.stack([s.log_probs for s in steps], 1), result.log_probs)
    assert torch.equal(torch.stack([s.active for s in steps], 1).sum(1), result.lengths)
    assert type(result) is Generation and result._fields == Generation._fields


def test_stream_yields_before_generating_the_rest(tiny_lm):
    model = tiny_lm(vocab_size=5, seed=10)
    model.calls.clear()
    steps = stream(model, [[1]], max_new_tokens=100)
    assert model.calls == []  # nothing runs before the first next()
    first = next(steps)
    assert model.calls == [(1, 1)] and first.tokens.shape == (1,)
    next(steps)
    assert len(model.calls) == 2
    assert torch.is_grad_enabled()  # no_grad does not leak out of the suspended generator


def test_the_result_type_is_the_same_for_every_method(tiny_lm):
    model = tiny_lm(vocab_size=5, seed=11)
    results = [generate(model, PROMPTS, method=m, max_new_tokens=3, eos_id=4, seed=0) for m in ("greedy", "sample")]
    results.append(generate(model, PROMPTS, method="beam", max_new_tokens=3, eos_id=4))
    for result in results:
        assert type(result) is Generation
        assert result.tokens.dtype == result.lengths.dtype == torch.long
        assert result.finished.dtype == torch.bool
        assert result.tokens.shape == result.log_probs.shape and result.tokens.size(0) == 3


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "arguments, error, words",
    [
        (dict(method="beams"), ValueError, ["method", "'beams'", "did you mean 'beam'"]),
        (dict(max_new_tokens=0), ValueError, ["max_new_tokens", ">= 1", "got 0"]),
        (dict(max_new_tokens=2.0), TypeError, ["max_new_tokens", "float"]),
        (dict(beam_size=4), ValueError, ["beam_size", "method='beam'", "'greedy'"]),
        (dict(length_penalty=0.6, method="sample"), ValueError, ["length_penalty", "method='beam'"]),
        (dict(method="beam", beam_size=0), ValueError, ["beam_size", ">= 1"]),
        (dict(method="beam", length_penalty="long"), TypeError, ["length_penalty", "str"]),
        (dict(eos_id=-1), ValueError, ["eos_id", ">= 0", "-1"]),
        (dict(eos_id=5), ValueError, ["eos_id", "vocabulary size 5", "got 5"]),
        (dict(method="beam", eos_id=9), ValueError, ["eos_id", "vocabulary size 5", "got 9"]),
        (dict(seed=1.5), TypeError, ["seed", "float"]),
        (dict(processors=3), TypeError, ["processors", "int"]),
        (dict(prompts=torch.tensor([1, 2])), ValueError, ["prompts", "(B, T)", "prompts[None]"]),
        (dict(prompts=torch.ones(2, 3)), TypeError, ["prompts", "integer", "float32"]),
        (dict(prompts=torch.ones(2, 0, dtype=torch.long)), ValueError, ["prompts", "at least one token"]),
        (dict(prompts=[[1], []]), ValueError, ["prompt 1", "non-empty"]),
        (dict(prompts=[]), ValueError, ["prompts", "empty list"]),
        (dict(prompts="hello"), TypeError, ["prompts", "str"]),
        (dict(prompts=[[1, -3]]), ValueError, ["prompts", ">= 0", "-3"]),
        (dict(prompts=[[1], [2]], lengths=[1, 1]), ValueError, ["lengths", "padded"]),
        (dict(prompts=torch.ones(2, 3, dtype=torch.long), lengths=[1]), ValueError, ["lengths", "expected 2"]),
        (dict(prompts=torch.ones(2, 3, dtype=torch.long), lengths=[1, 4]), ValueError, ["lengths", "<= 3"]),
        (dict(processors=[ban_tokens(range(5))]), ValueError, ["processors", "row 0", "step 0", "-inf"]),
        (dict(processors=[lambda tokens, logits: logits[:, :2]]), ValueError, ["processors", "shape"]),
        (dict(method="beam", processors=[ban_tokens(range(5))]), ValueError, ["no hypothesis", "prompt 0"]),
    ],
)
def test_generate_errors_name_the_argument(tiny_lm, arguments, error, words):
    model = tiny_lm(vocab_size=5)
    arguments = dict(dict(prompts=[[1]], max_new_tokens=3), **arguments)
    with pytest.raises(error) as info:
        generate(model, **arguments)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("arguments", [dict(method="beams"), dict(max_new_tokens=0), dict(prompts=torch.tensor([1]))])
def test_stream_checks_arguments_before_the_first_next(tiny_lm, arguments):
    arguments = dict(dict(prompts=[[1]], max_new_tokens=3), **arguments)
    with pytest.raises(ValueError):
        stream(tiny_lm(vocab_size=5), **arguments)  # no next(): the error comes at the call


def test_a_model_in_training_mode_is_reported(tiny_lm, caplog):
    model = tiny_lm(vocab_size=5).train()
    with caplog.at_level("WARNING"):
        generate(model, [[1]], max_new_tokens=1)
    assert "model.eval()" in caplog.text


def test_stream_takes_the_arguments_of_generate(tiny_lm):
    generate_parameters = inspect.signature(generate).parameters
    assert inspect.signature(stream).parameters == generate_parameters  # what help(stream) shows
    model = tiny_lm(vocab_size=5)
    with pytest.raises(TypeError, match="stream.*max_new_tokens"):
        stream(model, [[1]])
    with pytest.raises(TypeError, match="stream.*beam"):
        stream(model, [[1]], max_new_tokens=2, beam=3)
