import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from lesion.bundle import BUNDLED_DIR, InvalidBundleError, load_bundle, sha256_of
from lesion.classifier import Classifier
from lesion.labels import CODES
from lesion.preprocess import InvalidImageError
from tests.conftest import EXAMPLES


@pytest.fixture(scope="module")
def classifier():
    return Classifier(load_bundle(BUNDLED_DIR))


@pytest.fixture
def bundle_copy(tmp_path):
    return shutil.copytree(BUNDLED_DIR, tmp_path / "bundle")


def _rewrite_config(directory, **changes):
    config = json.loads((directory / "config.json").read_text())
    config.update(changes)
    (directory / "config.json").write_text(json.dumps(config))


def test_bundled_model_is_small_and_checks_out():
    bundle = load_bundle(BUNDLED_DIR)
    assert bundle.size_mb <= 6
    assert bundle.version.endswith(bundle.config["sha256"][:12])


def test_classify_gives_seven_probabilities_summing_to_one(classifier):
    prediction = classifier.classify(EXAMPLES / "ISIC_0034529.jpg")
    assert list(prediction.probabilities) == list(CODES)
    assert sum(prediction.probabilities.values()) == pytest.approx(1)
    assert all(0 <= p <= 1 for p in prediction.probabilities.values())
    assert prediction.timings.total_ms == pytest.approx(prediction.timings.preprocess_ms + prediction.timings.inference_ms)


def test_concurrent_use_gives_the_same_answers(classifier):
    paths = sorted(EXAMPLES.glob("*.jpg"))
    sequential = [classifier.classify(path).probabilities_array for path in paths]
    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(lambda path: classifier.classify(path).probabilities_array, paths * 2))
    assert np.allclose(parallel, sequential * 2)


def test_batch_gives_the_single_answers_and_a_bad_file_costs_the_others_nothing(classifier):
    paths = sorted(EXAMPLES.glob("*.jpg"))[:5]
    results = classifier.classify_batch([paths[0], b"not an image", *paths[1:]])
    assert isinstance(results[1], InvalidImageError) and "not an image" in str(results[1])
    batched = [result.probabilities_array for result in results if not isinstance(result, InvalidImageError)]
    assert np.allclose(batched, [classifier.classify(path).probabilities_array for path in paths])
    assert all(result.timings.inference_ms > 0 for result in results if not isinstance(result, InvalidImageError))


def test_tampered_model_is_refused(bundle_copy):
    with open(bundle_copy / "model.tflite", "ab") as file:
        file.write(b"\0")
    with pytest.raises(InvalidBundleError, match="sha256"):
        load_bundle(bundle_copy)


def test_missing_files_are_named(bundle_copy):
    (bundle_copy / "config.json").unlink()
    with pytest.raises(InvalidBundleError, match="no config.json"):
        load_bundle(bundle_copy)


def test_wrong_label_order_is_refused(bundle_copy):
    _rewrite_config(bundle_copy, labels=list(reversed(CODES)))
    with pytest.raises(InvalidBundleError, match="label order"):
        load_bundle(bundle_copy)


def test_a_file_that_is_not_tflite_is_refused(bundle_copy):
    (bundle_copy / "model.tflite").write_bytes(b"definitely not a flatbuffer")
    _rewrite_config(bundle_copy, sha256=sha256_of(bundle_copy / "model.tflite"))
    with pytest.raises(InvalidBundleError, match="not a loadable TFLite model"):
        Classifier(load_bundle(bundle_copy))


def test_class_bias_shifts_probabilities_as_configured(bundle_copy, classifier):
    bias = [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    _rewrite_config(bundle_copy, class_bias=[a + b for a, b in zip(classifier.bundle.config["class_bias"], bias)])
    shifted = Classifier(load_bundle(bundle_copy))
    image = EXAMPLES / "ISIC_0034529.jpg"
    before, after = classifier.classify(image).probabilities_array, shifted.classify(image).probabilities_array
    expected = before * np.exp(bias) / (before * np.exp(bias)).sum()
    assert after == pytest.approx(expected, rel=1e-6)
