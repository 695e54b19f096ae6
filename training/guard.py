"""The dermoscopy guard: how far an image's features lie from HAM10000's, as a Mahalanobis distance.

The features are the pooled outputs of the backbone's last two blocks (GUARD_TAPS), before the head: the head's own
features are tuned to tell the seven classes apart and say little about a cat, while earlier blocks react to any
other camera too (measured on validation, Derm7pt and photos; see the model card). The training images' features
are modelled as Gaussians, one per class, sharing one covariance (Lee et al., NeurIPS 2018): in full within their
leading principal components, and as isotropic noise in the rest, where photos of anything else tend to stray. The
score of an image is its squared distance to the nearest class in that model, divided by the number of features:
about 1 for a typical training image, far more for a cat or a document. It is computed inside the served model,
from the same single inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from lesion.preprocess import InputSpec, normalise

GUARD_FALSE_ALARMS = 0.005
"""Share of validation images (all dermoscopic) the guard may flag: its threshold is their 99.5th percentile score."""
GUARD_DIMENSIONS = 16
"""Principal components modelled in full; more fit HAM10000's cameras so closely that other clinics' images stray."""


def guard_taps(backbone: keras.Model) -> list[str]:
    """The layers whose pooled outputs the guard reads: the last block with a residual connection, and the last block."""
    names = [layer.name for layer in backbone.layers]
    return [[n for n in names if n.endswith("_add")][-1], [n for n in names if n.endswith("_project_bn")][-1]]


def guard_features(backbone: keras.Model, inputs):
    """The guard's features for a backbone applied to `inputs`: its GUARD_TAPS, pooled and concatenated."""
    taps = keras.Model(backbone.input, [backbone.get_layer(name).output for name in guard_taps(backbone)])
    return keras.layers.Concatenate(name="guard_features")(
        [keras.layers.GlobalAveragePooling2D()(tap) for tap in taps(inputs, training=False)])


def features_for_guard(backbone: keras.Model, pixels: np.ndarray, spec: InputSpec, chunk: int = 512) -> np.ndarray:
    """guard_features of uint8 images: what fit_guard's Gaussians are fitted to.

    Images are normalised a chunk at a time: the whole training split as float32 would take gigabytes.
    """
    inputs = keras.Input(backbone.input_shape[1:])
    extractor = keras.Model(inputs, guard_features(backbone, inputs))
    return np.concatenate([extractor.predict(normalise(pixels[start:start + chunk].astype(np.float32), spec), batch_size=64,
                                             verbose=0) for start in range(0, len(pixels), chunk)])


@dataclass(frozen=True)
class GuardStatistics:
    mean: np.ndarray  # (F,) of the training features
    principal: np.ndarray  # (F, D) orthonormal leading components
    whitening: np.ndarray  # (D, D): |(x - mean) @ principal @ whitening - class mean|^2 is the Mahalanobis distance
    class_means: np.ndarray  # (classes present, D), whitened
    residual_variance: float  # per feature, outside the leading components


def guard_threshold(validation_scores, false_alarms: float = GUARD_FALSE_ALARMS) -> float:
    """The guard score above which an image is called not dermoscopic: the (1 - false_alarms) quantile on validation."""
    return float(np.quantile(np.asarray(validation_scores, np.float64), 1.0 - false_alarms))


def fit_guard(features: np.ndarray, labels: np.ndarray, dimensions: int = GUARD_DIMENSIONS) -> GuardStatistics:
    """Fit the model to (N, F) pooled training features and their labels.

    Fewer components are kept when there are too few images to estimate them (smoke runs): at most half the images.
    """
    features = np.asarray(features, np.float64)
    dimensions = max(1, min(dimensions, features.shape[1], len(features) // 2))
    mean = features.mean(axis=0)
    centred = features - mean
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    principal = components[:dimensions].T
    reduced = centred @ principal
    classes = np.unique(labels)
    means = np.stack([reduced[labels == c].mean(axis=0) for c in classes])
    within = reduced - means[np.searchsorted(classes, labels)]
    covariance = within.T @ within / len(within)
    covariance += np.eye(dimensions) * 1e-6 * np.trace(covariance) / dimensions
    whitening = np.linalg.cholesky(np.linalg.inv(covariance))  # inv(cov) = L L^T, so |z L|^2 = z^T inv(cov) z
    residual = centred - reduced @ principal.T
    outside = max(features.shape[1] - dimensions, 1)
    residual_variance = max(float((residual**2).sum(axis=1).mean() / outside), 1e-6 * float(np.trace(covariance)) / dimensions)
    return GuardStatistics(mean.astype(np.float32), principal.astype(np.float32), whitening.astype(np.float32),
                           (means @ whitening).astype(np.float32), residual_variance)


@keras.saving.register_keras_serializable("lesion")
class MahalanobisScore(keras.layers.Layer):
    """(batch, F) pooled features -> (batch, 1): the guard's score (see the module's docstring)."""

    def __init__(self, statistics: GuardStatistics | None = None, features: int = 1280, dimensions: int = GUARD_DIMENSIONS,
                 classes: int = 7, residual_variance: float = 1.0, **kwargs):
        super().__init__(trainable=False, **kwargs)
        if statistics is not None:
            (features, dimensions), classes = statistics.principal.shape, len(statistics.class_means)
            residual_variance = statistics.residual_variance
        self._config = {"features": features, "dimensions": dimensions, "classes": classes, "residual_variance": residual_variance}
        shapes = {"mean": (features,), "principal": (features, dimensions), "whitening": (dimensions, dimensions),
                  "class_means": (classes, dimensions)}
        for name, shape in shapes.items():
            setattr(self, name, self.add_weight(shape=shape, initializer="zeros", trainable=False, name=name))
        if statistics is not None:
            self.set_weights([getattr(statistics, name) for name in shapes])

    def call(self, pooled):
        centred = pooled - self.mean
        reduced = keras.ops.matmul(centred, self.principal)
        whitened = keras.ops.matmul(reduced, self.whitening)
        nearest = keras.ops.min(keras.ops.sum(keras.ops.square(whitened[:, None, :] - self.class_means[None]), axis=-1), axis=-1)
        residual = centred - keras.ops.matmul(reduced, keras.ops.transpose(self.principal))
        outside = keras.ops.sum(keras.ops.square(residual), axis=-1) / self._config["residual_variance"]
        return keras.ops.expand_dims((nearest + outside) / self._config["features"], -1)

    def get_config(self):
        return {**super().get_config(), **self._config}


PHOTOS = ("astronaut", "brick", "camera", "cell", "chelsea", "checkerboard", "clock", "coffee", "coins", "colorwheel",
          "grass", "gravel", "hubble_deep_field", "immunohistochemistry", "logo", "moon", "page", "retina", "rocket", "text")
"""Pictures that ship inside scikit-image: people, animals, objects, textures, documents, microscopy, a retina."""


def non_dermoscopic_photos() -> dict[str, np.ndarray]:
    """Images that are not dermoscopy, from scikit-image and matplotlib, for measuring the guard's detections.

    Each also appears centre-cropped to half its size, as a closer view; grey images are repeated into RGB.
    """
    import matplotlib
    import skimage.data
    from PIL import Image

    images = {name: getattr(skimage.data, name)() for name in PHOTOS}
    sample_data = Path(matplotlib.get_data_path()) / "sample_data"
    for file in ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png"):
        images[file.split(".")[0].lower()] = np.asarray(Image.open(sample_data / file).convert("RGB"))
    photos = {}
    for name, image in images.items():
        image = np.asarray(image)
        image = np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image[..., :3]
        height, width = image.shape[:2]
        photos[name] = np.ascontiguousarray(image.astype(np.uint8))
        photos[f"{name} (close-up)"] = np.ascontiguousarray(photos[name][height // 4: height - height // 4, width // 4: width - width // 4])
    return photos
