import io
import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from lesion.bundle import BUNDLED_DIR, InvalidBundleError, load_bundle, sha256_of
from lesion.classifier import Classifier, calibrated_probabilities
from lesion.labels import CODES
from lesion.preprocess import InvalidImageError, normalise, prepare_pixels
from lesion.verdict import UNSURE_BELOW
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
    timings = prediction.timings
    assert timings.total_ms == pytest.approx(timings.decode_ms + timings.preprocess_ms + timings.inference_ms)


@pytest.mark.parametrize("tint", [(1.0, 1.0, 1.0), (1.0, 0.9, 0.75)])
def test_a_grey_copy_is_flagged_and_never_sounds_sure(classifier, tint):
    """The melanoma example scores over 80% benign keratosis in grey, tinted or not: the verdict must not say so
    with confidence."""
    grey = np.asarray(Image.open(EXAMPLES / "ISIC_0034529.jpg").convert("L"), np.float64)[..., None]
    png = io.BytesIO()
    Image.fromarray((grey * tint).astype(np.uint8)).save(png, "PNG")
    prediction = classifier.classify(png.getvalue())
    assert prediction.grey and max(prediction.probabilities.values()) >= UNSURE_BELOW
    assert prediction.verdict.kind == "grayscale"
    assert not classifier.classify(EXAMPLES / "ISIC_0034529.jpg").grey


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


def test_temperature_softens_without_changing_the_top_class(bundle_copy, classifier):
    """Twice the temperature, with the class shift stored for it (shift / T, as training stores it), keeps the
    decisions softmax((l + shift) / T) makes and softens them."""
    bias = np.asarray(classifier.class_bias)  # before = softmax(l / T + bias), so l / T is log(before) - bias, up to a constant
    _rewrite_config(bundle_copy, temperature=classifier.temperature * 2, class_bias=list(bias / 2))
    softer = Classifier(load_bundle(bundle_copy))
    image = EXAMPLES / "ISIC_0034529.jpg"
    before, after = classifier.classify(image).probabilities_array, softer.classify(image).probabilities_array
    expected = calibrated_probabilities(np.log(before) - bias, 2.0, bias / 2)
    assert after == pytest.approx(expected, rel=1e-5)
    assert after.argmax() == before.argmax() and after.max() < before.max()


def test_one_inference_gives_maps_and_a_guard_score(classifier):
    prediction = classifier.classify(EXAMPLES / "ISIC_0034529.jpg")
    rows, columns, classes = prediction.class_maps.shape
    assert classes == len(CODES) and rows * columns > 1
    assert prediction.pixels.shape == (classifier.spec.height, classifier.spec.width, 3)
    assert prediction.dermoscopic == (prediction.guard_score <= classifier.guard_threshold)


def test_a_model_without_the_three_outputs_is_refused(bundle_copy, tmp_path):
    import keras
    import tensorflow as tf

    inputs = keras.Input((150, 200, 3))
    probabilities = keras.layers.Dense(len(CODES), activation="softmax")(keras.layers.GlobalAveragePooling2D()(inputs))
    keras.Model(inputs, probabilities).export(tmp_path / "saved", format="tf_saved_model", verbose=False)
    (bundle_copy / "model.tflite").write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved")).convert())
    _rewrite_config(bundle_copy, sha256=sha256_of(bundle_copy / "model.tflite"))
    with pytest.raises(InvalidBundleError, match="must output logits"):
        Classifier(load_bundle(bundle_copy))


@pytest.mark.parametrize("rule", [{"threshold": "high", "validation_sensitivity": 0.7, "validation_specificity": 0.8},
                                  {"threshold": 0.5, "validation_sensitivity": 1.7, "validation_specificity": 0.8},
                                  {"threshold": 0.5, "validation_specificity": 0.8}])
def test_a_broken_melanoma_alarm_is_refused(bundle_copy, rule):
    _rewrite_config(bundle_copy, melanoma_alarm=rule)
    with pytest.raises(InvalidBundleError, match="melanoma_alarm needs"):
        Classifier(load_bundle(bundle_copy))


def test_the_melanoma_alarm_follows_its_threshold(bundle_copy, classifier):
    """Between two images' melanoma odds, the threshold raises the alarm for one of them only."""
    from lesion.verdict import melanoma_odds

    images = [EXAMPLES / "ISIC_0034529.jpg", EXAMPLES / "ISIC_0034525.jpg"]
    odds = sorted(melanoma_odds(classifier.classify(image).probabilities) for image in images)
    rule = {"threshold": sum(odds) / 2, "validation_sensitivity": 0.7, "validation_specificity": 0.8}
    _rewrite_config(bundle_copy, melanoma_alarm=rule)
    alarmed = Classifier(load_bundle(bundle_copy))
    alarms = [alarmed.classify(image).melanoma_alarm for image in images]
    assert sorted(alarm.raised for alarm in alarms) == [False, True]
    assert all(alarm.threshold == rule["threshold"] and alarm.sensitivity == 0.7 for alarm in alarms)


def test_the_classifier_feeds_its_network_what_training_feeds_it(classifier):
    """Serving composes lesion.preprocess's steps itself (it times decoding and keeps the uncorrected pixels for the
    heatmap); the network's input is still exactly training's: normalise(prepare_pixels(...))."""
    example = str(EXAMPLES / "ISIC_0034529.jpg")
    prepared = classifier._prepare(example)
    assert np.array_equal(prepared.model_input, normalise(prepare_pixels(example, classifier.spec)[0].astype(np.float32), classifier.spec))
