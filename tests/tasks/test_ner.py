import pytest
import torch

from rnnkit.models.tagger import TaggerConfig
from rnnkit.tasks.ner import NERData, NEROptions, NERTask, entity_metrics, load_ner, read_conll, repair_bio
from rnnkit.training import RunConfig, Trainer
from rnnkit.training.config import OptimizerConfig, ValidationConfig


def tiny_data():
    text = "Alice\tB-person\nvisits\tO\nParis\tB-location\n\nBob\tB-person\nSmith\tI-person\nsleeps\tO\n\n" \
           "we\tO\nlove\tO\nNew\tB-location\nYork\tI-location\n"
    sentences = read_conll(text)
    return NERData(sentences * 4, sentences, sentences)


def test_read_conll_and_repair_bio():
    sentences = read_conll("a\tO\nb\tI-PER\n\nc\tB-LOC\nd\tI-PER\ne\tI-PER\n")
    assert [s.tokens for s in sentences] == [["a", "b"], ["c", "d", "e"]]
    assert sentences[0].tags == ["O", "B-PER"] and sentences[1].tags == ["B-LOC", "B-PER", "I-PER"]
    assert repair_bio(["I-X", "I-X", "O", "B-Y", "I-Y"]) == ["B-X", "I-X", "O", "B-Y", "I-Y"]


def test_entity_metrics_count_whole_entities():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predicted = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "O"]]  # a truncated PER does not count
    metrics = entity_metrics(gold, predicted)
    # predicted entities: PER(0,1), LOC, ORG -> 2 of 3 right; gold: 3 entities -> 2 found
    assert metrics["precision"] == pytest.approx(2 / 3) and metrics["recall"] == pytest.approx(2 / 3)
    assert metrics["f1"] == pytest.approx(2 / 3) and metrics["token_accuracy"] == pytest.approx(5 / 6)


def test_shipped_splits_are_legal_bio():
    data = load_ner("wnut17")
    assert (len(data.train), len(data.val), len(data.test)) == (3394, 1009, 1287)
    weibo = load_ner("weibo")
    assert (len(weibo.train), len(weibo.val), len(weibo.test)) == (1350, 270, 270)
    for sentence in weibo.train + weibo.test:
        assert repair_bio(sentence.tags) == sentence.tags
    with pytest.raises(ValueError, match="dataset"):
        load_ner("conll03")


@pytest.mark.parametrize("output", ["crf", "softmax"])
def test_trains_with_character_features(output, tmp_path):
    model = TaggerConfig(embedding_size=8, hidden_size=8, dropout=0.0, output=output, char_embedding_size=4,
                         char_hidden_size=4)
    task = NERTask(NEROptions(batch_size=4, min_count=1, model=model), seed=0, data=tiny_data())
    assert task.model_config.char_vocab_size == len(task.char_tokenizer) and task.labels[0] == "O"
    config = RunConfig(task="ner", max_steps=40, optimizer=OptimizerConfig(lr=0.03),
                       validation=ValidationConfig(every=40, monitor="val_f1", mode="max"))
    trainer = Trainer(task, config, callbacks=[])
    result = trainer.fit()
    assert result.metrics["val_f1"] == 1.0
    assert task.evaluate(trainer.model, "test")["f1"] == 1.0
    parts = task.bundle_parts()
    assert parts["extra"]["labels"] == list(task.labels) and parts["tokenizers"]["chars"] is task.char_tokenizer


def test_character_level_data_has_no_character_features():
    text = "张\tB-NAME\n三\tI-NAME\n好\tO\n"
    task = NERTask(NEROptions(dataset="weibo", min_count=1), data=NERData(read_conll(text), read_conll(text), []))
    assert task.char_tokenizer is None and task.model_config.char_vocab_size == 0
    assert task.bundle_parts()["extra"]["split"] == "char"
    batch = next(iter(task.val_batches()))
    assert batch.chars is None and batch.tags.tolist() == [[task.labels.index(t) for t in ("B-NAME", "I-NAME", "O")]]
    assert torch.equal(batch.lengths, torch.tensor([3]))
