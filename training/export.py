"""Stage 4's export (training/finalise.py calls it): the served model as TFLite, in four precisions, each measured
for size and speed.

The served model gives, from one inference: the logits, a class activation map per class (the classifier applied to
each cell of the last feature map; their mean plus the bias is the logits) and the dermoscopy guard's score.
"""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from lesion.bundle import CONFIG_FILE, MODEL_FILE, load_bundle, sha256_of
from lesion.classifier import VIEWS, Classifier, calibrated_probabilities
from lesion.labels import CODES, DISPLAY_NAMES
from lesion.preprocess import InputSpec, normalise
from training import atomic, model
from training.scores import compute_metrics
from training.guard import GuardStatistics, MahalanobisScore, guard_features

log = logging.getLogger(__name__)

QUANTIZATIONS = ("float32", "float16", "dynamic_range", "int8")
"""float16 halves the file at no cost in accuracy; dynamic_range quantises weights only; int8 needs calibration images."""
MAX_MODEL_MB = 6.0
"""The bundled model must stay small enough for a fast Space start and a phone."""
TIE = 0.01
"""Validation balanced accuracies closer than this are a tie: one dermatofibroma of the ~17 in validation moves it 0.8 points."""
SIDES = (("val", "validation"), ("test", "test"))


OUTPUTS = ("logits", "class_maps", "guard_score")
"""The served model's outputs, in order: (batch, 7), (batch, rows, columns, 7) and (batch, 1)."""


def serving_model(classifier: keras.Model, guard: GuardStatistics) -> keras.Model:
    """The trained classifier rewired to give OUTPUTS from one normalised (batch, height, width, 3) input."""
    backbone = model.backbone_of(classifier)
    kernel, bias = classifier.get_layer("diagnosis").get_weights()
    inputs = keras.Input(classifier.input_shape[1:], name="image")
    feature_map = backbone(inputs, training=False)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(feature_map)
    logits_layer = keras.layers.Dense(len(CODES), name="logits")
    maps_layer = keras.layers.Dense(len(CODES), use_bias=False, name="class_maps")
    score = MahalanobisScore(guard, name="guard_score")(guard_features(backbone, inputs))
    outputs = [logits_layer(pooled), maps_layer(feature_map), score]
    logits_layer.set_weights([kernel, bias])
    maps_layer.set_weights([kernel])
    return keras.Model(inputs, outputs, name=f"{classifier.name}_served")


def to_tflite(served: keras.Model, quantization: str, calibration: np.ndarray | None = None, *, browser: bool = False) -> bytes:
    """Convert a model taking normalised (batch, height, width, 3) images.

    Args:
        quantization: one of QUANTIZATIONS.
        calibration: normalised images for int8's value ranges (a few hundred, all classes); int8 only.
        browser: for LiteRT.js: a fixed batch of one, and float32 input and outputs around the int8 inside.

    Raises:
        ValueError: unknown quantization, or int8 without calibration images.
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}, not {quantization!r}")
    if quantization == "int8" and (calibration is None or not len(calibration)):
        raise ValueError("int8 quantization needs calibration images")
    with tempfile.TemporaryDirectory() as saved_model:
        signature = keras.InputSpec(shape=(1 if browser else None, *served.input_shape[1:]), dtype="float32")
        served.export(saved_model, format="tf_saved_model", input_signature=[signature], verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        _configure(converter, quantization, calibration, float_io=browser)
        return converter.convert()


def _configure(converter: tf.lite.TFLiteConverter, quantization: str, calibration: np.ndarray | None, *, float_io: bool) -> None:
    if quantization != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        converter.representative_dataset = lambda: ([image[None].astype(np.float32)] for image in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if not float_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8


GUARD_PROBES = 32
"""Smooth synthetic pictures added to int8's calibration images (about a tenth of them)."""


def guard_probes(spec: InputSpec, count: int = GUARD_PROBES, seed: int = 0) -> np.ndarray:
    """Normalised pictures that are plainly not dermoscopy: flat colours, two-colour gradients and four-colour blocks.

    Calibrating int8 on lesions alone leaves the guard score no room above the lesions' own range, so a cat would read
    as the most unusual lesion; these give the score's int8 range headroom far beyond the threshold. They are smooth,
    so the convolutions' ranges, which set the precision for real images, hardly widen.
    """
    rng = np.random.default_rng(seed)
    rows, columns = np.linspace(0, 1, spec.height)[:, None, None], np.linspace(0, 1, spec.width)[None, :, None]
    pictures = []
    for index in range(count):
        a, b, c, d = rng.uniform(0, 255, (4, 3))
        if index % 3 == 0:
            picture = a
        elif index % 3 == 1:
            picture = a + (b - a) * (rows if index % 2 else columns)
        else:
            picture = np.where(rows < 0.5, np.where(columns < 0.5, a, b), np.where(columns < 0.5, c, d))
        pictures.append(normalise(np.broadcast_to(picture, (spec.height, spec.width, 3)).astype(np.float32), spec))
    return np.stack(pictures)


GUARD_SCORE_MEANING = ("squared Mahalanobis distance of the image's features to the nearest HAM10000 class, per "
                       "dimension: about 1 for a typical training image; above the threshold the image does not look "
                       "like a dermoscopic image of a skin lesion")


def median_latency_ms(classify, image: np.ndarray, *, runs: int = 50, warmup: int = 5) -> float:
    """Median wall time of `classify(image)` in milliseconds."""
    for _ in range(warmup):
        classify(image)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        classify(image)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def bundle_config(*, name: str, backbone: str, spec: InputSpec, quantization: str, views: list[str],
                  class_bias: list[float] | None = None, temperature: float = 1.0, guard_threshold: float | None = None,
                  melanoma_alarm: dict | None = None, version: str = "2.0.0") -> dict:
    """The config.json of a bundle, minus the checksum that write_bundle adds; melanoma_alarm is training.rule.fit_alarm's rule."""
    alarm = {"melanoma_alarm": melanoma_alarm} if melanoma_alarm else {}
    return {
        "name": name,
        "version": version,
        "backbone": backbone,
        "quantization": quantization,
        "labels": list(CODES),
        "display_names": list(DISPLAY_NAMES),
        "input": spec.to_config(),
        "test_time_views": views,
        "outputs": list(OUTPUTS),
        "temperature": temperature,
        "class_bias": class_bias or [0.0] * len(CODES),
        "guard": {"threshold": guard_threshold, "score": GUARD_SCORE_MEANING},
        **alarm,
    }


def write_bundle(directory: Path, tflite: bytes, config: dict) -> Path:
    """Write model.tflite and config.json (with the model's sha256) into directory, replacing it atomically."""
    with atomic.staged_directory(directory) as staging:
        (staging / MODEL_FILE).write_bytes(tflite)
        config = {**config, "sha256": sha256_of(staging / MODEL_FILE)}
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n")
    return directory


def litert_outputs(bundle_dir: Path, images: dict[str, np.ndarray]) -> tuple[Classifier, dict[str, dict[str, np.ndarray]]]:
    """Run a bundle through the app's own classifier: {split: {"probabilities": (N, 7), "guard_score": (N,)}}."""
    classifier = Classifier(load_bundle(bundle_dir))
    outputs = {}
    for name, batch in images.items():
        inferences = [classifier.infer(image) for image in batch]
        outputs[name] = {"probabilities": np.stack([i.probabilities for i in inferences]),
                         "guard_score": np.array([i.guard_score for i in inferences])}
    return classifier, outputs


def score_variants(served: keras.Model, configs: dict[str, dict], directory: Path, images: dict, references: dict,
                   calibration: np.ndarray, views: list[str]) -> tuple[list[dict], dict]:
    """The Keras model and each TFLite conversion (written as a bundle under directory) scored on validation and test.

    Args:
        configs: the bundle config of each quantization to export.
        images, references: normalised images and labels of "validation" and "test".

    Returns:
        The comparison table (one row per model) and each variant's LiteRT outputs per split.
    """
    keras_logits = {name: np.mean([served.predict(VIEWS[v](batch), batch_size=64, verbose=0)[0] for v in views], axis=0)
                    for name, batch in images.items()}
    table = [{"name": "keras", **{key: compute_metrics(references[name], calibrated_probabilities(keras_logits[name]))
                                  for key, name in SIDES}}]
    outputs = {}
    for quantization, config in configs.items():
        variant_dir = write_bundle(directory / quantization, to_tflite(served, quantization, calibration), config)
        runtime, outputs[quantization] = litert_outputs(variant_dir, images)
        latency = median_latency_ms(runtime.infer, images["test"][0])
        table.append({"name": quantization, "size_mb": runtime.bundle.size_mb, "latency_ms": latency,
                      **{key: compute_metrics(references[name], outputs[quantization][name]["probabilities"]) for key, name in SIDES}})
        log.info("%s: %.2f MB, %.1f ms, validation balanced accuracy %.3f", quantization, table[-1]["size_mb"], latency,
                 table[-1]["val"]["balanced_accuracy"])
    return table, outputs


GUARD_HEADROOM = 1.5
"""The largest guard score an int8 model can output must be at least this many times its threshold."""


def guard_ceiling(variant_dir: Path) -> float:
    """The largest guard score a variant can output: its int8 range's top, or infinity for a float output.

    Calibrating int8 on lesions alone would leave no room above the threshold: see guard_probes.
    """
    from ai_edge_litert.interpreter import Interpreter

    details = [d for d in Interpreter(model_path=str(variant_dir / MODEL_FILE)).get_output_details()
               if len(d["shape"]) == 2 and d["shape"][-1] == 1][0]
    scale, zero_point = details["quantization"]
    return float("inf") if scale == 0 else float((np.iinfo(details["dtype"]).max - zero_point) * scale)


def choose_variant(table: list[dict]) -> dict:
    """The fastest TFLite variant of at most MAX_MODEL_MB whose validation balanced accuracy is within TIE of the best."""
    fitting = [row for row in table if row["name"] != "keras" and row["size_mb"] <= MAX_MODEL_MB]
    if not fitting:
        raise RuntimeError(f"no TFLite variant is at most {MAX_MODEL_MB} MB")
    best = max(row["val"]["balanced_accuracy"] for row in fitting)
    close = [row for row in fitting if row["val"]["balanced_accuracy"] >= best - TIE]
    return min(close, key=lambda row: row["latency_ms"])
