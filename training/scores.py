"""Every reported figure, from the project's one `evaluate` metric module, training/metrics/lesion_classification."""

from __future__ import annotations

import functools
from pathlib import Path

import evaluate
import numpy as np

METRIC = Path(__file__).parent / "metrics" / "lesion_classification"
"""The project's one `evaluate` metric module; loading it by path needs no network."""


@functools.cache
def _metric() -> evaluate.EvaluationModule:
    return evaluate.load(str(METRIC), keep_in_memory=True)


def compute_metrics(references, probabilities) -> dict:
    """Every reported number for integer labels (N,) and class probabilities (N, 7), in lesion.labels.CODES order.

    See training/metrics/lesion_classification for the keys: balanced accuracy over the classes present, per-class
    precision/recall/F1/AUC, top-k, melanoma sensitivity/specificity/AUC, ECE and the reliability diagram, the
    confusion matrix.
    """
    return _metric().compute(predictions=np.asarray(probabilities, np.float64), references=np.asarray(references))
