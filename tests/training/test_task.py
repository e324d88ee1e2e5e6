"""The optional task hooks of rnnkit.training.task, recognised with isinstance on real tasks."""

import pytest

from rnnkit.models.char_lm import CharLMOptions, CharLMTask
from rnnkit.models.classifier import ClassifierConfig
from rnnkit.models.lm import LanguageModelConfig
from rnnkit.tasks.sentiment import Example, SentimentData
from rnnkit.tasks.transfer import TransferOptions, TransferTask
from rnnkit.training.task import HasBundle, HasEvaluation, HasParameterGroups, HasTokenizer
from rnnkit.training.toy import ToyLMOptions, ToyLMTask

TEXTS = ["a fine film", "a dull film", "wonderful and warm", "boring and cold"]
HOOKS = (HasParameterGroups, HasBundle, HasEvaluation, HasTokenizer)


@pytest.fixture(scope="module")
def tasks():
    examples = [Example(text, i % 2) for i, text in enumerate(TEXTS)]
    transfer = TransferTask(TransferOptions(pretrained=None, batch_size=2, min_count=1,
                                            model=ClassifierConfig(embedding_size=4, hidden_size=4)),
                            data=SentimentData(examples, examples, examples, "word", True))
    char_lm = CharLMTask(CharLMOptions(batch_size=2, bptt=4, model=LanguageModelConfig(embedding_size=4,
                                                                                       hidden_size=4)),
                         text=("to be or not to be " * 4, "to be " * 4))
    return {"sentiment_transfer": transfer, "char_lm": char_lm, "toy_lm": ToyLMTask(ToyLMOptions(), seed=0)}


@pytest.mark.parametrize(("name", "expected"), [
    ("sentiment_transfer", {HasParameterGroups, HasBundle, HasEvaluation, HasTokenizer}),
    ("char_lm", {HasBundle, HasTokenizer}),
    ("toy_lm", set()),
])
def test_each_hook_is_recognised_on_the_tasks_that_have_it(tasks, name, expected):
    assert {hook for hook in HOOKS if isinstance(tasks[name], hook)} == expected


def test_a_hook_set_to_none_counts_as_absent(tasks):
    class Blocked(CharLMTask):
        bundle_parts = None

    task = object.__new__(Blocked)
    task.__dict__.update(vars(tasks["char_lm"]))
    assert not isinstance(task, HasBundle) and isinstance(task, HasTokenizer)
