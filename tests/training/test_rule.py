"""The decision rule (training/rule.py): the class shift, the temperature and the melanoma alarm, fitted on validation
alone and served by the app as fitted."""

import json

import numpy as np
import pytest

from lesion.bundle import load_bundle
from lesion.classifier import Classifier, calibrated_probabilities
from lesion.labels import CODES
from lesion.verdict import melanoma_alarm
from training import rule
from training.scores import compute_metrics


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
    bias = rule.fit_class_shift(references, probabilities)
    before = probabilities.argmax(1)
    after = apply_class_bias(probabilities, bias).argmax(1)

    def balanced(predictions):
        return np.mean([(predictions[references == c] == c).mean() for c in (0, 1)])

    assert balanced(after) > balanced(before) + 0.1
    assert bias[1] - bias[0] > 0


def test_no_shift_when_nothing_helps():
    references = np.array([0, 1, 0, 1])
    probabilities = np.array([[0.9, 0.1], [0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert rule.fit_class_shift(references, probabilities) == [0.0, 0.0]


def test_served_bias_and_temperature_make_exactly_the_fitted_decisions():
    rng = np.random.default_rng(0)
    references = rng.choice(7, 600, p=[0.03, 0.05, 0.11, 0.01, 0.11, 0.67, 0.02])
    logits = rng.normal(0, 1, (600, 7)) + 2.5 * np.eye(7)[references] + np.log([0.03, 0.05, 0.11, 0.01, 0.11, 0.67, 0.02])
    logits *= 3  # overconfident, so the fitted temperature is far from 1
    probabilities = calibrated_probabilities(logits)
    fitted = rule.fit(references, probabilities)
    shift = rule.fit_class_shift(references, probabilities)
    assert fitted["temperature"] > 1.5 and any(shift)
    served = calibrated_probabilities(logits, fitted["temperature"], fitted["class_bias"]).argmax(axis=1)
    assert np.array_equal(served, (np.log(probabilities) + shift).argmax(axis=1))
    assert np.array_equal(rule.apply(probabilities, fitted).argmax(axis=1), served)


MEL, NV, BKL = CODES.index("mel"), CODES.index("nv"), CODES.index("bkl")


def rows(mel_nv_pairs) -> np.ndarray:
    """(N, 7) probabilities with the given melanoma and nevus shares, the rest on benign keratosis."""
    probabilities = np.zeros((len(mel_nv_pairs), len(CODES)))
    for i, (mel, nv) in enumerate(mel_nv_pairs):
        probabilities[i, [MEL, NV, BKL]] = mel, nv, 1 - mel - nv
    return probabilities


def test_the_threshold_leaves_the_asked_share_of_other_lesions_quiet():
    """Five other lesions with odds 1/9, 1/4, 2/3, 1 and 4, and two melanomas with odds 9 and 2/3: at specificity 0.8
    four others stay quiet, so the threshold lies midway between the fourth and fifth log odds, log 1 and log 4; one
    other lesion and one melanoma raise it."""
    others = [(0.1, 0.9), (0.2, 0.8), (0.4, 0.6), (0.5, 0.5), (0.8, 0.2)]
    melanomas = [(0.9, 0.1), (0.4, 0.6)]
    references = np.array([NV] * len(others) + [MEL] * len(melanomas))
    alarm = rule.fit_alarm(references, rows(others + melanomas))
    assert alarm["threshold"] == pytest.approx(0.5 * np.log(4), abs=1e-12)
    assert alarm["validation_sensitivity"] == 0.5 and alarm["validation_specificity"] == 0.8


def test_figures_are_those_of_the_apps_own_alarm():
    rng = np.random.default_rng(3)
    probabilities = rng.dirichlet(np.ones(len(CODES)), size=200)
    references = rng.integers(len(CODES), size=200)
    alarm = rule.fit_alarm(references, probabilities)
    scored = rule.alarm_figures(references, probabilities, alarm)
    raised = np.array([melanoma_alarm(dict(zip(CODES, p)), alarm).raised for p in probabilities])
    assert scored["sensitivity"] == pytest.approx(raised[references == MEL].mean())
    assert scored["specificity"] == pytest.approx(1 - raised[references != MEL].mean())
    from sklearn.metrics import roc_auc_score
    assert scored["auc"] == pytest.approx(roc_auc_score(references == MEL, rule.odds(probabilities)))


def test_training_fits_the_alarm_and_reports_it(tiny_run):
    """A new bundle carries the alarm in both of its configs, its figures on every set, and a card section."""
    bundle = tiny_run / "bundle"
    alarm = json.loads((bundle / "config.json").read_text())["melanoma_alarm"]
    assert json.loads((bundle / "browser" / "config.json").read_text())["melanoma_alarm"] == alarm
    results = json.loads((bundle / "eval_results.json").read_text())
    for scored in (results["validation"], results["test"], results["external"]["examples"]):
        assert set(scored["melanoma_alarm"]) == {"sensitivity", "specificity", "auc", "sensitivity_at_specificity_80"}
    assert results["validation"]["melanoma_alarm"]["sensitivity"] == pytest.approx(alarm["validation_sensitivity"])
    assert "## Melanoma alarm" in (bundle / "README.md").read_text()
    assert Classifier(load_bundle(bundle)).melanoma_alarm == alarm


def test_no_alarm_without_melanomas_in_validation():
    assert rule.fit_alarm(np.array([NV, NV, BKL]), rows([(0.1, 0.9), (0.2, 0.7), (0.3, 0.3)])) is None


def test_the_ranking_keeps_large_odds_apart():
    """Odds of 40 and 60 both squash to 1.0 through a logistic function; their ranks do not, so the AUC is exact."""
    from sklearn.metrics import roc_auc_score

    probabilities = rows([(0.5, 0.5), (0.3, 0.7), (1 - 1e-17, 1e-17), (1 - 1e-26, 1e-26)])
    references = np.array([NV, MEL, MEL, NV])
    assert rule.alarm_ranking(references, probabilities)["melanoma_auc"] == pytest.approx(
        roc_auc_score(references == MEL, rule.odds(probabilities)))


def test_a_missing_probability_is_not_ranked():
    references = np.array([NV, MEL, NV])
    assert rule.alarm_ranking(references, rows([(0.1, 0.9), (np.nan, 0.5), (0.3, 0.7)])) == {
        "melanoma_auc": None, "melanoma_sensitivity_at_specificity_80": None}
    assert rule.alarm_ranking(references, rows([(0.1, 0.9), (0.9, 0.1), (0.3, 0.7)]))["melanoma_auc"] == 1.0


def test_a_share_between_two_counts_keeps_more_quiet_never_fewer():
    """Three other lesions cannot leave exactly 80% quiet: all three stay under the threshold."""
    others = [(0.1, 0.9), (0.2, 0.8), (0.4, 0.6)]
    references = np.array([NV] * len(others) + [MEL])
    alarm = rule.fit_alarm(references, rows(others + [(0.9, 0.1)]))
    assert alarm["validation_specificity"] == 1.0 and alarm["threshold"] > np.log(0.4 / 0.6)
    assert alarm["validation_sensitivity"] == 1.0


def test_the_pages_melanoma_decision_is_the_alarm_while_the_bundle_has_one_else_the_bars():
    rng = np.random.default_rng(0)
    references = rng.integers(0, len(CODES), 300)
    probabilities = rng.dirichlet(np.ones(len(CODES)), 300)
    alarm = rule.fit_alarm(references, probabilities)
    by_alarm = rule.melanoma_decision(references, probabilities, alarm)
    assert by_alarm == {"by": "melanoma alarm", **rule.alarm_figures(references, probabilities, alarm)}
    by_bars = rule.melanoma_decision(references, probabilities, None)
    metrics = compute_metrics(references, probabilities)
    assert by_bars["by"] == "bars" and by_bars["auc"] == metrics["melanoma_auc"]
    assert (by_bars["sensitivity"], by_bars["specificity"]) == (metrics["melanoma_sensitivity"], metrics["melanoma_specificity"])


def test_evaluate_reports_the_pages_melanoma_decision_beside_the_bars():
    from lesion.bundle import BUNDLED_DIR
    from tests.conftest import EXAMPLES
    from training import evaluate

    result = evaluate.main(["--model", str(BUNDLED_DIR), "--data", str(EXAMPLES)])
    decision = result["melanoma_decision"]
    assert decision["by"] == "melanoma alarm" and 0 <= decision["auc"] <= 1
    assert decision["auc"] != result["melanoma_auc"]  # the alarm's ranking, not the bars'
