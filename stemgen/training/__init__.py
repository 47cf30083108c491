"""Training stem-insertion models: data caching, the InstructPix2Pix loop, EMA, LoRA, checkpoints.

Python API::

    from stemgen.training import TrainConfig, train_model
    result = train_model(TrainConfig(data="dataset/", out="model/", preset="tiny", max_steps=50))

The ``stemgen train`` command is a thin layer over ``train_model``; ``accelerate launch`` runs it on
many GPUs (or CPU processes) unchanged.
"""

from stemgen.training.config import TrainConfig
from stemgen.training.loop import TrainResult, train_model

__all__ = ["TrainConfig", "TrainResult", "train_model"]
