"""The LiteRT classifier: one interpreter per process, guarded by a lock, with the bundle's test-time views."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from lesion.bundle import InvalidBundleError, ModelBundle
from lesion.labels import CODES
from lesion.preprocess import decode, model_input

# Lesions have no up or down, so the model sees each image as it is and mirrored; probabilities are averaged.
# Each view acts on the last three axes (height, width, channels) of one image or a batch.
VIEWS = {
    "identity": lambda x: x,
    "flip_left_right": lambda x: x[..., :, ::-1, :],
    "flip_up_down": lambda x: x[..., ::-1, :, :],
    "rotate_180": lambda x: x[..., ::-1, ::-1, :],
}


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent on one image: decoding the file, preparing the model's input, and the model itself."""

    decode_ms: float
    preprocess_ms: float
    inference_ms: float

    @property
    def total_ms(self) -> float:
        return self.decode_ms + self.preprocess_ms + self.inference_ms


@dataclass(frozen=True)
class Prediction:
    probabilities: dict[str, float]
    timings: Timings
    notes: list[str] = field(default_factory=list)

    @property
    def top(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)

    @property
    def probabilities_array(self) -> np.ndarray:
        """The probabilities in lesion.labels.CODES order."""
        return np.array([self.probabilities[code] for code in CODES])


class Classifier:
    """Runs a bundle's TFLite model. Safe to share between threads: one request at a time uses the interpreter."""

    def __init__(self, bundle: ModelBundle, *, num_threads: int | None = None):
        """Load the bundle's model once.

        Raises:
            InvalidBundleError: the model does not load, or does not fit its config.
        """
        self.bundle = bundle
        self.spec = bundle.input_spec
        view_names = bundle.config.get("test_time_views", ["identity"])
        unknown = sorted(set(view_names) - set(VIEWS))
        if unknown:
            raise InvalidBundleError(f"{bundle.directory} asks for unknown test-time views {unknown}; known: {sorted(VIEWS)}")
        self.views = [VIEWS[name] for name in view_names]
        self.class_bias = np.asarray(bundle.config.get("class_bias", [0.0] * len(CODES)), np.float64)
        if self.class_bias.shape != (len(CODES),):
            raise InvalidBundleError(f"{bundle.directory}: class_bias needs {len(CODES)} values, not {self.class_bias.size}")
        self._lock = threading.Lock()
        try:
            self._interpreter = Interpreter(model_path=str(bundle.model_path), num_threads=num_threads)
            index = self._interpreter.get_input_details()[0]["index"]
            self._interpreter.resize_tensor_input(index, [len(self.views), self.spec.height, self.spec.width, 3])
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise InvalidBundleError(f"{bundle.model_path} is not a loadable TFLite model: {error}") from None
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        if self._output["shape"][-1] != len(CODES):
            raise InvalidBundleError(f"{bundle.model_path} outputs {self._output['shape'][-1]} classes, not {len(CODES)}")

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities (in lesion.labels.CODES order) for one normalised (height, width, 3) image."""
        batch = np.stack([view(image) for view in self.views]).astype(np.float32)
        batch = _quantize(batch, self._input)
        with self._lock:
            self._interpreter.set_tensor(self._input["index"], batch)
            self._interpreter.invoke()
            output = self._interpreter.get_tensor(self._output["index"])
        return apply_class_bias(_dequantize(output, self._output).astype(np.float64).mean(axis=0), self.class_bias)

    def classify(self, source) -> Prediction:
        """Decode, preprocess and classify one image (path, bytes, file, PIL image or array), timing each step.

        Raises:
            lesion.preprocess.InvalidImageError: the input cannot be used; the message says why.
        """
        start = time.perf_counter()
        image, notes = decode(source, self.spec)
        decoded = time.perf_counter()
        prepared_input = model_input(image, self.spec)
        prepared = time.perf_counter()
        probabilities = self.probabilities(prepared_input)
        done = time.perf_counter()
        return Prediction(
            dict(zip(CODES, probabilities.tolist())),
            Timings((decoded - start) * 1e3, (prepared - decoded) * 1e3, (done - prepared) * 1e3),
            notes,
        )


def apply_class_bias(probabilities: np.ndarray, class_bias) -> np.ndarray:
    """The bundle's decision rule: p * exp(bias), renormalised over the last axis."""
    shifted = probabilities * np.exp(np.asarray(class_bias))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _quantize(batch: np.ndarray, details: dict) -> np.ndarray:
    if details["dtype"] == np.float32:
        return batch
    scale, zero_point = details["quantization"]
    info = np.iinfo(details["dtype"])
    return np.clip(np.round(batch / scale + zero_point), info.min, info.max).astype(details["dtype"])


def _dequantize(output: np.ndarray, details: dict) -> np.ndarray:
    if details["dtype"] == np.float32:
        return output
    scale, zero_point = details["quantization"]
    return (output.astype(np.float32) - zero_point) * scale
