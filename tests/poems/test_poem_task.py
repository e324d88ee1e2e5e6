import pytest
import torch

from rnnkit.models import LanguageModelConfig
from rnnkit.poems.data import FORMS
from rnnkit.poems.task import PoemTask, PoemTaskConfig
from rnnkit.training import RunConfig, Trainer
from rnnkit.training.registry import task_names, task_options

TINY = LanguageModelConfig(embedding_size=8, hidden_size=16, adaptive_cutoffs=(50, 200), adaptive_div_value=2.0)


@pytest.fixture(scope="module")
def task(small_split):
    return PoemTask(PoemTaskConfig(batch_size=16, val_batch_size=16, min_count=1, model=TINY), seed=0, poems=small_split)


def test_one_poem_per_row_from_the_form_token(task, small_split):
    tokenizer = task.tokenizer
    form_ids = {tokenizer.token_to_id(f.token): f for f in FORMS.values()}
    seen = []
    for batch in task.train_batches(0):
        assert batch.inputs.shape == batch.targets.shape
        form = form_ids[int(batch.inputs[0, 0])]
        assert (batch.inputs[:, 0] == batch.inputs[0, 0]).all()  # one form per batch: no padding
        assert batch.inputs.size(1) == form.num_chars + 1
        assert (batch.targets[:, :-1] == batch.inputs[:, 1:]).all()
        assert (batch.targets[:, -1] == tokenizer.end_id).all()
        seen += [tokenizer.decode(row) for row in batch.targets.tolist()]
    assert sorted(seen) == sorted(small_split.train)  # every training poem once per epoch


def test_batches_depend_only_on_seed_and_epoch(task):
    first = [b.inputs for b in task.train_batches(1)]
    again = [b.inputs for b in task.train_batches(1)]
    other = [b.inputs for b in task.train_batches(2)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_step_loss_is_the_mean_nll_of_all_targets(task):
    model = task.build_model().eval()
    batch = next(iter(task.val_batches()))
    out = task.step(model, batch, None)
    logits, _ = model(batch.inputs)
    expected = -logits.log_softmax(-1).gather(-1, batch.targets[..., None]).mean()
    torch.testing.assert_close(out.loss, expected, atol=1e-5, rtol=1e-5)
    assert out.count == batch.targets.numel() and out.state is None


def test_trains_through_the_engine(task, tmp_path):
    config = RunConfig(task="poems", max_steps=6, device="cpu")
    result = Trainer(task, config, out_dir=tmp_path, callbacks=[]).fit()
    assert result.step == 6 and "val_loss" in result.metrics
    assert (tmp_path / "checkpoints").is_dir()


def test_registered_with_checked_options():
    assert {"poems", "char_lm"} <= set(task_names())
    options = task_options("poems", {"batch_size": 8, "model": {"hidden_size": 32, "adaptive_cutoffs": [100, 300]}})
    assert options.batch_size == 8 and options.model.adaptive_cutoffs == (100, 300)
    with pytest.raises(ValueError, match="batch_siz"):
        task_options("poems", {"batch_siz": 8})
    with pytest.raises(ValueError, match="batch_size"):
        PoemTaskConfig(batch_size=0)
