import numpy as np
import pytest

from lesion.classifier import calibrated_probabilities
from training.decision import fit_class_bias


def apply_class_bias(probabilities, bias):
    return calibrated_probabilities(np.log(probabilities), 1.0, bias)


def _under_predicting_rare_class(n=400, seed=0):
    """Class 1 is rare and the model's probabilities for it are systematically too low."""
    rng = np.random.default_rng(seed)
    references = (rng.random(n) < 0.2).astype(int)
    signal = np.where(references == 1, 0.45, 0.2) + rng.normal(0, 0.08, n)
    probabilities = np.stack([1 - signal, signal], axis=1)
    return references, probabilities


def test_bias_raises_balanced_accuracy_on_the_data_it_was_fitted_on():
    references, probabilities = _under_predicting_rare_class()
    bias = fit_class_bias(references, probabilities, min_accuracy=0.0)
    before = probabilities.argmax(1)
    after = apply_class_bias(probabilities, bias).argmax(1)

    def balanced(predictions):
        return np.mean([(predictions[references == c] == c).mean() for c in (0, 1)])

    assert balanced(after) > balanced(before) + 0.1
    assert bias[1] - bias[0] > 0


@pytest.mark.parametrize("floor", [0.8, 0.95])
def test_accuracy_never_falls_below_the_floor_or_the_start(floor):
    references, probabilities = _under_predicting_rare_class()
    start = (probabilities.argmax(1) == references).mean()
    bias = fit_class_bias(references, probabilities, min_accuracy=floor)
    accuracy = (apply_class_bias(probabilities, bias).argmax(1) == references).mean()
    assert accuracy >= min(floor, start)


def test_no_shift_when_nothing_helps():
    references = np.array([0, 1, 0, 1])
    probabilities = np.array([[0.9, 0.1], [0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert fit_class_bias(references, probabilities, min_accuracy=0.5) == [0.0, 0.0]


def test_melanoma_recall_floor_is_met_when_it_can_be():
    rng = np.random.default_rng(1)
    references = rng.integers(0, 7, 700)
    logits = rng.normal(0, 1, (700, 7))
    logits[np.arange(700), references] += 1.5
    logits[:, 4] -= 1.0  # melanoma (index 4) under-predicted
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    bias = fit_class_bias(references, probabilities, min_accuracy=0.0, min_melanoma_recall=0.8)
    predictions = apply_class_bias(probabilities, bias).argmax(1)
    assert (predictions[references == 4] == 4).mean() >= 0.8
