"""Refitting a finished bundle's rule on its validation split gives what training fitted, and rewrites every figure."""

import json
import shutil

import pytest

from lesion.bundle import load_bundle
from tests.conftest import EXAMPLES, TINY_DATASET
from training import refit

RULE = ("class_bias", "temperature", "melanoma_alarm")


@pytest.fixture
def copy(tiny_run, tmp_path):
    """A copy of the tiny run's bundle, to refit."""
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_run / "bundle", bundle)
    return bundle


def refitted(bundle, *floors) -> dict:
    return refit.main([str(bundle), "--data", str(TINY_DATASET), "--external", str(EXAMPLES), *floors])


def test_training_floors_give_training_rule_and_figures(tiny_run, copy):
    trained = json.loads((tiny_run / "bundle" / "config.json").read_text())
    config = refitted(copy)
    assert config["class_bias"] == pytest.approx(trained["class_bias"], abs=1e-3)
    assert config["temperature"] == pytest.approx(trained["temperature"], abs=1e-3)
    assert config["melanoma_alarm"]["threshold"] == pytest.approx(trained["melanoma_alarm"]["threshold"], abs=1e-3)
    browser = json.loads((copy / "browser" / "config.json").read_text())
    assert {key: browser[key] for key in RULE} == {key: config[key] for key in RULE}
    before = json.loads((tiny_run / "bundle" / "eval_results.json").read_text())
    after = json.loads((copy / "eval_results.json").read_text())
    for name in ("validation", "test"):
        assert after[name]["balanced_accuracy"] == pytest.approx(before[name]["balanced_accuracy"], abs=1e-6)
        assert after[name]["melanoma_alarm"] == pytest.approx(before[name]["melanoma_alarm"], abs=1e-3)
    assert after["external"]["examples"]["balanced_accuracy"] == pytest.approx(
        before["external"]["examples"]["balanced_accuracy"], abs=1e-6)
    assert after["variants"] == before["variants"] and after["run"]["command"] == before["run"]["command"]
    card = (copy / "README.md").read_text()
    assert after["run"]["refit"]["command"] in card and card.count("## Melanoma alarm") == 1
    load_bundle(copy)  # the model still matches its checksum


def test_floors_bind_the_refitted_rule(copy):
    """A melanoma recall floor of 1 makes every validation melanoma the most probable class, where training had none."""
    refitted(copy, "--min-melanoma-recall", "1")
    results = json.loads((copy / "eval_results.json").read_text())
    assert results["validation"]["per_class"]["mel"]["recall"] == 1.0
    assert results["run"]["refit"]["min_melanoma_recall"] == 1.0
    assert "for balanced accuracy with accuracy ≥ 0.0 and melanoma recall ≥ 1.0" in (copy / "README.md").read_text()


def test_a_foreign_split_is_refused_and_nothing_changes(copy):
    split = json.loads((copy / "split.json").read_text())
    (copy / "split.json").write_text(json.dumps({**split, "test": [*split["test"], "ISIC_9999999"]}))
    config = (copy / "config.json").read_text()
    with pytest.raises(ValueError, match="lacks 1 images .* ISIC_9999999"):
        refitted(copy)
    assert (copy / "config.json").read_text() == config
