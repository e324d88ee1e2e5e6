"""rnnkit.scan: the time loop against an explicit per-sequence loop."""

import torch

from rnnkit.cells import GRUCell
from rnnkit.scan import scan
from rnnkit.sequences import lengths_to_mask


def test_scan_with_mask_equals_running_each_sequence_alone():
    torch.manual_seed(0)
    cell = GRUCell(3, 4, dtype=torch.float64)
    x = torch.randn(5, 2, 3, dtype=torch.float64)  # (T, B, F)
    lengths = [5, 2]

    def step(projected_x, state):
        return (cell(projected_x, state[0]),)  # "projection" here is the identity: the cell does it all

    mask = lengths_to_mask(lengths, 5, batch_first=False).unsqueeze(-1)
    outputs, (h,) = scan(step, x, (torch.zeros(2, 4, dtype=torch.float64),), mask)
    for b, n in enumerate(lengths):
        state = torch.zeros(1, 4, dtype=torch.float64)
        for t in range(n):
            state = cell(x[t, b:b + 1], state)
            torch.testing.assert_close(outputs[t, b:b + 1], state, rtol=0, atol=1e-14)
        assert torch.all(outputs[n:, b] == 0)
        torch.testing.assert_close(h[b:b + 1], state, rtol=0, atol=1e-14)
