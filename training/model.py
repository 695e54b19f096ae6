"""Stage 2, model: an ImageNet-pretrained backbone with a new 7-class head."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras

from lesion.labels import CODES
from lesion.preprocess import InputSpec
from training import efficientnet_lite

# The one place the model's input size is chosen: HAM10000's own 200x150, so nothing is upscaled.
HAM10000_HEIGHT, HAM10000_WIDTH = 150, 200


@dataclass(frozen=True)
class Backbone:
    """How to build one backbone and feed it: its normalisation travels in the bundle's config.json."""

    name: str
    mean: float
    std: float

    def input_spec(self, colour_constancy: str = "none") -> InputSpec:
        return InputSpec(HAM10000_HEIGHT, HAM10000_WIDTH, self.mean, self.std, colour_constancy)


BACKBONES = {
    "efficientnet_lite0": Backbone("efficientnet_lite0", efficientnet_lite.MEAN, efficientnet_lite.STD),
    "efficientnet_lite1": Backbone("efficientnet_lite1", efficientnet_lite.MEAN, efficientnet_lite.STD),
    "efficientnet_lite2": Backbone("efficientnet_lite2", efficientnet_lite.MEAN, efficientnet_lite.STD),
    # keras.applications' MobileNetV2 and InceptionResNetV2 both expect [-1, 1].
    "mobilenet_v2": Backbone("mobilenet_v2", 127.5, 127.5),
    "inception_resnet_v2": Backbone("inception_resnet_v2", 127.5, 127.5),
}


def build_backbone(name: str, spec: InputSpec, weights: str | None = "imagenet") -> keras.Model:
    """A feature extractor without its classifier.

    Args:
        name: a key of BACKBONES.
        weights: "imagenet", None for random initialisation, or the path of a Keras weights file.

    Raises:
        KeyError: unknown backbone.
        FileNotFoundError: ImageNet weights cannot be found or downloaded.
    """
    if name not in BACKBONES:
        raise KeyError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    shape = (spec.height, spec.width, 3)
    if name.startswith("efficientnet_lite"):
        backbone = efficientnet_lite.build(name, shape)
        if weights == "imagenet":
            efficientnet_lite.load_imagenet_weights(backbone, name)
    else:
        application = {"mobilenet_v2": keras.applications.MobileNetV2, "inception_resnet_v2": keras.applications.InceptionResNetV2}[name]
        try:
            backbone = application(include_top=False, weights="imagenet" if weights == "imagenet" else None, input_shape=shape)
        except Exception as error:  # keras raises a bare Exception when the download fails
            raise FileNotFoundError(
                f"cannot download ImageNet weights for {name} ({error}); pass a local weights file or weights=None"
            ) from error
    if weights not in (None, "imagenet"):
        if not Path(weights).is_file():
            raise FileNotFoundError(f"no weights file at {weights}")
        backbone.load_weights(weights)
    return backbone


def build_classifier(backbone: keras.Model, *, dropout: float = 0.3) -> keras.Model:
    """Backbone -> global average pooling -> dropout -> softmax over lesion.labels.CODES."""
    inputs = keras.Input(backbone.input_shape[1:], name="image")
    features = backbone(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(features)
    pooled = keras.layers.Dropout(dropout, name="dropout")(pooled)
    outputs = keras.layers.Dense(len(CODES), activation="softmax", name="diagnosis")(pooled)
    return keras.Model(inputs, outputs, name=f"{backbone.name}_ham10000")


def backbone_of(classifier: keras.Model) -> keras.Model:
    """The backbone inside a classifier made by build_classifier."""
    return next(layer for layer in classifier.layers if isinstance(layer, keras.Model))


def unfreeze_top(backbone: keras.Model, frozen_fraction: float, *, train_batchnorm: bool = False) -> None:
    """Make the backbone trainable except its first `frozen_fraction` of layers.

    BatchNorm layers in the trainable part learn too only with train_batchnorm; frozen ones run in inference mode,
    keeping ImageNet statistics (as in keras.io's fine-tuning guide).
    """
    backbone.trainable = True
    cut = int(len(backbone.layers) * frozen_fraction)
    for index, layer in enumerate(backbone.layers):
        is_batchnorm = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = index >= cut and (train_batchnorm or not is_batchnorm)
