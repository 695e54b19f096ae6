"""Stage 4, export: the Keras classifier as TFLite, in four precisions, each measured for size and speed."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from lesion.bundle import CONFIG_FILE, MODEL_FILE, sha256_of
from lesion.labels import CODES, DISPLAY_NAMES
from lesion.preprocess import InputSpec

QUANTIZATIONS = ("float32", "float16", "dynamic_range", "int8")
"""float16 halves the file at no cost in accuracy; dynamic_range quantises weights only; int8 needs calibration images."""


def to_tflite(classifier: keras.Model, quantization: str, calibration: np.ndarray | None = None) -> bytes:
    """Convert a classifier taking normalised (batch, height, width, 3) images.

    Args:
        quantization: one of QUANTIZATIONS.
        calibration: normalised images for int8's value ranges (a few hundred, all classes); int8 only.

    Raises:
        ValueError: unknown quantization, or int8 without calibration images.
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}, not {quantization!r}")
    if quantization == "int8" and (calibration is None or not len(calibration)):
        raise ValueError("int8 quantization needs calibration images")
    with tempfile.TemporaryDirectory() as saved_model:
        signature = keras.InputSpec(shape=(None, *classifier.input_shape[1:]), dtype="float32")
        classifier.export(saved_model, format="tf_saved_model", input_signature=[signature], verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        _configure(converter, quantization, calibration)
        return converter.convert()


def _configure(converter: tf.lite.TFLiteConverter, quantization: str, calibration: np.ndarray | None) -> None:
    if quantization != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        converter.representative_dataset = lambda: ([image[None].astype(np.float32)] for image in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8


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
                  class_bias: list[float] | None = None, version: str = "1.0.0") -> dict:
    """The config.json of a bundle, minus the checksum that write_bundle adds."""
    return {
        "name": name,
        "version": version,
        "backbone": backbone,
        "quantization": quantization,
        "labels": list(CODES),
        "display_names": list(DISPLAY_NAMES),
        "input": spec.to_config(),
        "test_time_views": views,
        "class_bias": class_bias or [0.0] * len(CODES),
    }


def write_bundle(directory: Path, tflite: bytes, config: dict) -> Path:
    """Write model.tflite and config.json (with the model's sha256) into directory."""
    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / MODEL_FILE
    model_path.write_bytes(tflite)
    config = {**config, "sha256": sha256_of(model_path)}
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n")
    return directory
