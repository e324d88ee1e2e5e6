"""Models built from rnnkit's recurrent layers."""

from rnnkit.models.lm import CELLS, LanguageModel, LanguageModelConfig, count_parameters, sequence_nll

__all__ = ["CELLS", "LanguageModel", "LanguageModelConfig", "count_parameters", "sequence_nll"]
