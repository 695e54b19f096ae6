"""Would a new last layer on a finished run's features rank melanomas better than its own head? A screen that fits
no network.

    python -m training.head_probe runs/candidates/Y-M-cw0 --dataset ../shared/data/ham10000 \\
        --sources ../shared/data/ham10000/sources.csv --external ../shared/data/derm7pt

The run's fine-tuned network gives the pooled features of its split's images (as they are, not augmented) and of each
external folder. Logistic regressions on those features give melanoma scores, each ranked as the alarm ranks
(training/melanoma_alarm.py) beside the run's own alarm, log p(mel) - log p(nv) of its network:
- melanoma against the rest, fitted on the training images: a melanoma output beside the seven classes;
- melanoma against nevus, fitted on the training images of those two classes;
- the seven classes fitted on the training images weighted to balance every (site, class) group, deep feature
  reweighting's idea (Kirichenko et al., ICLR 2023), with --sources;
- the seven classes, and melanoma against nevus, fitted on validation; validation's own figures are cross-fitted
  (each half scored by the fit on the other).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from training import data, rule_sweep
from training.checkpoints import FINE_TUNING, final_weights
from training.evaluate import folder_images
from training.melanoma_alarm import MEL, NV, odds, score_ranking
from training.refit import split_images
from training.scale_probe import PROBE_C, class_probabilities
from training.train import TrainConfig, build_network

OWN = "the run's own alarm"


def features_and_probabilities(run: Path, config: TrainConfig, images: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(pooled features, the network's probabilities) of each set of normalised images, by the run's fine-tuned network
    (config: the run's training configuration)."""
    import keras

    classifier = build_network(config, None)[1]
    classifier.load_weights(final_weights(run, FINE_TUNING))
    extractor = keras.Model(classifier.input, [classifier.get_layer("pool").output, classifier.output])
    return {name: tuple(extractor.predict(pixels, batch_size=64, verbose=0)) for name, pixels in images.items()}


def _fit(features: np.ndarray, labels: np.ndarray, target: str, weights: np.ndarray | None = None):
    """A logistic regression for `target` ("rest": melanoma against the rest, "nv": against nevus alone, "all": the
    seven classes); class-balanced unless weights are given; None if its images hold fewer than two of its classes."""
    from sklearn.linear_model import LogisticRegression

    if target == "nv":
        kept = np.isin(labels, [MEL, NV])
        features, labels, weights = features[kept], labels[kept], None if weights is None else weights[kept]
    classes = labels == MEL if target in ("rest", "nv") else labels
    if len(np.unique(classes)) < 2:
        return None
    regression = LogisticRegression(C=PROBE_C, max_iter=3000, class_weight="balanced" if weights is None else None)
    return regression.fit(features, classes, sample_weight=weights)


def _melanoma_score(regression, features: np.ndarray) -> np.ndarray:
    """A fitted regression's melanoma score: its logit, or for the seven classes log p(mel) - log p(nv)."""
    if regression is None:
        return np.full(len(features), np.nan)
    if len(regression.classes_) == 2 and regression.classes_.dtype == bool:
        return regression.decision_function(features)
    return odds(class_probabilities(regression, features))


def _cross_fitted(features: np.ndarray, labels: np.ndarray, target: str, folds: int = 2) -> np.ndarray:
    """Each fold's melanoma scores from the regression fitted on the other folds (stratified by class); NaN where no
    class has an image for every fold."""
    from sklearn.model_selection import StratifiedKFold

    scores = np.full(len(labels), np.nan)
    if np.bincount(labels).max() < folds:
        return scores
    for fitted, scored in StratifiedKFold(folds, shuffle=True, random_state=0).split(features, labels):
        scores[scored] = _melanoma_score(_fit(features[fitted], labels[fitted], target), features[scored])
    return scores


def site_class_weights(labels: np.ndarray, sites: np.ndarray) -> np.ndarray:
    """Weights under which every (site, class) group present weighs the same in total; they average 1."""
    groups = np.unique(np.stack([sites.astype(str), labels.astype(str)], axis=1), axis=0, return_inverse=True)[1].ravel()
    counts = np.bincount(groups)
    return len(groups) / (len(counts) * counts[groups])


def melanoma_scores(sets: dict[str, tuple], labels: dict[str, np.ndarray], train_sites: np.ndarray | None) -> dict[str, dict]:
    """Each probe's melanoma scores on every set but train; sets maps names (train and validation among them) to
    (features, probabilities)."""
    standardise = sets["train"][0].mean(axis=0), sets["train"][0].std(axis=0) + 1e-6
    features = {name: (pair[0] - standardise[0]) / standardise[1] for name, pair in sets.items()}
    scored = [name for name in sets if name != "train"]
    scores = {OWN: {name: odds(sets[name][1]) for name in scored}}
    on_train = {"melanoma against the rest, fitted on training": ("rest", None),
                "melanoma against nevus, fitted on training": ("nv", None)}
    if train_sites is not None:
        on_train["seven classes balanced by site and class, fitted on training"] = (
            "all", site_class_weights(labels["train"], train_sites))
    for probe, (target, weights) in on_train.items():
        regression = _fit(features["train"], labels["train"], target, weights)
        scores[probe] = {name: _melanoma_score(regression, features[name]) for name in scored}
    for probe, target in {"seven classes, fitted on validation": "all",
                          "melanoma against nevus, fitted on validation": "nv"}.items():
        regression = _fit(features["validation"], labels["validation"], target)
        scores[probe] = {name: _cross_fitted(features[name], labels[name], target) if name == "validation"
                         else _melanoma_score(regression, features[name]) for name in scored}
    return scores


def main(argv=None) -> dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="A finished run: its split.json, fine-tuned weights and bundle.")
    parser.add_argument("--dataset", required=True, help="HAM10000 for datasets.load_dataset.")
    parser.add_argument("--sources", type=Path, help="HAM10000's sources.csv, for the probe balanced by site and class.")
    parser.add_argument("--external", type=Path, action="append", default=[], help="A labelled folder; repeatable.")
    parser.add_argument("--cache-dir", type=Path, default=TrainConfig.__dataclass_fields__["cache_dir"].default,
                        help="Training's decoded-image cache.")
    args = parser.parse_args(argv)
    for needed in (args.run / "split.json", final_weights(args.run, FINE_TUNING)):
        if not needed.is_file():
            parser.error(f"{args.run} is not a finished run: it has no {needed.relative_to(args.run)}")
    config = rule_sweep.run_config(args.run)
    split = json.loads((args.run / "split.json").read_text())
    images, labels = split_images(split, args.dataset, config.input_spec, args.cache_dir,
                                  sides=("train", "validation", data.SITE_OUT))
    for folder in args.external:
        images[folder.name], labels[folder.name] = folder_images(folder, config.input_spec)
    sites = np.array(list(data.read_sites(args.sources, split["train"]).values())) if args.sources else None
    scores = melanoma_scores(features_and_probabilities(args.run, config, images), labels, sites)
    results = {probe: {name: score_ranking(labels[name], values) for name, values in by_set.items()}
               for probe, by_set in scores.items()}
    for probe, by_set in results.items():
        print(f"{probe}: " + " | ".join(f"{name} melanoma AUC {_shown(r['melanoma_auc'])}, best sensitivity at "
                                        f"specificity 0.8 {_shown(r['melanoma_sensitivity_at_specificity_80'])}"
                                        for name, r in by_set.items()), flush=True)
    return results


def _shown(value) -> str:
    return "-" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
