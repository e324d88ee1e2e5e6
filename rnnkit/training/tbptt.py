r"""Stream utilities for stateful truncated BPTT (the equivalent of Keras' `stateful=True`).

A long token stream is cut into B parallel tracks; each track is read left to right in windows of k
steps. The hidden state at the end of one window is the initial state of the next (so the forward
pass sees the whole track), but it is detached at the window edge, so gradients flow back at most k
steps. Where a new document starts inside a track, the state of that track is reset to zero.

    stream:  a b c d e f g h i j k l m n o p q r s t u v w x  (N = 24 tokens, | = document start)
                           |

    batchify(stream, num_tracks=3) -> tracks (B=3, 8); the tail N mod B is dropped:

             window 0   window 1           window k-step windows of inputs; targets are the same
           +---------+---------+           positions shifted by one token to the right
    track0 | a b c d | e f g - |  h        (the last target of a track has no input after it)
    track1 | i j k l | m n o - |  p
    track2 | q r s t | u v w - |  x
           +---------+---------+
             state ---> detach ---> state  (carried across the edge, gradient stops there)

    reset[b, t] is True where inputs[b, t] starts a document: the state of track b is zeroed before
    step t. `run_with_resets` splits a window at those columns so any torch-style layer (one call per
    sequence, state batch dimension 1) can honour them.

Batches are plain tensors, so a task can checkpoint its position as a window index and the engine
carries `state` (tensor or tuple of tensors) between `Task.step` calls, detaching it between windows and
storing it in checkpoints (see rnnkit/training/trainer.py and rnnkit/training/state.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import torch
from torch import Tensor

__all__ = ["Window", "batchify", "windows", "num_windows", "detach_state", "reset_state", "run_with_resets"]


class Window(NamedTuple):
    inputs: Tensor  # (B, k) token ids
    targets: Tensor  # (B, k) the next token of each input
    reset: Tensor  # (B, k) bool: inputs[b, t] starts a document; zero track b's state before step t


def batchify(stream: Tensor, num_tracks: int) -> Tensor:
    """Cut a 1-D stream (N,) into `num_tracks` contiguous tracks (B, N // B); the remainder is dropped."""
    if stream.dim() != 1:
        raise ValueError(f"batchify: expected stream of shape (N,), got shape {tuple(stream.shape)}")
    if not isinstance(num_tracks, int) or num_tracks < 1 or stream.numel() < 2 * num_tracks:
        raise ValueError(
            f"batchify: expected 1 <= num_tracks <= N / 2 = {stream.numel() // 2}, got num_tracks={num_tracks!r}"
        )
    length = stream.numel() // num_tracks
    return stream[: num_tracks * length].view(num_tracks, length)  # (N,) -> (B, N // B)


def windows(tracks: Tensor, window: int, starts: Tensor | None = None, *, first: int = 0) -> Iterator[Window]:
    """Yield consecutive windows of `window` steps from `tracks` (B, L), starting at window index `first`.

    Args:
        tracks: (B, L) token ids, e.g. from `batchify`.
        window: k, the truncation length; the last window of a track may be shorter.
        starts: (B, L) bool, True where a document starts (batchify the stream's start flags the same
            way as the stream); None means one document per track.
        first: skip this many windows (resume in the middle of an epoch without reading the others).
    """
    if tracks.dim() != 2:
        raise ValueError(f"windows: expected tracks of shape (B, L), got shape {tuple(tracks.shape)}")
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"windows: expected window >= 1, got {window!r}")
    if starts is not None and starts.shape != tracks.shape:
        raise ValueError(f"windows: expected starts of shape {tuple(tracks.shape)}, got {tuple(starts.shape)}")
    if starts is None:
        starts = torch.zeros_like(tracks, dtype=torch.bool)
    for begin in range(first * window, tracks.size(1) - 1, window):
        end = min(begin + window, tracks.size(1) - 1)
        yield Window(tracks[:, begin:end], tracks[:, begin + 1 : end + 1], starts[:, begin:end])


def num_windows(length: int, window: int) -> int:
    """How many windows `windows` yields for tracks of `length` steps."""
    return max(0, -(-(length - 1) // window))


def detach_state(state: Any) -> Any:
    """Detach every tensor in a (nested tuple/list of) state; BPTT stops at the window edge."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    if isinstance(state, dict):
        return {k: detach_state(v) for k, v in state.items()}
    raise TypeError(f"detach_state: expected a tensor or a tuple/list/dict of tensors, got {type(state).__name__}")


def reset_state(state: Any, reset: Tensor, *, batch_dim: int = 1) -> Any:
    """Zero the tracks where `reset` (B,) is True; torch layers keep the batch in dimension 1 of h/c."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        shape = [1] * state.dim()
        shape[batch_dim] = -1
        keep = (~reset).to(state.dtype).view(shape)
        return state * keep
    if isinstance(state, (tuple, list)):
        return type(state)(reset_state(s, reset, batch_dim=batch_dim) for s in state)
    raise TypeError(f"reset_state: expected a tensor or a tuple/list of tensors, got {type(state).__name__}")


def run_with_resets(
    run: Callable[[Tensor, Any], tuple[Tensor, Any]],
    inputs: Tensor,
    state: Any,
    reset: Tensor,
    *,
    batch_dim: int = 1,
) -> tuple[Tensor, Any]:
    """Run `run(inputs_segment, state) -> (outputs, state)` over a window, resetting state at document starts.

    The window is split at every column where some track starts a document; before each segment the
    state of those tracks is zeroed. Equal to running every document on its own from a zero state.

    Shape: inputs (B, k, ...), reset (B, k) -> outputs (B, k, ...) concatenated along time.
    """
    columns = reset.any(dim=0).nonzero().flatten().tolist()  # a handful per window: one sync
    cuts = sorted({c for c in columns if c > 0} | {0, inputs.size(1)})
    outputs = []
    for begin, end in zip(cuts[:-1], cuts[1:], strict=True):
        state = reset_state(state, reset[:, begin], batch_dim=batch_dim)
        out, state = run(inputs[:, begin:end], state)
        outputs.append(out)
    return torch.cat(outputs, dim=1), state
