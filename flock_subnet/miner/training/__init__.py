"""Supervised fine-tuning of a competition's base model, full or LoRA, exported for submission.

    from flock_subnet.miner.training import TrainConfig, train
    result = train(TrainConfig(output_dir="runs/a", competition="local", max_steps=200))
    result.output_dir  # the exported checkpoint folder, ready for `miner.submit_model`

Torch, transformers and peft are imported when training starts, not when this package is imported.
"""

from flock_subnet.miner.training.config import TrainConfig, TrainingError, TrainingInterrupted, TrainResult
from flock_subnet.miner.training.trainer import train

__all__ = ["TrainConfig", "TrainResult", "TrainingError", "TrainingInterrupted", "train"]
