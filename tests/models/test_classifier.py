import pytest
import torch

from rnnkit.bundle import load, save
from rnnkit.models.classifier import POOLINGS, ClassifierConfig, SequenceClassifier
from rnnkit.models.lm import LanguageModel, LanguageModelConfig


def _model(pooling, **kwargs):
    torch.manual_seed(0)
    config = ClassifierConfig(**{"vocab_size": 30, "num_classes": 3, "embedding_size": 6, "hidden_size": 5,
                                 "pooling": pooling, "dropout": 0.0, **kwargs})
    return SequenceClassifier(config).double().eval()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_padded_batch_equals_one_by_one(pooling, cell):
    model = _model(pooling, cell=cell, num_layers=2)
    lengths = [6, 2, 4]
    tokens = torch.randint(4, 30, (3, 6))
    tokens_padded = tokens.clone()
    for row, n in enumerate(lengths):
        tokens_padded[row, n:] = 7  # garbage padding must not change anything
    batch = model(tokens_padded, torch.tensor(lengths))
    for row, n in enumerate(lengths):
        alone = model(tokens[row : row + 1, :n], [n])
        torch.testing.assert_close(batch[row : row + 1], alone, rtol=0, atol=1e-10)


def test_poolings_match_their_definitions_on_torch_lstm_outputs():
    lengths = torch.tensor([5, 3])
    tokens = torch.randint(4, 30, (2, 5))
    reference = {}
    for pooling in ("last", "mean", "max"):
        model = _model(pooling)
        ref = torch.nn.LSTM(6, 5, batch_first=True, bidirectional=True, dtype=torch.float64)
        ref.load_state_dict(model.rnn.state_dict())
        pooled, _ = model.encode(tokens, lengths)
        x = model.embedding(tokens)
        for row, n in enumerate(lengths.tolist()):
            y, (h_n, _) = ref(x[row : row + 1, :n])  # (1, n, 2H), (2, 1, H)
            reference = {"last": torch.cat([h_n[0, 0], h_n[1, 0]]), "mean": y[0].mean(0), "max": y[0].amax(0)}
            torch.testing.assert_close(pooled[row], reference[pooling], rtol=0, atol=1e-10)


def test_attention_weights_are_a_distribution_over_valid_steps():
    model = _model("attention")
    pooled, weights = model.encode(torch.randint(4, 30, (2, 5)), torch.tensor([5, 2]))
    torch.testing.assert_close(weights.sum(1), torch.ones(2, dtype=torch.float64))
    assert (weights[1, 2:] == 0).all() and (weights[1, :2] > 0).all()


def test_numeric_input_and_parameter_count():
    config = ClassifierConfig(input_size=3, num_classes=2, hidden_size=4, bidirectional=False, pooling="mean")
    model = SequenceClassifier(config)
    assert model(torch.randn(2, 7, 3), [7, 1]).shape == (2, 2)
    lstm = 4 * (4 * 3 + 4 * 4 + 2 * 4)  # 4 gates x (W_ih, W_hh, b_ih, b_hh)
    assert sum(p.numel() for p in model.parameters()) == lstm + 4 * 2 + 2


def test_load_encoder_copies_the_language_model():
    lm = LanguageModel(LanguageModelConfig(vocab_size=30, embedding_size=6, hidden_size=5, num_layers=2))
    model = SequenceClassifier(ClassifierConfig(vocab_size=30, embedding_size=6, hidden_size=5, num_layers=2,
                                                bidirectional=False, pooling="last", dropout=0.0))
    model.load_encoder(lm)
    tokens = torch.randint(4, 30, (2, 4))
    features, (h_n, _) = lm.eval().features(tokens)
    pooled, _ = model.eval().encode(tokens, [4, 4])
    torch.testing.assert_close(pooled, h_n[-1])
    wrong = SequenceClassifier(ClassifierConfig(vocab_size=30, embedding_size=6, hidden_size=7, num_layers=2,
                                                bidirectional=False))
    with pytest.raises(ValueError, match="rnn.weight_ih_l0"):
        wrong.load_encoder(lm)
    with pytest.raises(ValueError, match="bidirectional"):
        SequenceClassifier(ClassifierConfig(vocab_size=30)).load_encoder(lm)


def test_bundle_round_trip(tmp_path):
    model = _model("attention").float()
    path = save(tmp_path / "b", model, task="sentiment", extra={"labels": ["a", "b", "c"]})
    bundle = load(path)
    tokens = torch.randint(4, 30, (2, 5))
    torch.testing.assert_close(bundle.model(tokens, [5, 3]), model(tokens, [5, 3]))
    assert bundle.info["kind"] == "classifier" and bundle.tokenizer is None


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="pooling"):
        ClassifierConfig(pooling="sum")
    with pytest.raises(ValueError, match="input_size"):
        ClassifierConfig(vocab_size=3, input_size=2)
    with pytest.raises(ValueError, match="vocab_size"):
        SequenceClassifier(ClassifierConfig())
    model = _model("max")
    with pytest.raises(ValueError, match="inputs"):
        model(torch.randn(2, 3), [3, 3])
    with pytest.raises(ValueError, match="lengths"):
        model(torch.randint(4, 30, (2, 3)), [3])
    with pytest.raises(TypeError, match="config"):
        SequenceClassifier({"vocab_size": 3})
