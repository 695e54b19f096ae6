"""How well ImageNet's frozen features serve at each input scale: a screen for --upsample that fits no network.

    python -m training.scale_probe --dataset ../shared/data/ham10000 --split runs/candidates/U-up15-cw0/split.json \\
        --external ../shared/data/derm7pt --scale 1 1.25 1.5

The frozen EfficientNet-Lite0 (its ImageNet weights, as fine-tuning starts) sees every image of a run's split
enlarged by each factor inside the network, as --upsample does; a class-balanced logistic regression on its pooled
features is fitted on the training images and scored on validation, the held-out site and each external folder:
balanced accuracy, and the melanoma alarm's ranking (log p(mel) - log p(nv)). Frozen features reach far less than a
fine-tuned network, so only the differences between scales mean anything.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lesion.labels import CODES
from training import data, model
from training.evaluate import compute_metrics, folder_images
from training.melanoma_alarm import ranking
from training.refit import split_images
from training.train import TrainConfig

PROBE_C = 0.1
"""Inverse L2 strength of the probe: 1,280 features, a few thousand images."""


def pooled_features(scale: float, spec, images: np.ndarray) -> np.ndarray:
    """The frozen ImageNet backbone's pooled features of normalised images, enlarged `scale` times inside the network."""
    import keras

    backbone = model.build_backbone("efficientnet_lite0", spec, "imagenet", upsample=scale)
    extractor = keras.Sequential([backbone, keras.layers.GlobalAveragePooling2D()])
    return extractor.predict(images, batch_size=64, verbose=0)


def class_probabilities(fitted, features: np.ndarray) -> np.ndarray:
    """A fitted classifier's probabilities as (N, 7) over CODES, 0 for classes its training images lacked."""
    probabilities = np.zeros((len(features), len(CODES)))
    probabilities[:, fitted.classes_] = fitted.predict_proba(features)
    return probabilities


def probe(scale: float, spec, train: tuple, evaluated: dict[str, tuple]) -> dict[str, dict]:
    """Fit the probe on train's (images, labels) and score it on each evaluated set."""
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression(C=PROBE_C, max_iter=3000, class_weight="balanced")
    fitted.fit(pooled_features(scale, spec, train[0]), train[1])
    scores = {}
    for name, (images, references) in evaluated.items():
        probabilities = class_probabilities(fitted, pooled_features(scale, spec, images))
        metrics = compute_metrics(references, probabilities)
        scores[name] = {"balanced_accuracy": metrics["balanced_accuracy"], **ranking(references, probabilities)}
    return scores


def main(argv=None) -> dict[float, dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="HAM10000 for datasets.load_dataset.")
    parser.add_argument("--split", type=Path, required=True, help="A run's split.json (train, validation, site_out).")
    parser.add_argument("--external", type=Path, action="append", default=[], help="A labelled folder; repeatable.")
    parser.add_argument("--scale", type=float, nargs="+", default=[1.0, 1.25, 1.5])
    parser.add_argument("--cache-dir", type=Path, default=TrainConfig.__dataclass_fields__["cache_dir"].default,
                        help="Training's decoded-image cache.")
    args = parser.parse_args(argv)
    spec = model.BACKBONES["efficientnet_lite0"].input_spec("shades_of_gray")
    images, labels = split_images(json.loads(args.split.read_text()), args.dataset, spec, args.cache_dir,
                                  sides=("train", "validation", data.SITE_OUT))
    train = images.pop("train"), labels.pop("train")
    evaluated = {side: (images[side], labels[side]) for side in images}
    for folder in args.external:
        evaluated[folder.name] = folder_images(folder, spec)
    results = {}
    for scale in args.scale:
        results[scale] = probe(scale, spec, train, evaluated)
        print(f"scale {scale}: " + " | ".join(
            f"{name} BA {s['balanced_accuracy']:.3f}, melanoma against nevus AUC {s['melanoma_auc']:.3f}"
            for name, s in results[scale].items()), flush=True)
    return results


if __name__ == "__main__":
    main()
