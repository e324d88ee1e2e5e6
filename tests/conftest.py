import os

import pytest
import torch

# Tests run many tiny operations: one thread avoids OpenMP start-up and spinning costs on a shared CPU.
torch.set_num_threads(int(os.environ.get("RNNKIT_TEST_THREADS", "1")))


@pytest.fixture
def unwritable(tmp_path):
    """An output folder that cannot be written: a read-only folder (mode 0o555), or, when the tests run as root
    (whom the mode does not stop), a folder path inside a regular file, which fails for root too."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        (tmp_path / "file.txt").write_text("not a folder\n")
        yield tmp_path / "file.txt" / "sub"
        return
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)  # so that pytest can remove it


def _assert_one_error_line(result, *fragments):
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert all(fragment in lines[0] for fragment in fragments), result.output


@pytest.fixture
def user_error():
    """``user_error(result, *fragments)`` checks a CLI result is a user error: exit status 2, one line of output
    starting with 'error:' that holds each fragment (e.g. the option's name), and no traceback."""
    return _assert_one_error_line


TAGGER_LABELS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")


@pytest.fixture(scope="session")
def classifier_bundle(tmp_path_factory):
    """A tiny random-weight word-level sentiment classifier bundle (labels negative, positive)."""
    from rnnkit.bundle import save
    from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
    from rnnkit.text.tokenizer import Tokenizer

    torch.manual_seed(0)
    tokenizer = Tokenizer.build(["a fine film", "a dull film"], level="word")
    model = SequenceClassifier(ClassifierConfig(vocab_size=len(tokenizer), embedding_size=4, hidden_size=4))
    return save(tmp_path_factory.mktemp("c") / "b", model.eval(), tokenizer, task="sentiment",
                extra={"labels": ["negative", "positive"], "lowercase": True, "max_length": 10})


def _tiny_tagger(path, *, predictable: bool):
    """A tiny word tagger with character features (vocabulary alice, visits, paris); ``predictable``: it tags
    B-PER, then O, then B-LOC, whatever the input; else random weights."""
    from rnnkit.bundle import save
    from rnnkit.models.tagger import Tagger, TaggerConfig
    from rnnkit.text.tokenizer import SPECIAL_TOKENS, Tokenizer

    torch.manual_seed(0)
    tokenizer = Tokenizer([*SPECIAL_TOKENS, "alice", "visits", "paris"], level="word")
    chars = Tokenizer.build(["Alice visits Paris"], level="char")
    model = Tagger(TaggerConfig(vocab_size=len(tokenizer), labels=TAGGER_LABELS, embedding_size=4, hidden_size=4,
                                char_vocab_size=len(chars), char_embedding_size=3, char_hidden_size=3))
    if predictable:
        with torch.no_grad():
            model.emissions.weight.zero_()
            model.emissions.bias.copy_(torch.tensor([0.0, 0.0, -9.0, 0.0, -9.0]))
            model.crf.transitions.zero_()
            model.crf.start_transitions.copy_(torch.tensor([0.0, 9.0, 0.0, 0.0, 0.0]))
            model.crf.transitions[1, 0] = 9.0  # B-PER -> O
            model.crf.transitions[0, 3] = 9.0  # O -> B-LOC
    else:
        with torch.no_grad():  # larger emissions and a weaker O: tags that vary with the words, not all O
            model.emissions.weight.mul_(30.0)
            model.emissions.bias[0] -= 3.0
    return save(path, model.eval(), tokenizer, task="ner", tokenizers={"chars": chars},
                extra={"labels": list(TAGGER_LABELS), "lowercase": True, "split": "whitespace",
                       "max_word_length": 20})


@pytest.fixture(scope="session")
def tagger_bundle(tmp_path_factory):
    return _tiny_tagger(tmp_path_factory.mktemp("t") / "b", predictable=True)


@pytest.fixture(scope="session")
def random_tagger_bundle(tmp_path_factory):
    return _tiny_tagger(tmp_path_factory.mktemp("rt") / "b", predictable=False)
