"""The LiteRT classifier: one interpreter per process, guarded by a lock, with the bundle's test-time views.

One inference gives three things (training/export.py makes them): the logits, turned into calibrated probabilities
with the bundle's temperature and class bias; a class activation map per class; and the dermoscopy guard's score.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from lesion.bundle import InvalidBundleError, ModelBundle
from lesion.labels import CODES
from lesion.verdict import MelanomaAlarm, Verdict, judge, melanoma_alarm
from lesion.preprocess import (InvalidImageError, correct_colour, corrupt_file_error, decode, fit_to_input, is_grey,
                               normalise)
from lesion.timing import Timings

# Lesions have no up or down, so the model sees each image as it is and mirrored; the logits are averaged.
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
class Inference:
    """What the model says about one image: CODES-ordered probabilities, (rows, columns, 7) maps, the guard's score."""

    probabilities: np.ndarray
    class_maps: np.ndarray
    guard_score: float


@dataclass(frozen=True)
class Prediction:
    probabilities: dict[str, float]
    timings: Timings
    notes: list[str] = field(default_factory=list)
    guard_score: float = 0.0
    dermoscopic: bool = True
    """False when the guard finds the image unlike any dermoscopic image of a lesion: the probabilities then mean nothing."""
    grey: bool = False
    """True for an image without colour (lesion.preprocess.is_grey): the headline then never sounds sure."""
    class_maps: np.ndarray | None = None
    """(rows, columns, 7): each cell's contribution to each class's logit."""
    pixels: np.ndarray | None = None
    """The uint8 image the model saw (cropped and resized, before colour correction), for the heatmap overlay."""
    melanoma_alarm: MelanomaAlarm | None = None
    """None when the bundle has no alarm, or the image is not dermoscopic."""

    @property
    def top(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)

    @property
    def verdict(self) -> Verdict:
        """What the page's headline and the API may claim (lesion.verdict.judge)."""
        return judge(self.probabilities, dermoscopic=self.dermoscopic, grey=self.grey)

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
        self.temperature = float(bundle.config.get("temperature", 1.0))
        if not self.temperature > 0:
            raise InvalidBundleError(f"{bundle.directory}: temperature must be positive, not {self.temperature}")
        self.guard_threshold = bundle.config.get("guard", {}).get("threshold")
        self.melanoma_alarm = _alarm_rule(bundle)
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
        self._outputs = _identify_outputs(self._interpreter.get_output_details(), bundle)

    def infer(self, image: np.ndarray) -> Inference:
        """Probabilities, class maps and guard score for one normalised (height, width, 3) image.

        Logits are averaged over the test-time views; the maps and the score come from the first view, the image as it is.
        """
        return self.infer_batch(image[None])[0]

    def infer_batch(self, images: np.ndarray) -> list[Inference]:
        """infer for n normalised images, in interpreter calls of at most BATCH_ROWS rows (views included)."""
        batch = _quantize(np.concatenate([view(images) for view in self.views]).astype(np.float32), self._input)  # view-major
        chunks = [self._invoke(batch[start:start + BATCH_ROWS]) for start in range(0, len(batch), BATCH_ROWS)]
        logits, maps, scores = (np.concatenate([chunk[k] for chunk in chunks]) for k in range(3))
        logits = logits.astype(np.float64).reshape(len(self.views), len(images), -1).mean(axis=0)
        probabilities = calibrated_probabilities(logits, self.temperature, self.class_bias)
        return [Inference(probabilities[i], maps[i], float(scores[i, 0])) for i in range(len(images))]

    def _invoke(self, batch: np.ndarray) -> list[np.ndarray]:
        """The dequantized (logits, class maps, guard score) of one input batch, reshaping the input when its size changed."""
        with self._lock:
            if len(batch) != self._rows:
                self._interpreter.resize_tensor_input(self._input["index"], list(batch.shape))
                self._interpreter.allocate_tensors()
                self._rows = len(batch)
            self._interpreter.set_tensor(self._input["index"], batch)
            self._interpreter.invoke()
            return [_dequantize(self._interpreter.get_tensor(d["index"]), d) for d in self._outputs]

    def is_dermoscopic(self, guard_score: float) -> bool:
        """True unless the bundle has a guard threshold and the score is above it."""
        return self.guard_threshold is None or guard_score <= self.guard_threshold

    def classify(self, source) -> Prediction:
        """Decode, preprocess and classify one image (path, bytes, file, PIL image or array), timing each step.

        Raises:
            lesion.preprocess.InvalidImageError: the input cannot be used; the message says why.
        """
        prepared = self._prepare(source)
        if isinstance(prepared, InvalidImageError):
            raise prepared
        start = time.perf_counter()
        inference = self.infer(prepared.model_input)
        return self._prediction(prepared, inference, (time.perf_counter() - start) * 1e3)

    def classify_batch(self, sources: list) -> list[Prediction | InvalidImageError]:
        """Prepare the images in parallel, then classify every usable one in interpreter calls of BATCH_ROWS.

        An image that cannot be used gets its InvalidImageError in its place, so one bad file costs the others
        nothing. Each prediction's inference time is its share of the interpreter's time.
        """
        with ThreadPoolExecutor(self._threads) as pool:  # Pillow releases the GIL while decoding and resizing
            results = list(pool.map(self._prepare, sources))
        usable = [i for i, result in enumerate(results) if not isinstance(result, InvalidImageError)]
        if usable:
            start = time.perf_counter()
            inferences = self.infer_batch(np.stack([results[i].model_input for i in usable]))
            share_ms = (time.perf_counter() - start) * 1e3 / len(usable)
            for i, inference in zip(usable, inferences):
                results[i] = self._prediction(results[i], inference, share_ms)
        return results

    def _prepare(self, source) -> _Prepared | InvalidImageError:
        """The image decoded and prepared for the model, timed, or the error that says why it cannot be used.

        Whatever a decoder raises becomes a refusal: a file must never fail anything but itself."""
        start = time.perf_counter()
        try:
            image, notes = decode(source, self.spec)
        except InvalidImageError as error:
            return error
        except MemoryError:
            raise
        except Exception as error:  # noqa: BLE001 - a decoder's own exception (Pillow's plugins raise many kinds)
            return corrupt_file_error(error)
        decoded = time.perf_counter()
        pixels = fit_to_input(image, self.spec)
        corrected = correct_colour(pixels, self.spec)
        model_input = normalise(corrected.astype(np.float32), self.spec)
        return _Prepared(pixels, model_input, is_grey(corrected), notes, (decoded - start) * 1e3,
                         (time.perf_counter() - decoded) * 1e3)

    def _prediction(self, prepared: _Prepared, inference: Inference, inference_ms: float) -> Prediction:
        probabilities = dict(zip(CODES, inference.probabilities.tolist()))
        dermoscopic = self.is_dermoscopic(inference.guard_score)
        return Prediction(
            probabilities,
            Timings(prepared.decode_ms, prepared.preprocess_ms, inference_ms),
            prepared.notes,
            guard_score=inference.guard_score,
            dermoscopic=dermoscopic,
            grey=prepared.grey,
            class_maps=inference.class_maps,
            pixels=prepared.pixels,
            melanoma_alarm=melanoma_alarm(probabilities, self.melanoma_alarm, dermoscopic=dermoscopic),
        )


@dataclass(frozen=True)
class _Prepared:
    pixels: np.ndarray
    model_input: np.ndarray
    grey: bool
    notes: list[str]
    decode_ms: float
    preprocess_ms: float


def calibrated_probabilities(logits: np.ndarray, temperature: float = 1.0, class_bias=0.0) -> np.ndarray:
    """The bundle's decision rule: softmax(logits / temperature + class_bias) over the last axis."""
    shifted = np.asarray(logits, np.float64) / temperature + np.asarray(class_bias)
    shifted = np.exp(shifted - shifted.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _alarm_rule(bundle: ModelBundle) -> dict | None:
    """The bundle's melanoma alarm rule, checked, or None when it has none."""
    rule = bundle.config.get("melanoma_alarm")
    if rule is None:
        return None
    try:
        valid = np.isfinite(float(rule["threshold"])) and all(
            0 <= float(rule[key]) <= 1 for key in ("validation_sensitivity", "validation_specificity"))
    except (KeyError, TypeError, ValueError):
        valid = False
    if not valid:
        raise InvalidBundleError(f"{bundle.directory}: melanoma_alarm needs a finite threshold and validation_sensitivity "
                                 f"and validation_specificity in [0, 1], not {rule!r}")
    return rule


def _identify_outputs(details: list[dict], bundle: ModelBundle) -> list[dict]:
    """The (logits, class maps, guard score) output details, told apart by shape: (N, 7), (N, rows, columns, 7), (N, 1).

    Raises:
        InvalidBundleError: the model does not have these three outputs.
    """
    classes = len(CODES)
    logits = [d for d in details if len(d["shape"]) == 2 and d["shape"][-1] == classes]
    maps = [d for d in details if len(d["shape"]) == 4 and d["shape"][-1] == classes]
    scores = [d for d in details if len(d["shape"]) == 2 and d["shape"][-1] == 1]
    if not (len(details) == 3 and len(logits) == len(maps) == len(scores) == 1):
        found = [tuple(int(n) for n in d["shape"]) for d in details]
        raise InvalidBundleError(f"{bundle.model_path} must output logits (N, {classes}), class maps (N, rows, columns, "
                                 f"{classes}) and a guard score (N, 1); it outputs {found}. Export it with training.export.")
    return [logits[0], maps[0], scores[0]]


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
