import pytest
import torch

from rnnkit.bundle import Bundle
from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.poems.data import load_poems, split_poems
from rnnkit.poems.task import build_poem_tokenizer


@pytest.fixture(scope="session")
def small_split():
    """300 training and 40 validation poems of the real corpus (all four forms occur)."""
    split = split_poems(load_poems())
    return split._replace(train=split.train[:300], val=split.val[:40])


@pytest.fixture(scope="session")
def poet(small_split):
    """A tiny random poem model: what it writes is noise, but the form must still be exact."""
    tokenizer = build_poem_tokenizer(small_split.train, min_count=1)
    torch.manual_seed(0)
    config = LanguageModelConfig(vocab_size=len(tokenizer), embedding_size=8, hidden_size=16,
                                 adaptive_cutoffs=(100, 400), adaptive_div_value=2.0)
    return Bundle(LanguageModel(config).eval(), tokenizer, {"task": "poems"}, None)
