"""The decision-rule sweep refits rules on validation exactly as training does, from the network's own probabilities."""

import json

import numpy as np
import pytest

from tests.conftest import EXAMPLES, TINY_DATASET
from training import rule_sweep

FIGURES = ("balanced_accuracy", "melanoma_auc", "melanoma_sensitivity_at_specificity_80", "expected_calibration_error")


@pytest.fixture(scope="module")
def sweep(tiny_run):
    sets = rule_sweep.own_probabilities(tiny_run, str(TINY_DATASET), [EXAMPLES])
    return sets, rule_sweep.score_rules(sets, rule_sweep.class_weights_undone(tiny_run, str(TINY_DATASET)))


def test_training_default_rule_reproduces_the_served_figures(tiny_run, sweep):
    sets, rules = sweep
    served = json.loads((tiny_run / "bundle" / "eval_results.json").read_text())
    assert list(sets) == ["validation", "examples"]  # no held-out site in the tiny run; the test split is never read
    for name, result in (("validation", served["validation"]), ("examples", served["external"]["examples"])):
        for key in FIGURES:
            assert rules["balanced accuracy alone"][name][key] == pytest.approx(result[key], abs=1e-6), (name, key)
            if key != "balanced_accuracy":
                assert rules[rule_sweep.NETWORK][name][key] == pytest.approx(result["uncalibrated"][key], abs=1e-6), (name, key)


def test_class_weights_undone_uses_the_runs_own_power(tiny_run):
    from lesion.labels import CODES
    from training.data import load_ham10000

    config = rule_sweep.run_config(tiny_run)
    assert config.class_weight_power == 0.75 and config.output_dir == tiny_run  # the tiny run keeps training's default
    assert config.cache_dir is None  # its --cache-dir none, as its command recorded it
    train = set(json.loads((tiny_run / "bundle" / "split.json").read_text())["train"])
    dataset = load_ham10000(str(TINY_DATASET))
    counts = np.array([sum(dx == code and i in train for i, dx in zip(dataset["image_id"], dataset["dx"])) for code in CODES])
    shift = rule_sweep.class_weights_undone(tiny_run, str(TINY_DATASET))
    np.testing.assert_allclose(shift - shift.max(), 0.75 * np.log(counts / counts.max()), atol=1e-9)


def test_table_has_a_row_per_rule(sweep):
    _, rules = sweep
    table = rule_sweep.markdown([rules, rules])
    assert len([line for line in table.splitlines() if line.startswith("| ")]) == 1 + len(rules)
    assert "Mean over 2 run(s)" in table and "examples melanoma AUC" in table


def test_a_bundle_is_a_run(tiny_run, sweep):
    """The app's own bundle (split.json and eval_results.json beside the model) can be swept like a run folder."""
    sets, _ = sweep
    from_bundle = rule_sweep.own_probabilities(tiny_run / "bundle", str(TINY_DATASET), [EXAMPLES])
    for name, (labels, probabilities) in sets.items():
        np.testing.assert_array_equal(from_bundle[name][0], labels)
        np.testing.assert_allclose(from_bundle[name][1], probabilities, atol=1e-6)
    np.testing.assert_allclose(rule_sweep.class_weights_undone(tiny_run / "bundle", str(TINY_DATASET)),
                               rule_sweep.class_weights_undone(tiny_run, str(TINY_DATASET)))


def test_melanoma_against_nevus_ranks_by_their_log_odds(sweep):
    """The row's melanoma AUC is that of log p(mel) - log p(nv) of the network's own probabilities, on every set."""
    from sklearn.metrics import roc_auc_score

    from lesion.labels import CODES

    sets, rules = sweep
    mel, nv = CODES.index("mel"), CODES.index("nv")
    both = [name for name, (labels, _) in sets.items() if len(set(labels == mel)) == 2]
    assert both  # the examples hold melanomas and other lesions
    for name in both:
        labels, probabilities = sets[name]
        log_odds = np.log(probabilities[:, mel]) - np.log(probabilities[:, nv])
        assert rules[rule_sweep.MELANOMA_AGAINST_NEVUS][name]["melanoma_auc"] == pytest.approx(
            roc_auc_score(labels == mel, log_odds), abs=1e-9), name


def test_the_melanoma_score_has_no_bars(sweep):
    """The melanoma-against-nevus row reports melanoma ranking only: no balanced accuracy for a score of one class."""
    _, rules = sweep
    row = rules[rule_sweep.MELANOMA_AGAINST_NEVUS]["examples"]
    assert set(row) == {"melanoma_auc", "melanoma_sensitivity_at_specificity_80"}
    table = rule_sweep.markdown([rules])
    line = next(line for line in table.splitlines() if line.startswith(f"| {rule_sweep.MELANOMA_AGAINST_NEVUS}"))
    assert line.split(" | ")[1] == "-"  # validation BA
