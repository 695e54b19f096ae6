"""Calibration, chosen on the validation split only: a temperature for the probabilities, a threshold for the guard."""

from __future__ import annotations

import numpy as np

from lesion.classifier import calibrated_probabilities

TEMPERATURES = np.round(np.arange(0.5, 4.001, 0.05), 2)
GUARD_FALSE_ALARMS = 0.005
"""Share of validation images (all dermoscopic) the guard may flag: its threshold is their 99.5th percentile score."""


def fit_temperature(references, logits) -> float:
    """The temperature T that minimises the negative log-likelihood of softmax(logits / T) on validation.

    Dividing all logits by one number never changes the top class: only how sure the probabilities sound.
    `logits` may be log-probabilities: a per-image constant does not change the softmax.
    """
    references, logits = np.asarray(references), np.asarray(logits, np.float64)
    rows = np.arange(len(references))

    def nll(temperature: float) -> float:
        return float(-np.log(calibrated_probabilities(logits, temperature)[rows, references] + 1e-12).mean())

    return float(min(TEMPERATURES, key=nll))


def guard_threshold(validation_scores, false_alarms: float = GUARD_FALSE_ALARMS) -> float:
    """The guard score above which an image is called not dermoscopic: the (1 - false_alarms) quantile on validation."""
    return float(np.quantile(np.asarray(validation_scores, np.float64), 1.0 - false_alarms))
