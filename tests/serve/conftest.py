import pytest
import torch

from rnnkit.bundle import load, save
from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.poems.data import FORM_TOKENS
from rnnkit.text import Tokenizer

CHARACTERS = "春夏秋冬山水月花风云日夜江天人家白红青黄鸟雁孤舟客归来去，。"


@pytest.fixture(scope="session")
def poem_bundle(tmp_path_factory):
    """A tiny random-weight poem model saved as a bundle: its poems are noise, but their form is exact."""
    tokenizer = Tokenizer.build([CHARACTERS], extra_specials=FORM_TOKENS)
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(vocab_size=len(tokenizer), embedding_size=8, hidden_size=16,
                                              num_layers=2))
    path = save(tmp_path_factory.mktemp("poet") / "bundle", model, tokenizer, task="poems")
    return load(path)


@pytest.fixture(scope="session")
def text_bundle(tmp_path_factory):
    """A tiny word-level GRU language model without poem tokens."""
    tokenizer = Tokenizer.build(["the cat sat on the mat and the dog ran"], level="word")
    torch.manual_seed(1)
    model = LanguageModel(LanguageModelConfig(vocab_size=len(tokenizer), embedding_size=8, hidden_size=8, cell="gru"))
    return load(save(tmp_path_factory.mktemp("text") / "bundle", model, tokenizer, task="word_lm"))


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    """Prometheus text parsed by prometheus_client: {(sample name, sorted label pairs): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


@pytest.fixture
def samples():
    """The parser of /metrics answers: ``samples(text)[name, (("label", "value"), ...)]`` is a sample's value."""
    return _samples
