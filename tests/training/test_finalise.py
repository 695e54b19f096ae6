"""The served decision rule is the one fitted on validation (training/finalise.py)."""

from types import SimpleNamespace

import numpy as np

from lesion.classifier import calibrated_probabilities
from training.decision import fit_class_bias
from training.finalise import decision_rule


def test_served_bias_and_temperature_make_exactly_the_fitted_decisions():
    rng = np.random.default_rng(0)
    references = rng.choice(7, 600, p=[0.03, 0.05, 0.11, 0.01, 0.11, 0.67, 0.02])
    logits = rng.normal(0, 1, (600, 7)) + 2.5 * np.eye(7)[references] + np.log([0.03, 0.05, 0.11, 0.01, 0.11, 0.67, 0.02])
    logits *= 3  # overconfident, so the fitted temperature is far from 1
    probabilities = calibrated_probabilities(logits)
    config = SimpleNamespace(post_hoc_bias=True, min_accuracy=0.6, min_melanoma_recall=0.7)
    served_bias, temperature = decision_rule(references, probabilities, config)
    fitted = fit_class_bias(references, probabilities, min_accuracy=0.6, min_melanoma_recall=0.7)
    assert temperature > 1.5 and any(fitted)
    served = calibrated_probabilities(logits, temperature, served_bias).argmax(axis=1)
    assert np.array_equal(served, (np.log(probabilities) + fitted).argmax(axis=1))


def test_without_a_bias_only_the_temperature_is_fitted():
    rng = np.random.default_rng(1)
    references = rng.integers(0, 7, 300)
    probabilities = calibrated_probabilities(3 * (rng.normal(0, 1, (300, 7)) + 2 * np.eye(7)[references]))
    served_bias, temperature = decision_rule(references, probabilities, SimpleNamespace(post_hoc_bias=False))
    assert served_bias == [0.0] * 7 and temperature > 1
