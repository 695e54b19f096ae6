"""The decision rule, chosen on the validation split: a per-class shift of log-probabilities.

Training weights classes to soften the imbalance; this shift then moves each class's share of predictions. It
maximises balanced accuracy on validation, within two floors if asked: plain accuracy and melanoma recall. Training's
floors are none (0): the melanoma alarm (training/melanoma_alarm.py), apart from the bars, carries the costliest miss.
"""

from __future__ import annotations

import numpy as np

from lesion.labels import CODES
from training import calibrate

SHIFTS = np.round(np.linspace(-2.0, 2.0, 41), 2)
ROUNDS = 3
MELANOMA = CODES.index("mel")


def _objective(references, probabilities, class_bias, min_accuracy: float, min_melanoma_recall: float) -> float:
    """Balanced accuracy where both floors are met; otherwise minus the total shortfall, to climb towards them."""
    predictions = (np.log(probabilities + 1e-12) + class_bias).argmax(axis=1)
    recalls = {c: (predictions[references == c] == c).mean() for c in np.unique(references)}
    accuracy = (predictions == references).mean()
    shortfall = max(0.0, min_accuracy - accuracy) + max(0.0, min_melanoma_recall - recalls.get(MELANOMA, 1.0))
    return float(np.mean(list(recalls.values()))) if shortfall == 0 else -shortfall


def _coordinate_search(references, probabilities, start: np.ndarray, floors: tuple[float, float]) -> tuple[float, np.ndarray]:
    bias = start.copy()
    best = _objective(references, probabilities, bias, *floors)
    for _ in range(ROUNDS):
        for c in range(len(bias)):
            for shift in sorted(SHIFTS, key=abs):
                trial = bias.copy()
                trial[c] = shift
                score = _objective(references, probabilities, trial, *floors)
                if score > best + 1e-9:
                    best, bias = score, trial
    return best, bias


def fit_class_bias(references, probabilities, *, min_accuracy: float, min_melanoma_recall: float = 0.0) -> list[float]:
    """Coordinate search for the log-shift per class that maximises balanced accuracy within the floors.

    The search starts twice, from no shift and from the shift that is best for balanced accuracy alone, and
    keeps the better end; no shift stays where nothing beats it, and ties prefer smaller shifts.
    """
    references = np.asarray(references)
    zero = np.zeros(probabilities.shape[1])
    _, unconstrained = _coordinate_search(references, probabilities, zero, (0.0, 0.0))
    floors = (min_accuracy, min_melanoma_recall)
    ends = [_coordinate_search(references, probabilities, start, floors) for start in (zero, unconstrained)]
    best, bias = max(ends, key=lambda end: end[0])
    return [float(b) for b in bias]


def served_rule(references, probabilities, shift) -> tuple[list[float], float]:
    """A class shift as the bundle serves it: the temperature fitted on the shifted log-probabilities, and shift / T.

    The served softmax(logits / T + shift / T) is then softmax((logits + shift) / T): the shift's decisions, calibrated.
    """
    temperature = calibrate.fit_temperature(references, np.log(probabilities + 1e-12) + shift)
    return [float(b) for b in np.asarray(shift) / temperature], temperature
