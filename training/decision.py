"""The decision rule, chosen on the validation split: a per-class shift of log-probabilities.

Training weights classes to soften the imbalance; this shift then moves each class's share of predictions to the
point that maximises validation balanced accuracy, without letting plain accuracy fall below a floor.
"""

from __future__ import annotations

import numpy as np

from lesion.classifier import apply_class_bias

SHIFTS = np.round(np.linspace(-2.0, 2.0, 41), 2)
ROUNDS = 3


def _scores(references, probabilities, class_bias) -> tuple[float, float]:
    predictions = apply_class_bias(probabilities, class_bias).argmax(axis=1)
    present = np.unique(references)
    recalls = [(predictions[references == c] == c).mean() for c in present]
    return float(np.mean(recalls)), float((predictions == references).mean())


def _objective(references, probabilities, class_bias, min_accuracy: float) -> float:
    """Balanced accuracy where accuracy reaches the floor; below it, accuracy alone (less one), to climb back."""
    balanced, accuracy = _scores(references, probabilities, class_bias)
    return balanced if accuracy >= min_accuracy else accuracy - 1.0


def fit_class_bias(references, probabilities, *, min_accuracy: float) -> list[float]:
    """Coordinate search for the log-shift per class that maximises balanced accuracy with accuracy >= min_accuracy.

    Starts from no shift and keeps it where nothing beats it; ties prefer the smaller shift.
    """
    references = np.asarray(references)
    bias = np.zeros(probabilities.shape[1])
    best = _objective(references, probabilities, bias, min_accuracy)
    for _ in range(ROUNDS):
        for c in range(len(bias)):
            for shift in sorted(SHIFTS, key=abs):
                trial = bias.copy()
                trial[c] = shift
                score = _objective(references, probabilities, trial, min_accuracy)
                if score > best + 1e-9:
                    best, bias = score, trial
    return [float(b) for b in bias]
