"""The decision-rule sweep refits rules on validation exactly as training does, from the network's own probabilities."""

import json

import numpy as np
import pytest

from tests.conftest import EXAMPLES, TINY_DATASET
from training import rule_sweep


@pytest.fixture(scope="module")
def sweep(tiny_run):
    sets = rule_sweep.own_probabilities(tiny_run, str(TINY_DATASET), [EXAMPLES])
    return sets, rule_sweep.score_rules(sets, rule_sweep.prior_shift(tiny_run, str(TINY_DATASET), 0.5))


def test_training_default_rule_reproduces_the_served_figures(tiny_run, sweep):
    sets, rules = sweep
    served = json.loads((tiny_run / "bundle" / "eval_results.json").read_text())
    assert list(sets) == ["validation", "examples"]  # no held-out site in the tiny run; the test split is never read
    default = rules["accuracy ≥ 0.8, melanoma recall ≥ 0.7"]
    for name, result in (("validation", served["validation"]), ("examples", served["external"]["examples"])):
        assert default[name]["balanced_accuracy"] == pytest.approx(result["balanced_accuracy"]), name
        assert rules["no shift"][name]["melanoma_auc"] == pytest.approx(result["uncalibrated"]["melanoma_auc"]), name


def test_class_weights_undone_is_half_the_log_share_of_each_class_in_training(tiny_run):
    from lesion.labels import CODES
    from training.data import load_ham10000

    train = set(json.loads((tiny_run / "bundle" / "split.json").read_text())["train"])
    dataset = load_ham10000(str(TINY_DATASET))
    counts = np.array([sum(dx == code and i in train for i, dx in zip(dataset["image_id"], dataset["dx"])) for code in CODES])
    expected = 0.5 * np.log(counts / counts.sum())
    np.testing.assert_allclose(rule_sweep.prior_shift(tiny_run, str(TINY_DATASET), 0.5), expected)


def test_table_has_a_row_per_rule(sweep):
    _, rules = sweep
    table = rule_sweep.markdown([rules, rules])
    assert len([line for line in table.splitlines() if line.startswith("| ")]) == 1 + len(rules)
    assert "Mean over 2 run(s)" in table and "examples melanoma AUC" in table
