"""The training engine: one loop for every task (see docs/training.md)."""

from rnnkit.training.config import (
    CheckpointConfig,
    OptimizerConfig,
    RunConfig,
    ScheduleConfig,
    ValidationConfig,
)
from rnnkit.training.lock import RunLockedError
from rnnkit.training.registry import build_task, register_task, task_names
from rnnkit.training.run import load_run, train
from rnnkit.training.task import StepOutput, Task
from rnnkit.training.trainer import (
    FitResult,
    StopTraining,
    Trainer,
    TrainingDiverged,
    evaluate,
    seed_everything,
)

__all__ = [
    "CheckpointConfig",
    "FitResult",
    "OptimizerConfig",
    "RunConfig",
    "RunLockedError",
    "ScheduleConfig",
    "StepOutput",
    "StopTraining",
    "Task",
    "Trainer",
    "TrainingDiverged",
    "ValidationConfig",
    "build_task",
    "evaluate",
    "load_run",
    "register_task",
    "seed_everything",
    "task_names",
    "train",
]
