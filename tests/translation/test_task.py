import pytest
import torch
import torch.nn.functional as F

from rnnkit.config import ConfigError
from rnnkit.training.registry import build_task
from rnnkit.translation.data import SentencePair, Split
from rnnkit.translation.task import TranslationOptions, TranslationTask

from .conftest import TOY_EXACT_MATCH


def small_task(**options):
    pairs = [SentencePair(f"I see {i} cats .", f"je vois {i} chats .") for i in range(30)]
    split = Split(pairs[:20], pairs[20:25], pairs[25:])
    defaults = dict(batch_size=4, val_batch_size=5, min_count=1,
                    model={"embedding_size": 8, "hidden_size": 8, "attention": "dot"})
    defaults.update(options)
    return TranslationTask(build_options(defaults), seed=0, split=split)


def build_options(mapping):
    from rnnkit.config import from_dict

    return from_dict(TranslationOptions, mapping)


def test_toy_task_reaches_the_stated_exact_match(toy_run):
    result, _ = toy_run
    assert result.step == 150
    assert result.metrics["val_exact_match"] >= TOY_EXACT_MATCH


def test_batches_hold_start_and_end_tokens_and_padding():
    task = small_task()
    batch = next(task.train_batches(0))
    target = task.target_tokenizer
    assert bool((batch.target_inputs[:, 0] == target.start_id).all())
    for row in range(batch.source.size(0)):
        valid = int((batch.target_outputs[row] != target.pad_id).sum())
        assert int(batch.target_outputs[row, valid - 1]) == target.end_id
        assert batch.target_inputs[row, 1:valid].tolist() == batch.target_outputs[row, :valid - 1].tolist()
        assert int(batch.source_lengths[row]) == int((batch.source[row] != 0).sum())
    # deterministic per (seed, epoch); another epoch, another order
    again = next(task.train_batches(0))
    assert torch.equal(again.source, batch.source)


def test_loss_is_label_smoothed_cross_entropy_over_real_tokens():
    task = small_task(label_smoothing=0.1)
    torch.manual_seed(0)
    model = task.build_model().train()
    model.dropout.p = 0.0
    batch = next(task.train_batches(0))
    out = task.step(model, batch, None)
    logits = model(batch.source, batch.target_inputs, source_lengths=batch.source_lengths).logits
    keep = batch.target_outputs != 0
    log_probs = logits.log_softmax(-1)[keep]  # (N, V)
    targets = batch.target_outputs[keep]
    nll = -log_probs.gather(1, targets[:, None]).squeeze(1)
    smooth = -log_probs.mean(-1)
    expected = (0.9 * nll + 0.1 * smooth).mean()
    torch.testing.assert_close(out.loss, expected)
    assert out.count == int(keep.sum())
    model.eval()
    plain = task.step(model, batch, None)  # validation: the plain cross-entropy
    torch.testing.assert_close(plain.loss, F.cross_entropy(logits.flatten(0, 1), batch.target_outputs.flatten(),
                                                           ignore_index=0))
    assert 0.0 <= plain.metrics["exact_match"] <= 1.0


def test_bundle_parts_hold_both_tokenizers_and_the_languages():
    task = small_task()
    parts = task.bundle_parts()
    assert parts["tokenizer"] is task.source_tokenizer
    assert parts["tokenizers"]["target"] is task.target_tokenizer
    assert parts["extra"]["translation"] == {"corpus": "eng_fra", "source_language": "eng", "target_language": "fra"}


def test_eng_fra_split_respects_the_length_filter_and_vocabulary_limit():
    task = build_task("translation", {"corpus": "eng_fra", "max_source_tokens": 4, "max_target_tokens": 4,
                                      "max_target_vocab": 50, "val_size": 50, "test_size": 50})
    assert len(task.target_tokenizer) == 54  # 4 specials + 50 words
    assert max(len(s) for s, _ in task.train_ids) <= 4
    assert max(len(t) for _, t in task.train_ids) <= 4
    assert len(task.split.test) >= 50
    assert not {p.source for p in task.split.test} & {p.source for p in task.split.train}


@pytest.mark.parametrize("options,match", [
    ({"corpus": "eng_deu"}, "corpus: expected one of"),
    ({"label_smoothing": 1.0}, "label_smoothing: expected a value in"),
    ({"sampling_ratio": -0.1}, "sampling_ratio: expected a value in"),
    ({"toy_min_length": 5, "toy_max_length": 3}, "toy_max_length: expected >= toy_min_length"),
    ({"model": {"attention": "bahdanau"}}, "attention: expected one of"),
])
def test_option_errors_name_the_key(options, match):
    with pytest.raises(ConfigError, match=match):
        build_options(options)
