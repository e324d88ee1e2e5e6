"""BeamState and the step functions of rnnkit.decoding.beam (the search itself: tests/decoding/test_search.py)."""

import dataclasses

import pytest
import torch

from rnnkit.decoding import BeamState, generate, length_penalty_factor, min_length, repetition_penalty
from rnnkit.decoding import beam as beam_module
from rnnkit.decoding.beam import Best

INF = float("inf")


def test_a_search_starts_with_one_live_beam_per_prompt():
    beams = BeamState.start(2, 3, 5, dtype=torch.float64, device=torch.device("cpu"))
    assert beams.scores.tolist() == [[0.0, -INF, -INF]] * 2
    assert beams.tokens.shape == (6, 5) and beams.tokens.dtype == torch.long and not beams.tokens.any()
    assert beams.log_probs.shape == (6, 5) and beams.log_probs.dtype == torch.float64
    assert beams.length == 0 and beams.done.tolist() == [False, False]
    assert beams.first_rows.tolist() == [0, 3]
    with pytest.raises(dataclasses.FrozenInstanceError):
        beams.length = 1
    best = Best.empty(2, 5, pad=4, dtype=torch.float64, device=torch.device("cpu"))
    assert best.scores.tolist() == [-INF, -INF] and (best.tokens == 4).all() and not best.lengths.any()


def check_open(beams: BeamState):
    length = beams.length
    assert not beams.tokens[:, length:].any() and not beams.log_probs[:, length:].any()
    assert torch.equal(beams.scores, beams.scores.sort(dim=1, descending=True).values)  # best first
    assert (beams.scores[beams.done] == -INF).all()
    live = beams.scores.view(-1) > -INF
    # a raw score is the sum of its hypothesis' log-probabilities
    torch.testing.assert_close(beams.log_probs.sum(1)[live], beams.scores.view(-1)[live], rtol=0, atol=1e-12)


def check_best(best: Best, alpha: float, eos_id):
    for b in (best.scores > -INF).nonzero().flatten().tolist():
        n = int(best.lengths[b])
        assert (best.tokens[b, n:] == best.pad).all() and not best.log_probs[b, n:].any()
        score = best.log_probs[b].sum() / length_penalty_factor(n, alpha)
        torch.testing.assert_close(score, best.scores[b], rtol=0, atol=1e-12)
        assert bool(best.finished[b]) == (eos_id is not None and int(best.tokens[b, n - 1]) == eos_id)
        assert eos_id is None or eos_id not in best.tokens[b, : n - 1].tolist()


@pytest.mark.parametrize(
    "beam_size, alpha, eos_id, processors",
    [(1, 0.0, 4, []), (3, 1.0, 4, []), (3, 0.6, None, [repetition_penalty(1.5)]),
     (8, 2.0, 4, [min_length(2, eos_id=4)]), (40, -0.5, 4, [])],
)
def test_every_step_keeps_the_invariants(tiny_lm, monkeypatch, beam_size, alpha, eos_id, processors):
    seen = []

    def recording_stop_early(beams, best, max_new_tokens, alpha_):
        check_open(beams)
        check_best(best, alpha, eos_id)
        stopped = stop_early(beams, best, max_new_tokens, alpha_)
        check_open(stopped)
        assert (stopped.done >= beams.done).all()  # a prompt that is done stays done
        seen.append(stopped)
        return stopped

    stop_early = beam_module.stop_early
    monkeypatch.setattr(beam_module, "stop_early", recording_stop_early)
    model = tiny_lm(vocab_size=5, seed=3)
    result = generate(model, [[0], [1, 2, 3], [2, 2]], method="beam", beam_size=beam_size, max_new_tokens=6,
                      eos_id=eos_id, length_penalty=alpha, processors=processors)
    assert seen and [beams.length for beams in seen] == list(range(1, len(seen) + 1))
    assert all(beams.scores.shape == (3, beam_size) and beams.tokens.shape == (3 * beam_size, 6) for beams in seen)
    for b in range(3):
        n = int(result.lengths[b])
        torch.testing.assert_close(result.log_probs[b].sum() / length_penalty_factor(n, alpha), result.scores[b],
                                   rtol=0, atol=1e-12)
