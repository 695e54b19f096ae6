"""WiSE-FT (training/wise_ft.py): the mix of a run's start and end of fine-tuning with the best validation BA."""

import json
import shutil

import keras
import numpy as np
import pytest

from lesion.labels import CODES
from tests.conftest import TINY_TRAINING
from training import train, wise_ft
from training.checkpoints import FINE_TUNING, HEAD, final_weights

CLASSES = len(CODES)


def _linear_classifier() -> keras.Model:
    """softmax(x @ W) on one-hot inputs: image c's class-c logit is W[c, c], every other logit 0."""
    inputs = keras.Input((CLASSES,))
    return keras.Model(inputs, keras.layers.Dense(CLASSES, use_bias=False, activation="softmax")(inputs))


def _run(directory, classifier, start: np.ndarray, end: np.ndarray):
    """A finished run's folder whose two checkpoints hold the weights start and end."""
    for phase, weights in ((HEAD, start), (FINE_TUNING, end)):
        final_weights(directory, phase).parent.mkdir(parents=True, exist_ok=True)
        classifier.set_weights([weights])
        classifier.save_weights(final_weights(directory, phase))
    return directory


def test_the_mix_with_the_best_validation_ba_is_kept(tmp_path):
    """Class 0 is right only below a share of 0.65 of the fine-tuning, class 1 only above 0.55: only 0.6 gets both."""
    classifier = _linear_classifier()
    start, end = np.eye(CLASSES, dtype=np.float32), np.eye(CLASSES, dtype=np.float32)
    start[0, 0], end[0, 0] = 0.65, -0.35  # the class-0 logit is 0.65 - share
    start[1, 1], end[1, 1] = -0.55, 0.45  # the class-1 logit is share - 0.55
    run = _run(tmp_path, classifier, start, end)
    chosen = wise_ft.choose_mix(classifier, run, np.eye(CLASSES, dtype=np.float32), np.arange(CLASSES))
    assert chosen["mix"] == 0.6
    assert chosen["validation_ba"][0.6] == pytest.approx(1.0)
    assert chosen["validation_ba"][0.5] == chosen["validation_ba"][0.7] == pytest.approx(1 - 1 / CLASSES)
    assert np.allclose(classifier.get_weights()[0], 0.4 * start + 0.6 * end)


def test_a_tie_keeps_the_larger_share_of_fine_tuning(tmp_path):
    classifier = _linear_classifier()
    run = _run(tmp_path, classifier, np.eye(CLASSES, dtype=np.float32), 2 * np.eye(CLASSES, dtype=np.float32))
    chosen = wise_ft.choose_mix(classifier, run, np.eye(CLASSES, dtype=np.float32), np.arange(CLASSES))
    assert chosen["mix"] == 1.0 and set(chosen["validation_ba"]) == set(wise_ft.MIXES)
    assert np.allclose(classifier.get_weights()[0], 2 * np.eye(CLASSES))


def test_an_unfinished_run_or_a_soup_is_refused(tmp_path):
    classifier = _linear_classifier()
    final_weights(tmp_path, HEAD).parent.mkdir(parents=True)
    classifier.save_weights(final_weights(tmp_path, HEAD))
    with pytest.raises(FileNotFoundError, match="finished both phases"):
        wise_ft.choose_mix(classifier, tmp_path, np.eye(CLASSES, dtype=np.float32), np.arange(CLASSES))
    with pytest.raises(ValueError, match="--wise-ft"):
        train.parse_args(["--dataset", "x", "--soup", "a", "--soup", "b", "--wise-ft"])


def test_a_finished_run_is_finalised_again_with_wise_ft(tiny_run, tmp_path):
    """Nothing is fitted again; the card and eval_results.json say which mix was kept and why."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("bundle", "variants"))
    fitted = json.loads((run / train.TIMES_FILE).read_text())
    bundle = train.main([*TINY_TRAINING, "--output-dir", str(run), "--wise-ft"])
    assert json.loads((run / train.TIMES_FILE).read_text()) == fitted
    chosen = json.loads((bundle / "eval_results.json").read_text())["run"]["wise_ft"]
    assert chosen["mix"] in wise_ft.MIXES and len(chosen["validation_ba"]) == len(wise_ft.MIXES)
    assert "--wise-ft" in json.loads((bundle / "eval_results.json").read_text())["run"]["command"]
    assert f"the served weights lie {chosen['mix']} of the way" in (bundle / "README.md").read_text()
