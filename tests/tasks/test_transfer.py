import torch

from rnnkit.bundle import save
from rnnkit.models.classifier import ClassifierConfig
from rnnkit.models.lm import LanguageModelConfig
from rnnkit.tasks.sentiment import Example, SentimentData
from rnnkit.tasks.transfer import (
    SentenceLMOptions,
    SentenceLMTask,
    TransferOptions,
    TransferTask,
    layer_groups,
)
from rnnkit.training import RunConfig, Trainer
from rnnkit.training.config import OptimizerConfig, ValidationConfig

TEXTS = ["a fine film", "a dull film", "wonderful and warm", "boring and cold", "great fun", "awful mess"]


def _language_model(tmp_path):
    options = SentenceLMOptions(batch_size=3, min_count=1,
                                model=LanguageModelConfig(embedding_size=8, hidden_size=8, num_layers=2))
    task = SentenceLMTask(options, texts=(TEXTS * 2, TEXTS))
    trainer = Trainer(task, RunConfig(task="sentence_lm", max_steps=4, validation=ValidationConfig(every=4)),
                      callbacks=[])
    trainer.fit()
    return save(tmp_path / "lm", trainer.model, task.tokenizer, task="sentence_lm")


def _data():
    examples = [Example(text, 1 - i % 2) for i, text in enumerate(TEXTS)]
    return SentimentData(examples * 2, examples, examples, "word", True)


def test_fine_tuning_starts_from_the_language_model(tmp_path):
    path = _language_model(tmp_path)
    task = TransferTask(TransferOptions(pretrained=str(path), model=ClassifierConfig(dropout=0.0)), data=_data())
    lm = task.language_model.model
    assert task.tokenizer is task.language_model.tokenizer
    assert (task.model_config.hidden_size, task.model_config.num_layers, task.model_config.bidirectional) == (8, 2, False)
    model = task.build_model()
    torch.testing.assert_close(model.embedding.weight, lm.embedding.weight)
    torch.testing.assert_close(model.rnn.weight_hh_l1, lm.rnn.weight_hh_l1)


def test_discriminative_learning_rates_and_gradual_unfreezing(tmp_path):
    path = _language_model(tmp_path)
    options = TransferOptions(pretrained=str(path), batch_size=4, lr_decay=2.0, model=ClassifierConfig(dropout=0.0))
    task = TransferTask(options, data=_data())
    model = task.build_model()
    groups = layer_groups(model)
    assert len(groups) == 4  # embedding, LSTM layer 0, LSTM layer 1, head
    assert [g["lr_scale"] for g in task.parameter_groups(model)] == [1 / 8, 1 / 4, 1 / 2, 1.0]
    before = [[p.detach().clone() for p in group] for group in groups]
    config = RunConfig(task="sentiment_transfer", max_steps=3, max_epochs=1, clip_norm=None,
                       optimizer=OptimizerConfig(name="sgd", lr=0.5, momentum=0.0),
                       validation=ValidationConfig(every=0))
    trainer = Trainer(task, config, model=model, callbacks=[])
    trainer.fit()  # epoch 0: only the head trains
    for index, group in enumerate(groups):
        changed = any(not torch.equal(p, q) for p, q in zip(group, before[index], strict=True))
        assert changed == (index == len(groups) - 1), index
    batches = [next(iter(task.train_batches(epoch))).frozen for epoch in range(5)]
    assert batches == [3, 2, 1, 0, 0]


def test_sgd_step_scales_with_lr_scale():
    """One SGD step through the engine moves each group by lr * lr_scale * gradient."""
    task = TransferTask(TransferOptions(pretrained=None, batch_size=12, lr_decay=4.0, gradual_unfreezing=False,
                                        min_count=1, model=ClassifierConfig(embedding_size=4, hidden_size=4,
                                                                            dropout=0.0)), data=_data())
    torch.manual_seed(0)
    model = task.build_model()
    batch = next(iter(task.train_batches(0)))
    reference = task.build_model()
    reference.load_state_dict(model.state_dict())
    task.step(reference, batch, None).loss.backward()
    config = RunConfig(task="sentiment_transfer", max_steps=1, clip_norm=None,
                       optimizer=OptimizerConfig(name="sgd", lr=0.1, momentum=0.0), validation=ValidationConfig(every=0))
    Trainer(task, config, model=model, callbacks=[]).fit()
    scales = [group["lr_scale"] for group in task.parameter_groups(reference)]
    for scale, ours, theirs in zip(scales, layer_groups(model), layer_groups(reference), strict=True):
        for p, q in zip(ours, theirs, strict=True):
            expected = q.detach() - 0.1 * scale * (q.grad if q.grad is not None else torch.zeros_like(q))
            torch.testing.assert_close(p.detach(), expected)
