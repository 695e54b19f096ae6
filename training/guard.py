"""The dermoscopy guard: how far an image's features lie from HAM10000's, as a Mahalanobis distance.

Class-conditional Gaussians with one shared covariance (Lee et al., NeurIPS 2018) are fitted to the pooled features
of the training images, in the space of their leading principal components, whitened. The score of an image is its
squared distance to the nearest class mean there, divided by the dimension: about 1 for a typical training image,
far more for a cat or a document. It is computed inside the served model, from the same single inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from sklearn.covariance import LedoitWolf

GUARD_DIMENSIONS = 256
"""Principal components kept: most of the features' variance, and a projection of 1280 x 256 weights (0.3 MB in int8)."""


@dataclass(frozen=True)
class GuardStatistics:
    """The whitening projection u = features @ projection + offset, and each class's mean in u."""

    projection: np.ndarray  # (features, dimensions)
    offset: np.ndarray  # (dimensions,)
    class_means: np.ndarray  # (classes present, dimensions)


def fit_guard(features: np.ndarray, labels: np.ndarray, dimensions: int = GUARD_DIMENSIONS) -> GuardStatistics:
    """Fit the shared-covariance Gaussians to (N, F) pooled training features and their labels.

    Fewer dimensions are kept when there are too few images to estimate them (smoke runs): at most half the images.
    """
    features = np.asarray(features, np.float64)
    dimensions = max(1, min(dimensions, features.shape[1], len(features) // 2))
    mean = features.mean(axis=0)
    _, _, components = np.linalg.svd(features - mean, full_matrices=False)
    principal = components[:dimensions].T  # (F, D), orthonormal columns
    reduced = (features - mean) @ principal
    classes = np.unique(labels)
    means = np.stack([reduced[labels == c].mean(axis=0) for c in classes])
    within = reduced - means[np.searchsorted(classes, labels)]
    covariance = LedoitWolf(assume_centered=True).fit(within).covariance_
    whitening = np.linalg.cholesky(np.linalg.inv(covariance))  # inv(cov) = L L^T, so |z L|^2 = z^T inv(cov) z
    projection = principal @ whitening
    return GuardStatistics(projection.astype(np.float32), (-mean @ projection).astype(np.float32),
                           (means @ whitening).astype(np.float32))


@keras.saving.register_keras_serializable("lesion")
class MahalanobisScore(keras.layers.Layer):
    """(batch, F) pooled features -> (batch, 1): squared distance to the nearest class mean, over the dimension."""

    def __init__(self, statistics: GuardStatistics | None = None, features: int = 1280, dimensions: int = GUARD_DIMENSIONS,
                 classes: int = 7, **kwargs):
        super().__init__(trainable=False, **kwargs)
        if statistics is not None:
            (features, dimensions), classes = statistics.projection.shape, len(statistics.class_means)
        self.projection = self.add_weight(shape=(features, dimensions), initializer="zeros", trainable=False, name="projection")
        self.offset = self.add_weight(shape=(dimensions,), initializer="zeros", trainable=False, name="offset")
        self.class_means = self.add_weight(shape=(classes, dimensions), initializer="zeros", trainable=False, name="class_means")
        if statistics is not None:
            self.set_weights([statistics.projection, statistics.offset, statistics.class_means])
        self._config = {"features": features, "dimensions": dimensions, "classes": classes}

    def call(self, pooled):
        whitened = keras.ops.matmul(pooled, self.projection) + self.offset
        squared = keras.ops.sum(keras.ops.square(whitened[:, None, :] - self.class_means[None]), axis=-1)
        return keras.ops.min(squared, axis=-1, keepdims=True) / self._config["dimensions"]

    def get_config(self):
        return {**super().get_config(), **self._config}


def numpy_score(statistics: GuardStatistics, pooled: np.ndarray) -> np.ndarray:
    """The same score in NumPy, for fitting the threshold before export and for tests."""
    whitened = pooled @ statistics.projection + statistics.offset
    squared = ((whitened[:, None, :] - statistics.class_means[None]) ** 2).sum(axis=-1)
    return squared.min(axis=-1) / statistics.projection.shape[1]


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
