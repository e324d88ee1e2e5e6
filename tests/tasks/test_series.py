import pytest
import torch

from rnnkit.models.classifier import ClassifierConfig
from rnnkit.tasks import evaluate_bundle
from rnnkit.tasks.series import SeriesData, SeriesOptions, SeriesTask, load_series, read_ts
from rnnkit.training.run import train

TS = """#comment
@problemName toy
@data
1.0,2.0,3.0:4.0,5.0,6.0:a
0.5,0.25:1.5,1.25:b
"""


def test_read_ts():
    cases = read_ts(TS)
    assert [label for _, label in cases] == ["a", "b"]
    torch.testing.assert_close(cases[0][0], torch.tensor([[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]))  # (T, F)
    with pytest.raises(ValueError, match="equal length"):
        read_ts("@data\n1,2:3:a\n")


def test_shipped_data():
    vowels = load_series("japanese_vowels")
    assert (len(vowels.train), len(vowels.test)) == (270, 370)
    assert {series.size(1) for series, _ in vowels.train} == {12}
    assert min(len(s) for s, _ in vowels.test) == 7 and max(len(s) for s, _ in vowels.test) == 29
    power = load_series("italy_power")
    assert (len(power.train), len(power.test)) == (67, 1029)


def test_split_and_standardisation():
    torch.manual_seed(0)
    cases = [(torch.randn(int(torch.randint(3, 9, ())), 2) * 5 + 3, str(i % 3)) for i in range(40)]
    task = SeriesTask(SeriesOptions(val_fraction=0.25), data=SeriesData(cases, cases[:5]))
    assert len(task.val_cases) == 10 and len(task.train_cases) == 30 and task.labels == ("0", "1", "2")
    frames = torch.cat([(s - task.mean) / task.std for s, _ in task.train_cases])
    torch.testing.assert_close(frames.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    batch = next(iter(task.val_batches()))
    assert batch.inputs.shape[0] == 10 and batch.inputs.shape[2] == 2


def test_train_config_writes_a_bundle_that_evaluates(tmp_path):
    overrides = ["max_steps=4", "validation.every=2", "checkpoint.every=2", "task_options.model.hidden_size=4"]
    train("configs/italy_power.yaml", overrides, out_dir=tmp_path, callbacks=[])
    metrics = evaluate_bundle(tmp_path / "bundle", "test")
    assert metrics["examples"] == 1029 and 0.0 <= metrics["accuracy"] <= 1.0


def test_errors_name_the_option():
    with pytest.raises(ValueError, match="val_fraction"):
        SeriesOptions(val_fraction=1.0)
    with pytest.raises(ValueError, match="dataset"):
        load_series("gunpoint")
    assert ClassifierConfig(input_size=3).vocab_size is None
