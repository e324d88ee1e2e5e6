import os

import torch

# Tests run many tiny operations: one thread avoids OpenMP start-up and spinning costs on a shared CPU.
torch.set_num_threads(int(os.environ.get("RNNKIT_TEST_THREADS", "1")))
