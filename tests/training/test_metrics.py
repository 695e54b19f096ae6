"""The project's `evaluate` metric module, loaded by path and offline, against cases worked out by hand."""

import os
import subprocess
import sys

import numpy as np
import pytest

from lesion.labels import CODES
from training.scores import METRIC, compute_metrics

MEL, NV, AKIEC = CODES.index("mel"), CODES.index("nv"), CODES.index("akiec")


def one_hot_ish(labels, confidence=0.94):
    probabilities = np.full((len(labels), len(CODES)), (1 - confidence) / (len(CODES) - 1))
    probabilities[np.arange(len(labels)), labels] = confidence
    return probabilities


def test_counts_worked_by_hand():
    references = np.array([0, 0, 4, 4, 5, 5, 5, 5])
    result = compute_metrics(references, one_hot_ish([0, 5, 4, 5, 5, 5, 5, 4]))
    assert result["accuracy"] == pytest.approx(5 / 8)
    # recalls: akiec 1/2, mel 1/2, nv 3/4; the four absent classes are left out of the mean and named
    assert result["balanced_accuracy"] == pytest.approx((0.5 + 0.5 + 0.75) / 3)
    assert result["classes_present"] == ["akiec", "mel", "nv"]
    assert result["melanoma_sensitivity"] == pytest.approx(1 / 2)
    assert result["melanoma_specificity"] == pytest.approx(5 / 6)
    # melanoma AUC: of the 2 x 6 (melanoma, other) pairs, 5 are ranked right and 6 tie (worth a half each)
    assert result["per_class"]["mel"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2, "auc": 8 / 12})
    assert result["per_class"]["nv"]["precision"] == pytest.approx(3 / 5)
    assert result["macro_avg"]["recall"] == pytest.approx(result["balanced_accuracy"])
    assert result["confusion_matrix"][5][4] == 1 and result["confusion_matrix"][0][5] == 1
    assert np.sum(result["confusion_matrix"]) == 8


def test_auc_and_top_k_worked_by_hand():
    # melanoma scores 0.5, 0.3 for the two melanomas and 0.4, 0.1 for the two nevi: 3 of 4 pairs ranked right
    probabilities = np.zeros((4, len(CODES)))
    probabilities[:, MEL] = [0.5, 0.3, 0.4, 0.1]
    probabilities[:, NV] = 1 - probabilities[:, MEL] - 0.05
    probabilities[:, AKIEC] = 0.05
    result = compute_metrics([MEL, MEL, NV, NV], probabilities)
    assert result["melanoma_auc"] == pytest.approx(0.75)
    # specificity >= 0.8 of two nevi means neither may be called melanoma: above 0.4, one melanoma of two is found
    assert result["melanoma_sensitivity_at_specificity_80"] == pytest.approx(0.5)
    assert result["macro_auc_ovr"] == pytest.approx(0.75)  # nv's AUC mirrors mel's
    assert result["top_2_accuracy"] == 1.0
    assert result["accuracy"] == pytest.approx(3 / 4)  # the first melanoma (0.5 > 0.45) and both nevi
    assert result["per_class"]["akiec"]["auc"] is None


def test_calibration_error_worked_by_hand():
    # 10 images at confidence 0.9, 8 right: |0.8 - 0.9| = 0.1; a perfectly calibrated bin adds nothing
    references = [MEL] * 8 + [NV] * 2 + [NV] * 5 + [MEL] * 5
    predicted = [MEL] * 10 + [NV] * 10
    probabilities = np.vstack([one_hot_ish(predicted[:10], 0.9), one_hot_ish(predicted[10:], 0.5)])
    result = compute_metrics(references, probabilities)
    assert result["expected_calibration_error"] == pytest.approx(0.5 * 0.1 + 0.5 * 0.0)
    assert result["reliability"]["count"] == [10, 10]
    assert result["reliability"]["accuracy"] == pytest.approx([0.5, 0.8])


def test_loads_by_path_with_the_hub_offline(tmp_path):
    code = ("import evaluate; m = evaluate.load(%r); "
            "print(m.compute(predictions=[[0, 0, 0, 0, 0.9, 0.1, 0]], references=[4])['accuracy'])") % str(METRIC)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path), "HF_ENDPOINT": "http://127.0.0.1:9"}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().endswith("1.0")
