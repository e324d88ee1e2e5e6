"""TrainState: the run's mutable state round-trips through a checkpoint's state.pt, old layout included."""

from __future__ import annotations

import io
import random

import numpy as np
import torch

from rnnkit.training.state import TrainState


def _draws() -> tuple:
    return random.random(), float(np.random.rand()), torch.rand(3)


def _through_torch_save(state: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)  # as checkpoints are read


def test_state_dict_round_trips_counters_position_carried_state_and_rng():
    torch.manual_seed(3)
    state = TrainState(step=7, epoch=2, batch=5, carried=(torch.randn(1, 4, 3), torch.randn(1, 4, 3)),
                       best_value=1.5, best_step=6, bad_validations=1, last_val={"val_loss": 1.7})
    saved = _through_torch_save(state.state_dict())
    expected = _draws()
    loaded = TrainState()
    loaded.load_state_dict(saved)
    assert (loaded.step, loaded.epoch, loaded.batch) == (7, 2, 5)
    assert (loaded.best_value, loaded.best_step, loaded.bad_validations) == (1.5, 6, 1)
    assert loaded.last_val == {"val_loss": 1.7}
    assert all(torch.equal(a, b) for a, b in zip(loaded.carried, state.carried, strict=True))
    found = _draws()  # the RNG states were restored to where state_dict() took them
    assert found[:2] == expected[:2] and torch.equal(found[2], expected[2])


def test_a_state_without_the_step_takes_it_from_the_checkpoint_meta():
    # the layout written before the step was stored in state.pt's "trainer" (it was in meta.json only)
    old = TrainState(epoch=1, batch=3).state_dict()
    del old["trainer"]["step"]
    loaded = TrainState.from_checkpoint(_through_torch_save(old), {"step": 40, "epoch": 1})
    assert (loaded.step, loaded.epoch, loaded.batch) == (40, 1, 3)
    assert TrainState.from_checkpoint(TrainState(step=9).state_dict(), {"step": 9}).step == 9


def test_rewind_goes_back_to_the_last_completed_step_with_its_rng_states():
    state = TrainState(step=4, epoch=0, batch=4, carried=torch.ones(2))
    state.mark_completed()
    expected = _draws()
    state.epoch, state.batch, state.carried = 1, 2, torch.zeros(2)  # half-way through the next step
    _draws()
    state.rewind()
    assert (state.step, state.epoch, state.batch) == (4, 0, 4) and torch.equal(state.carried, torch.ones(2))
    TrainState().load_state_dict(state.state_dict())  # what a resumed run draws next
    found = _draws()
    assert found[:2] == expected[:2] and torch.equal(found[2], expected[2])
