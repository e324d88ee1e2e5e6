import json

import torch

from rnnkit.bundle import load
from rnnkit.models.char_lm import CharLMOptions, CharLMTask
from rnnkit.models.lm import LanguageModelConfig
from rnnkit.training import RunConfig, Trainer
from rnnkit.training.checkpoint import list_checkpoints, load_checkpoint
from rnnkit.training.config import CheckpointConfig, OptimizerConfig, ValidationConfig
from rnnkit.training.run import save_run_bundle


def test_a_task_with_bundle_parts_gets_a_bundle_of_its_best_checkpoint(tmp_path):
    text = ("the quick brown fox jumps over the lazy dog. " * 40, "the lazy dog sleeps. " * 10)
    options = CharLMOptions(batch_size=4, bptt=16, model=LanguageModelConfig(embedding_size=8, hidden_size=16))
    task = CharLMTask(options, seed=0, text=text)
    config = RunConfig(task="char_lm", max_steps=12, optimizer=OptimizerConfig(lr=0.05),
                       validation=ValidationConfig(every=4), checkpoint=CheckpointConfig(every=4, keep_last=5))
    trainer = Trainer(task, config, out_dir=tmp_path)
    result = trainer.fit()
    path = save_run_bundle(task, config, result, model=trainer.model)
    bundle = load(path)
    best = [p for step, p in list_checkpoints(tmp_path / "checkpoints") if step == result.best_step][0]
    for name, tensor in load_checkpoint(best).weights.items():
        torch.testing.assert_close(bundle.model.state_dict()[name], tensor, rtol=0, atol=0)
    assert bundle.tokenizer == task.tokenizer and bundle.info["step"] == result.best_step
    assert bundle.info["metrics"]["best_val_loss"] == result.best_value
    assert json.loads((path / "bundle.json").read_text())["run_config"]["task"] == "char_lm"


def test_without_checkpoints_the_given_model_is_copied_and_left_as_it_was(tmp_path):
    text = ("abc abd " * 40, "abc " * 10)
    options = CharLMOptions(batch_size=2, bptt=8, model=LanguageModelConfig(embedding_size=4, hidden_size=8))
    task = CharLMTask(options, seed=0, text=text)
    model = task.build_model().train()
    torch.nn.init.constant_(model.embedding.weight, 0.5)  # weights that a fresh model would not have
    from rnnkit.training.trainer import FitResult

    result = FitResult(3, 0, "max_steps", {}, None, None, tmp_path)
    bundle = load(save_run_bundle(task, RunConfig(task="char_lm"), result, model=model))
    assert model.training  # not switched to eval mode
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(bundle.model.state_dict()[name], tensor, rtol=0, atol=0)
    assert bundle.info["step"] == 3


def test_no_bundle_for_a_task_without_bundle_parts(tmp_path):
    class Bare:
        pass

    result_dir = tmp_path
    from rnnkit.training.trainer import FitResult

    result = FitResult(1, 0, "max_steps", {}, None, None, result_dir)
    assert save_run_bundle(Bare(), RunConfig(task="toy_lm"), result) is None
    assert not (tmp_path / "bundle").exists()
