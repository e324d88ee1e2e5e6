import torch

from rnnkit.models.char_lm import CharLMOptions, CharLMTask
from rnnkit.models.lm import LanguageModelConfig
from rnnkit.training import RunConfig, Trainer

TEXT = ("to be or not to be that is the question " * 20, "whether tis nobler in the mind " * 4)
OPTIONS = CharLMOptions(batch_size=4, bptt=8, model=LanguageModelConfig(embedding_size=8, hidden_size=16))


def test_windows_are_consecutive_tracks():
    task = CharLMTask(OPTIONS, seed=0, text=TEXT)
    batches = list(task.train_batches(0))
    assert batches[0].inputs.shape == (4, 8)
    assert torch.equal(batches[0].targets[:, :-1], batches[0].inputs[:, 1:])
    assert torch.equal(batches[0].targets[:, -1], batches[1].inputs[:, 0])  # the stream continues
    decoded = task.tokenizer.decode(torch.cat([b.inputs for b in batches], 1)[0].tolist())
    assert TEXT[0].startswith(decoded)


def test_state_is_carried_and_equals_one_long_pass():
    task = CharLMTask(OPTIONS, seed=0, text=TEXT)
    torch.manual_seed(0)
    model = task.build_model().eval()
    batches = list(task.train_batches(0))[:3]
    state, losses = None, []
    for batch in batches:
        out = task.step(model, batch, state)
        state = out.state
        losses.append(out.loss)
    whole = torch.cat([b.inputs for b in batches], 1)
    targets = torch.cat([b.targets for b in batches], 1)
    features, _ = model.features(whole)
    torch.testing.assert_close(torch.stack(losses).mean(), model.nll(features, targets).mean(), atol=1e-5, rtol=1e-5)


def test_trains_statefully_through_the_engine(tmp_path):
    task = CharLMTask(OPTIONS, seed=0, text=TEXT)
    result = Trainer(task, RunConfig(task="char_lm", max_steps=5, device="cpu"), out_dir=tmp_path, callbacks=[]).fit()
    assert result.step == 5 and result.metrics["val_loss"] > 0
