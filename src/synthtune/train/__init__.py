"""Fine-tuning: conversations -> tokens (one chat template), LoRA / QLoRA training, merging.

``train`` and ``merge`` are the library entry points behind ``synthtune train`` and ``synthtune merge``.
Importing this package is cheap: torch, transformers, peft and trl load when a function runs.
"""

from synthtune.chat import chat_format
from synthtune.errors import TrainingDataError
from synthtune.train.merge import merge
from synthtune.train.tokenize import check_rows, tokenize_rows
from synthtune.train.trainer import TrainProgress, TrainResult, train

__all__ = [
    "TrainProgress",
    "TrainResult",
    "TrainingDataError",
    "chat_format",
    "check_rows",
    "merge",
    "tokenize_rows",
    "train",
]
