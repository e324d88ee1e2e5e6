import pytest
import torch
from sklearn.metrics import f1_score

from rnnkit.bundle import load
from rnnkit.models.classifier import ClassifierConfig
from rnnkit.tasks.common import classification_metrics
from rnnkit.tasks.sentiment import Example, SentimentData, SentimentOptions, SentimentTask, load_sentiment
from rnnkit.training import RunConfig, Trainer
from rnnkit.training.config import OptimizerConfig, ValidationConfig
from rnnkit.training.run import save_run_bundle

GOOD = ["a fine film", "wonderful and warm", "great fun", "a fine and warm story"]
BAD = ["a dull film", "boring and cold", "awful mess", "a dull and cold story"]


def tiny_data():
    examples = [Example(t, 1) for t in GOOD] + [Example(t, 0) for t in BAD]
    return SentimentData(examples * 3, examples, examples, "word", True)


def test_classification_metrics_match_scikit_learn():
    gold = torch.tensor([0, 1, 2, 2, 1, 0, 2])
    predicted = torch.tensor([0, 2, 2, 2, 1, 1, 0])
    metrics = classification_metrics(predicted, gold, 4)  # class 3 absent from both: counts 0, as sklearn
    assert metrics["accuracy"] == pytest.approx(4 / 7)
    expected = f1_score(gold.numpy(), predicted.numpy(), average="macro", labels=[0, 1, 2, 3], zero_division=0)
    assert metrics["macro_f1"] == pytest.approx(expected)


def test_shipped_splits():
    sst2 = load_sentiment("sst2")
    assert len(sst2.train) + len(sst2.val) == 67349 and len(sst2.val) == 67349 // 50 and len(sst2.test) == 872
    assert {e.label for e in sst2.test} == {0, 1}
    chinese = load_sentiment("chnsenticorp")
    assert (len(chinese.train), len(chinese.val), len(chinese.test)) == (6212, 776, 777)
    assert load_sentiment("chnsenticorp").test == chinese.test  # fixed seed
    with pytest.raises(ValueError, match="dataset"):
        load_sentiment("imdb")


def test_trains_and_writes_a_bundle(tmp_path):
    options = SentimentOptions(batch_size=4, min_count=1,
                               model=ClassifierConfig(embedding_size=8, hidden_size=8, pooling="attention"))
    task = SentimentTask(options, seed=0, data=tiny_data())
    config = RunConfig(task="sentiment", max_steps=30, optimizer=OptimizerConfig(lr=0.05),
                       validation=ValidationConfig(every=10, monitor="val_accuracy", mode="max"))
    trainer = Trainer(task, config, out_dir=tmp_path, callbacks=[])
    result = trainer.fit()
    assert result.metrics["val_accuracy"] == 1.0 and result.metrics["val_macro_f1"] == 1.0
    bundle = load(save_run_bundle(task, config, result, model=trainer.model))
    assert bundle.info["labels"] == ["negative", "positive"] and bundle.info["lowercase"] is True
    assert task.evaluate(bundle.model, "test")["accuracy"] == 1.0
    with pytest.raises(ValueError, match="split"):
        task.evaluate(bundle.model, "dev")


def test_errors_name_the_option():
    with pytest.raises(ValueError, match="train_size"):
        SentimentOptions(train_size=0)
    with pytest.raises(ValueError, match="training and validation"):
        SentimentTask(SentimentOptions(), data=SentimentData([], [], [], "word", True))
