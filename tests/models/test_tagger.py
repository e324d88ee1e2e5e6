import pytest
import torch
import torch.nn.functional as F

from rnnkit.bundle import load, save
from rnnkit.models.crf import bio_constraints
from rnnkit.models.tagger import Tagger, TaggerConfig

LABELS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")


def _model(output="crf", chars=0):
    torch.manual_seed(0)
    config = TaggerConfig(vocab_size=20, labels=LABELS, embedding_size=6, hidden_size=5, dropout=0.0,
                          output=output, char_vocab_size=chars, char_embedding_size=4, char_hidden_size=3)
    return Tagger(config).double().eval()


def _inputs():
    tokens = torch.randint(4, 20, (3, 5))
    lengths = torch.tensor([5, 2, 4])
    tags = torch.tensor([[1, 2, 0, 3, 4], [0, 1, 0, 0, 0], [3, 0, 1, 2, 0]])
    chars = torch.randint(4, 12, (3, 5, 4))
    char_lengths = torch.randint(1, 5, (3, 5))
    for row, n in enumerate(lengths.tolist()):
        char_lengths[row, n:] = 0
        chars[row, n:] = 0
    for b in range(3):
        for t in range(5):
            chars[b, t, char_lengths[b, t]:] = 0
    return tokens, lengths, tags, chars, char_lengths


def test_crf_loss_is_the_sentence_nll_per_token():
    model = _model("crf")
    tokens, lengths, tags, _, _ = _inputs()
    emissions = model(tokens, lengths)
    mask = torch.arange(5)[None] < lengths[:, None]
    expected = model.crf.nll(emissions, tags, mask).sum() / lengths.sum()
    torch.testing.assert_close(model.loss(emissions, tags, lengths), expected)
    assert model.crf.allowed.equal(bio_constraints(LABELS)[0])


def test_softmax_loss_is_token_cross_entropy_and_decode_is_argmax():
    model = _model("softmax")
    tokens, lengths, tags, _, _ = _inputs()
    emissions = model(tokens, lengths)
    valid = [(b, t) for b in range(3) for t in range(int(lengths[b]))]
    logits = torch.stack([emissions[b, t] for b, t in valid])
    gold = torch.stack([tags[b, t] for b, t in valid])
    torch.testing.assert_close(model.loss(emissions, tags, lengths), F.cross_entropy(logits, gold))
    decoded = model.decode(emissions, lengths)
    assert [len(row) for row in decoded] == lengths.tolist()
    assert decoded[1] == emissions[1, :2].argmax(-1).tolist()


@pytest.mark.parametrize("output", ["crf", "softmax"])
def test_character_features_padded_batch_equals_one_by_one(output):
    model = _model(output, chars=12)
    tokens, lengths, _, chars, char_lengths = _inputs()
    batch = model(tokens, lengths, chars, char_lengths)
    decoded = model.decode(batch, lengths)
    for row, n in enumerate(lengths.tolist()):
        width = int(char_lengths[row, :n].max())
        alone = model(tokens[row : row + 1, :n], [n], chars[row : row + 1, :n, :width], char_lengths[row : row + 1, :n])
        torch.testing.assert_close(batch[row, :n], alone[0], rtol=0, atol=1e-10)
        assert decoded[row] == model.decode(alone, [n])[0]


def test_probabilities_are_distributions():
    model = _model("crf")
    tokens, lengths, _, _, _ = _inputs()
    probabilities = model.probabilities(model(tokens, lengths), lengths)
    torch.testing.assert_close(probabilities[0].sum(-1), torch.ones(5, dtype=torch.float64))
    assert (probabilities[1, 2:] == 0).all()


def test_bundle_round_trip(tmp_path):
    model = _model("crf", chars=12).float()
    tokens, lengths, _, chars, char_lengths = _inputs()
    bundle = load(save(tmp_path / "b", model, task="ner"))
    assert bundle.model.config.labels == LABELS
    torch.testing.assert_close(bundle.model(tokens, lengths, chars, char_lengths),
                               model(tokens, lengths, chars, char_lengths))


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="output"):
        TaggerConfig(output="hmm")
    with pytest.raises(ValueError, match="labels"):
        Tagger(TaggerConfig(vocab_size=5, labels=("O", "PER"), constraints="bio"))
    with pytest.raises(ValueError, match="vocab_size"):
        Tagger(TaggerConfig(labels=LABELS))
    with pytest.raises(ValueError, match="chars"):
        _model("crf", chars=12)(torch.randint(4, 20, (1, 3)), [3])
    with pytest.raises(ValueError, match="tokens"):
        _model()(torch.randint(4, 20, (3,)), [3])
