"""The weight soup (training/soup.py): the mean of runs' fine-tuned weights, and the runs it refuses."""

import json

import numpy as np
import pytest

from tests.conftest import TINY_TRAINING
from training import model, soup, train
from training.checkpoints import FINE_TUNING, final_weights

SPEC = model.BACKBONES["efficientnet_lite0"].input_spec()
SPLIT = {"seed": 3, "train": ["a", "b"], "validation": ["c"], "test": ["d"]}


def _run(directory, classifier, split=SPLIT):
    """A finished run's folder: its split and the classifier's weights as its fine-tuned checkpoint."""
    final_weights(directory, FINE_TUNING).parent.mkdir(parents=True)
    (directory / "split.json").write_text(json.dumps(split))
    classifier.save_weights(final_weights(directory, FINE_TUNING))
    return directory


@pytest.fixture(scope="module")
def classifier():
    return model.build_classifier(model.build_backbone("efficientnet_lite0", SPEC, weights=None))


def test_the_soup_is_the_mean_of_the_runs_weights(classifier, tmp_path):
    rng = np.random.default_rng(0)
    states = []
    for name in ("a", "b", "c"):
        classifier.set_weights([rng.normal(size=w.shape).astype(w.dtype) for w in classifier.get_weights()])
        states.append(classifier.get_weights())
        _run(tmp_path / name, classifier)
    classifier.set_weights([np.zeros_like(w) for w in states[0]])
    soup.average_into(classifier, [tmp_path / name for name in ("a", "b", "c")], SPLIT)
    for averaged, *each in zip(classifier.get_weights(), *states):
        assert np.allclose(averaged, np.mean(each, axis=0), atol=1e-6)


def test_runs_that_cannot_be_averaged_are_refused(classifier, tmp_path):
    one = _run(tmp_path / "one", classifier)
    with pytest.raises(ValueError, match="at least two"):
        soup.average_into(classifier, [one], SPLIT)
    other = _run(tmp_path / "other", classifier, {**SPLIT, "train": ["a"], "validation": ["b", "c"]})
    with pytest.raises(ValueError, match="another split"):
        soup.average_into(classifier, [one, other], SPLIT)
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "split.json").write_text(json.dumps(SPLIT))
    with pytest.raises(ValueError, match="has not finished fine-tuning"):
        soup.average_into(classifier, [one, unfinished], SPLIT)
    with pytest.raises(ValueError, match="--teacher"):
        train.parse_args(["--dataset", "x", "--soup", str(one), "--soup", str(one), "--teacher", str(one)])


def test_a_soup_is_finalised_as_a_run(tiny_run, tmp_path):
    """A soup of a run with itself is that run: the same figures, and twice its fitting time."""
    bundle = train.main([*TINY_TRAINING, "--output-dir", str(tmp_path), "--soup", str(tiny_run), "--soup", str(tiny_run)])
    souped, alone = (json.loads((run / "eval_results.json").read_text()) for run in (bundle, tiny_run / "bundle"))
    assert souped["validation"]["balanced_accuracy"] == alone["validation"]["balanced_accuracy"]
    assert souped["validation"]["melanoma_auc"] == pytest.approx(alone["validation"]["melanoma_auc"], abs=1e-6)
    assert souped["run"]["training_minutes"] == pytest.approx(2 * alone["run"]["training_minutes"])
    assert "--soup" in souped["run"]["command"] and "weight soup" in (bundle / "README.md").read_text()
    assert not (tmp_path / "checkpoints").exists()
