"""Where a run keeps its weights (training.train.fit): a folder per fitting phase under checkpoints/, each with its
epochs' history and best weights and, once the phase has finished, its final weights. A soup and WiSE-FT read them."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

ROOT = "checkpoints"
HEAD = "1-head"
"""The first phase: the new head on the frozen ImageNet backbone."""
FINE_TUNING = "2-finetune"
"""The second phase: the top of the backbone fine-tuned with the head."""


def phase_dir(run: Path, phase: str) -> Path:
    return Path(run) / ROOT / phase


def final_weights(run: Path, phase: str) -> Path:
    """The weights a finished phase ended with (its best epoch's, also across resumed runs)."""
    return phase_dir(run, phase) / "final.weights.h5"


def states(classifier: keras.Model, paths: list[Path]) -> list[list[np.ndarray]]:
    """The classifier's variables as loaded from each weights file in turn (the classifier keeps the last)."""
    loaded = []
    for path in paths:
        classifier.load_weights(path)
        loaded.append([variable.numpy() for variable in classifier.weights])
    return loaded
