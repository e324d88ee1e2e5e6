"""The CRF against brute force: every tag sequence of tiny inputs enumerated."""

import itertools

import pytest
import torch

from rnnkit.models.crf import CRF, bio_constraints

LABELS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")


def _crf(num_tags, constrained=False, seed=0):
    torch.manual_seed(seed)
    allowed = bio_constraints(LABELS) if constrained else (None, None)
    crf = CRF(num_tags, allowed=allowed[0], allowed_start=allowed[1]).double()
    with torch.no_grad():  # larger than the init so that transitions matter
        for p in crf.parameters():
            p.normal_()
    return crf


def _brute_score(crf, emissions, tags):
    """s(y) for one sequence (T, K), straight from the definition; None for a forbidden sequence."""
    if not bool(crf.allowed_start[tags[0]]):
        return None
    if any(not bool(crf.allowed[a, b]) for a, b in itertools.pairwise(tags)):
        return None
    total = crf.start_transitions[tags[0]] + crf.end_transitions[tags[-1]]
    total = total + sum(emissions[t, y] for t, y in enumerate(tags))
    return total + sum(crf.transitions[a, b] for a, b in itertools.pairwise(tags))


def _brute_force(crf, emissions):
    """(log Z, best score, best tags) over all K^T sequences of one sequence (T, K)."""
    scores = {}
    for tags in itertools.product(range(emissions.size(1)), repeat=emissions.size(0)):
        score = _brute_score(crf, emissions, tags)
        if score is not None:
            scores[tags] = score
    stacked = torch.stack(list(scores.values()))
    best = max(scores, key=lambda tags: float(scores[tags].detach()))
    return torch.logsumexp(stacked, 0), scores[best], list(best)


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize("steps", [1, 2, 4])
def test_log_partition_and_viterbi_match_brute_force(steps, constrained):
    crf = _crf(5, constrained)
    emissions = torch.randn(1, steps, 5, dtype=torch.float64)
    log_z, best_score, best_tags = _brute_force(crf, emissions[0])
    torch.testing.assert_close(crf.log_partition(emissions)[0], log_z, rtol=0, atol=1e-10)
    viterbi = crf.decode(emissions)
    assert viterbi.tags[0].tolist() == best_tags
    torch.testing.assert_close(viterbi.scores[0], best_score, rtol=0, atol=1e-10)
    torch.testing.assert_close(crf.score(emissions, viterbi.tags), best_score.view(1), rtol=0, atol=1e-10)


@pytest.mark.parametrize("constrained", [False, True])
def test_batched_viterbi_matches_brute_force_per_row(constrained):
    crf = _crf(5, constrained, seed=2)
    lengths = [4, 1, 3, 2]
    emissions = torch.randn(len(lengths), 4, 5, dtype=torch.float64)
    mask = torch.arange(4)[None, :] < torch.tensor(lengths)[:, None]
    viterbi = crf.decode(emissions, mask)
    for row, n in enumerate(lengths):
        _, best_score, best_tags = _brute_force(crf, emissions[row, :n])
        assert viterbi.tags[row, :n].tolist() == best_tags
        torch.testing.assert_close(viterbi.scores[row], best_score, rtol=0, atol=1e-10)


def test_nll_is_minus_log_probability_and_probabilities_sum_to_one():
    crf = _crf(3)
    emissions = torch.randn(1, 3, 3, dtype=torch.float64)
    total = torch.zeros((), dtype=torch.float64)
    for tags in itertools.product(range(3), repeat=3):
        total = total + torch.exp(-crf.nll(emissions, torch.tensor([tags])))[0]
    torch.testing.assert_close(total, torch.ones((), dtype=torch.float64), rtol=0, atol=1e-12)


@pytest.mark.parametrize("constrained", [False, True])
def test_masked_batch_equals_one_by_one(constrained):
    crf = _crf(5, constrained, seed=1)
    lengths = [5, 1, 3, 4]
    emissions = torch.randn(4, 5, 5, dtype=torch.float64)
    emissions_padded = emissions.clone()
    mask = torch.arange(5)[None, :] < torch.tensor(lengths)[:, None]
    emissions_padded[~mask] = 1e3  # garbage in the padding must not leak into any result
    tags = torch.randint(0, 5, (4, 5))
    if constrained:
        tags = crf.decode(torch.randn(4, 5, 5, dtype=torch.float64)).tags  # legal sequences
    log_z = crf.log_partition(emissions_padded, mask)
    score = crf.score(emissions_padded, tags, mask)
    viterbi = crf.decode(emissions_padded, mask)
    for row, n in enumerate(lengths):
        one = emissions[row : row + 1, :n]
        torch.testing.assert_close(log_z[row], crf.log_partition(one)[0], rtol=0, atol=1e-10)
        torch.testing.assert_close(score[row], crf.score(one, tags[row : row + 1, :n])[0], rtol=0, atol=1e-10)
        alone = crf.decode(one)
        assert viterbi.tags[row, :n].tolist() == alone.tags[0].tolist()
        assert (viterbi.tags[row, n:] == -1).all()
        torch.testing.assert_close(viterbi.scores[row], alone.scores[0], rtol=0, atol=1e-10)


def test_gradcheck_float64():
    crf = _crf(5, constrained=True)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
    tags = torch.tensor([[1, 2, 0, 3], [3, 4, 0, 0]])  # legal BIO sequences
    emissions = torch.randn(2, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda e: crf.nll(e, tags, mask), (emissions,))
    names = ("transitions", "start_transitions", "end_transitions")
    params = tuple(getattr(crf, name).detach().clone().requires_grad_(True) for name in names)

    def by_parameters(*values):
        return _nll_with(crf, dict(zip(names, values, strict=True)), emissions.detach(), tags, mask)

    assert torch.autograd.gradcheck(by_parameters, params)


def _nll_with(crf, parameters, emissions, tags, mask):
    class Call(torch.nn.Module):  # functional_call needs forward(); route it to nll
        def __init__(self):
            super().__init__()
            self.crf = crf

        def forward(self, *args):
            return self.crf.nll(*args)

    named = {f"crf.{k}": v for k, v in parameters.items()}
    return torch.func.functional_call(Call(), named, (emissions, tags, mask))


def test_marginals_match_brute_force():
    crf = _crf(3, seed=2)
    emissions = torch.randn(1, 3, 3, dtype=torch.float64)
    expected = torch.zeros(3, 3, dtype=torch.float64)
    log_z = crf.log_partition(emissions)[0]
    for tags in itertools.product(range(3), repeat=3):
        p = torch.exp(crf.score(emissions, torch.tensor([tags]))[0] - log_z)
        for t, y in enumerate(tags):
            expected[t, y] += p
    torch.testing.assert_close(crf.marginals(emissions)[0], expected, rtol=0, atol=1e-10)


def test_bio_constraints():
    allowed, start = bio_constraints(LABELS)
    index = {label: i for i, label in enumerate(LABELS)}
    assert start.tolist() == [True, True, False, True, False]  # I-X never first
    assert allowed[index["B-PER"], index["I-PER"]] and allowed[index["I-PER"], index["I-PER"]]
    assert not allowed[index["O"], index["I-PER"]]
    assert not allowed[index["B-LOC"], index["I-PER"]] and not allowed[index["I-LOC"], index["I-PER"]]
    assert allowed[index["I-PER"], index["B-LOC"]] and allowed[index["O"], index["O"]]
    # Viterbi never produces a forbidden sequence, even when the emissions favour one strongly
    crf = CRF(5, allowed=allowed, allowed_start=start)
    emissions = torch.zeros(1, 3, 5)
    emissions[0, :, index["I-PER"]] = 10.0
    tags = [LABELS[i] for i in crf.decode(emissions).tags[0].tolist()]
    assert tags == ["B-PER", "I-PER", "I-PER"]


def test_errors_name_the_argument():
    crf = CRF(3)
    with pytest.raises(ValueError, match="num_tags"):
        CRF(0)
    with pytest.raises(ValueError, match="emissions"):
        crf.log_partition(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="mask"):
        crf.log_partition(torch.randn(2, 3, 3), torch.tensor([[0, 1, 1], [1, 1, 1]]).bool())
    with pytest.raises(ValueError, match="tags"):
        crf.score(torch.randn(2, 3, 3), torch.zeros(2, 2, dtype=torch.long), torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="labels"):
        bio_constraints(["O", "PER"])
    with pytest.raises(ValueError, match="allowed"):
        CRF(3, allowed=torch.ones(2, 2, dtype=torch.bool))
