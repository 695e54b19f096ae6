"""The melanoma alarm's threshold is fitted on validation alone, served by the app as fitted, and reported on every set."""

import json

import numpy as np
import pytest

from lesion.bundle import load_bundle
from lesion.classifier import Classifier
from lesion.labels import CODES
from lesion.verdict import melanoma_alarm
from training import melanoma_alarm as alarm

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
    rule = alarm.fit(references, rows(others + melanomas))
    assert rule["threshold"] == pytest.approx(0.5 * np.log(4), abs=1e-12)
    assert rule["validation_sensitivity"] == 0.5 and rule["validation_specificity"] == 0.8


def test_figures_are_those_of_the_apps_own_alarm():
    rng = np.random.default_rng(3)
    probabilities = rng.dirichlet(np.ones(len(CODES)), size=200)
    references = rng.integers(len(CODES), size=200)
    rule = alarm.fit(references, probabilities)
    scored = alarm.figures(references, probabilities, rule)
    raised = np.array([melanoma_alarm(dict(zip(CODES, p)), rule).raised for p in probabilities])
    assert scored["sensitivity"] == pytest.approx(raised[references == MEL].mean())
    assert scored["specificity"] == pytest.approx(1 - raised[references != MEL].mean())
    from sklearn.metrics import roc_auc_score
    assert scored["auc"] == pytest.approx(roc_auc_score(references == MEL, alarm.odds(probabilities)))


def test_training_fits_the_alarm_and_reports_it(tiny_run):
    """A new bundle carries the alarm in both of its configs, its figures on every set, and a card section."""
    bundle = tiny_run / "bundle"
    rule = json.loads((bundle / "config.json").read_text())["melanoma_alarm"]
    assert json.loads((bundle / "browser" / "config.json").read_text())["melanoma_alarm"] == rule
    results = json.loads((bundle / "eval_results.json").read_text())
    for scored in (results["validation"], results["test"], results["external"]["examples"]):
        assert set(scored["melanoma_alarm"]) == {"sensitivity", "specificity", "auc", "sensitivity_at_specificity_80"}
    assert results["validation"]["melanoma_alarm"]["sensitivity"] == pytest.approx(rule["validation_sensitivity"])
    assert "## Melanoma alarm" in (bundle / "README.md").read_text()
    assert Classifier(load_bundle(bundle)).melanoma_alarm == rule


def test_no_alarm_without_melanomas_in_validation():
    assert alarm.fit(np.array([NV, NV, BKL]), rows([(0.1, 0.9), (0.2, 0.7), (0.3, 0.3)])) is None


def test_the_ranking_keeps_large_odds_apart():
    """Odds of 40 and 60 both squash to 1.0 through a logistic function; their ranks do not, so the AUC is exact."""
    from sklearn.metrics import roc_auc_score

    probabilities = rows([(0.5, 0.5), (0.3, 0.7), (1 - 1e-17, 1e-17), (1 - 1e-26, 1e-26)])
    references = np.array([NV, MEL, MEL, NV])
    assert alarm.ranking(references, probabilities)["melanoma_auc"] == pytest.approx(
        roc_auc_score(references == MEL, alarm.odds(probabilities)))


def test_a_score_with_a_missing_value_is_not_ranked():
    references = np.array([NV, MEL, NV])
    assert alarm.score_ranking(references, np.array([0.1, np.nan, 0.3])) == {
        "melanoma_auc": None, "melanoma_sensitivity_at_specificity_80": None}
    assert alarm.score_ranking(references, np.array([0.1, 0.9, 0.3]))["melanoma_auc"] == 1.0


def test_a_share_between_two_counts_keeps_more_quiet_never_fewer():
    """Three other lesions cannot leave exactly 80% quiet: all three stay under the threshold."""
    others = [(0.1, 0.9), (0.2, 0.8), (0.4, 0.6)]
    references = np.array([NV] * len(others) + [MEL])
    rule = alarm.fit(references, rows(others + [(0.9, 0.1)]))
    assert rule["validation_specificity"] == 1.0 and rule["threshold"] > np.log(0.4 / 0.6)
    assert rule["validation_sensitivity"] == 1.0
