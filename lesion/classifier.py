"""The LiteRT classifier: one interpreter per process, guarded by a lock, with the bundle's test-time views."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from lesion.bundle import InvalidBundleError, ModelBundle
from lesion.labels import CODES
from lesion.preprocess import InvalidImageError, preprocess

# Lesions have no up or down, so the model sees each image as it is and mirrored; probabilities are averaged.
# Each view acts on the last three axes (height, width, channels) of one image or a batch.
VIEWS = {
    "identity": lambda x: x,
    "flip_left_right": lambda x: x[..., :, ::-1, :],
    "flip_up_down": lambda x: x[..., ::-1, :, :],
    "rotate_180": lambda x: x[..., ::-1, ::-1, :],
}

BATCH_ROWS = 8
"""Most images (views included) per interpreter call in a batch: on a 2-core CPU, XNNPACK's time per image is lowest
at 4-8 and grows by a third to a half at 32-64, as the activations outgrow the cache."""


@dataclass(frozen=True)
class Timings:
    preprocess_ms: float
    inference_ms: float

    @property
    def total_ms(self) -> float:
        return self.preprocess_ms + self.inference_ms


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
        self._threads = num_threads or 1
        try:
            self._interpreter = Interpreter(model_path=str(bundle.model_path), num_threads=num_threads)
            index = self._interpreter.get_input_details()[0]["index"]
            self._interpreter.resize_tensor_input(index, [len(self.views), self.spec.height, self.spec.width, 3])
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise InvalidBundleError(f"{bundle.model_path} is not a loadable TFLite model: {error}") from None
        self._input = self._interpreter.get_input_details()[0]
        self._rows = len(self.views)
        self._output = self._interpreter.get_output_details()[0]
        if self._output["shape"][-1] != len(CODES):
            raise InvalidBundleError(f"{bundle.model_path} outputs {self._output['shape'][-1]} classes, not {len(CODES)}")

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities (in lesion.labels.CODES order) for one normalised (height, width, 3) image."""
        batch = np.stack([view(image) for view in self.views]).astype(np.float32)
        output = self._invoke(_quantize(batch, self._input))
        return apply_class_bias(_dequantize(output, self._output).astype(np.float64).mean(axis=0), self.class_bias)

    def probabilities_batch(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n, classes) in lesion.labels.CODES order, for n normalised images."""
        batch = _quantize(np.concatenate([view(images) for view in self.views]).astype(np.float32), self._input)  # view-major
        output = np.concatenate([self._invoke(batch[start:start + BATCH_ROWS]) for start in range(0, len(batch), BATCH_ROWS)])
        output = _dequantize(output, self._output).astype(np.float64)
        return apply_class_bias(output.reshape(len(self.views), len(images), -1).mean(axis=0), self.class_bias)

    def _invoke(self, batch: np.ndarray) -> np.ndarray:
        """Run the interpreter on one input batch, reshaping it first when the batch size changed."""
        with self._lock:
            if len(batch) != self._rows:
                self._interpreter.resize_tensor_input(self._input["index"], list(batch.shape))
                self._interpreter.allocate_tensors()
                self._rows = len(batch)
            self._interpreter.set_tensor(self._input["index"], batch)
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output["index"])

    def classify(self, source) -> Prediction:
        """Preprocess and classify one image (path, bytes, file, PIL image or array), timing both steps.

        Raises:
            lesion.preprocess.InvalidImageError: the input cannot be used; the message says why.
        """
        start = time.perf_counter()
        image, notes = preprocess(source, self.spec)
        prepared = time.perf_counter()
        probabilities = self.probabilities(image)
        done = time.perf_counter()
        return Prediction(
            dict(zip(CODES, probabilities.tolist())),
            Timings((prepared - start) * 1e3, (done - prepared) * 1e3),
            notes,
        )

    def classify_batch(self, sources: list) -> list[Prediction | InvalidImageError]:
        """Preprocess the images in parallel, then classify every usable one in interpreter calls of BATCH_ROWS.

        An image that cannot be used gets its InvalidImageError in its place, so one bad file costs the others
        nothing. Each prediction's inference time is its share of the interpreter's time.
        """
        with ThreadPoolExecutor(self._threads) as pool:  # Pillow releases the GIL while decoding and resizing
            results = list(pool.map(self._prepare, sources))
        usable = [i for i, result in enumerate(results) if not isinstance(result, InvalidImageError)]
        if usable:
            start = time.perf_counter()
            probabilities = self.probabilities_batch(np.stack([results[i][0] for i in usable]))
            share_ms = (time.perf_counter() - start) * 1e3 / len(usable)
            for i, row in zip(usable, probabilities):
                _, notes, preprocess_ms = results[i]
                results[i] = Prediction(dict(zip(CODES, row.tolist())), Timings(preprocess_ms, share_ms), notes)
        return results

    def _prepare(self, source) -> tuple[np.ndarray, list[str], float] | InvalidImageError:
        """(normalised image, notes, milliseconds taken), or the error that says why the source cannot be used."""
        start = time.perf_counter()
        try:
            image, notes = preprocess(source, self.spec)
        except InvalidImageError as error:
            return error
        return image, notes, (time.perf_counter() - start) * 1e3


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
