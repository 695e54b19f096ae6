"""The melanoma alarm apart from the seven bars (lesion.verdict.melanoma_alarm): its threshold, fitted on validation.

The alarm weighs melanoma against nevus alone, log p(mel) - log p(nv) of the served probabilities, and is raised from
the threshold at which SPECIFICITY of validation's other lesions stay quiet. Training fits it for every new bundle
(training/finalise.py); for a bundle made before the alarm existed, such as the app's own,

    python -m training.melanoma_alarm lesion/bundled_model --data ../shared/data/ham10000 \\
        --external ../shared/data/derm7pt

fits it on the bundle's validation split (its split.json) through the app's own classifier, writes it into the
bundle's config.json and its browser variant's, and adds its figures on every set to eval_results.json and the model
card. Only validation chooses anything; the other sets are reported.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path

import numpy as np

from lesion.bundle import CONFIG_FILE, load_bundle
from lesion.classifier import Classifier
from lesion.labels import CODES
from lesion.private_mode import BROWSER_DIR
from lesion.verdict import TINY
from training import atomic
from training.card import alarm_section
from training.evaluate import compute_metrics, load_image_folder, load_split, predict_all

log = logging.getLogger(__name__)

SPECIFICITY = 0.8
"""The share of validation's other lesions the alarm leaves quiet: the operating point the floors name."""
MEL, NV = CODES.index("mel"), CODES.index("nv")


def odds(probabilities: np.ndarray) -> np.ndarray:
    """log p(mel) - log p(nv) per row of (N, 7) probabilities, as lesion.verdict.melanoma_odds computes it for one."""
    return np.log(np.maximum(probabilities[:, MEL], TINY)) - np.log(np.maximum(probabilities[:, NV], TINY))


def fit(references: np.ndarray, probabilities: np.ndarray, specificity: float = SPECIFICITY) -> dict | None:
    """The alarm's rule, as a bundle's config holds it: the threshold at which `specificity` of validation's other
    lesions stay under it, and validation's sensitivity and specificity there; None if validation lacks melanomas
    or other lesions."""
    scores, is_mel = odds(probabilities), np.asarray(references) == MEL
    if is_mel.all() or not is_mel.any():
        return None
    threshold = float(np.quantile(scores[~is_mel], specificity))
    sensitivity, specificity = rates(scores, is_mel, threshold)
    return {"threshold": threshold, "validation_sensitivity": sensitivity, "validation_specificity": specificity,
            "score": "log p(mel) - log p(nv) of the served probabilities; raised from the threshold on"}


def rates(scores: np.ndarray, is_mel: np.ndarray, threshold: float) -> tuple[float | None, float | None]:
    """(sensitivity, specificity) of an alarm raised from `threshold` on; None where a set lacks that side."""
    sensitivity = float(np.mean(scores[is_mel] >= threshold)) if is_mel.any() else None
    specificity = float(np.mean(scores[~is_mel] < threshold)) if (~is_mel).any() else None
    return sensitivity, specificity


def ranking(references: np.ndarray, probabilities: np.ndarray) -> dict:
    """How well melanoma against nevus ranks melanomas: compute_metrics' melanoma AUC and best sensitivity at
    specificity 0.8, with the melanoma column holding the odds' ranks scaled into (0, 1) (their order and ties
    exactly, where a logistic squash would round large odds to 1) and nevus the rest."""
    ranks = np.unique(odds(probabilities), return_inverse=True)[1].ravel()
    squashed = np.zeros(probabilities.shape)
    squashed[:, MEL] = (ranks + 1) / (len(probabilities) + 1)
    squashed[:, NV] = 1 - squashed[:, MEL]
    metrics = compute_metrics(references, squashed)
    return {key: metrics[key] for key in ("melanoma_auc", "melanoma_sensitivity_at_specificity_80")}


def figures(references: np.ndarray, probabilities: np.ndarray, rule: dict) -> dict:
    """The alarm on one set: its sensitivity and specificity at the rule's threshold, and how well its score ranks
    melanomas (AUC, and the best sensitivity any threshold gives at specificity 0.8)."""
    sensitivity, specificity = rates(odds(probabilities), np.asarray(references) == MEL, rule["threshold"])
    ranked = ranking(references, probabilities)
    return {"sensitivity": sensitivity, "specificity": specificity, "auc": ranked["melanoma_auc"],
            "sensitivity_at_specificity_80": ranked["melanoma_sensitivity_at_specificity_80"]}


def add_to_bundle(bundle_dir: Path, data: str, externals: list[Path]) -> dict:
    """Fit the alarm on the bundle's validation split and write it, with its figures, into the bundle."""
    classifier = Classifier(load_bundle(bundle_dir))
    split_file = bundle_dir / "split.json"
    split = json.loads(split_file.read_text())
    sets = {name: load_split(data, name, split_file) for name in ("validation", "test", "site_out") if split.get(name)}
    sets.update({folder.name: load_image_folder(folder) for folder in externals})
    served = {}
    for name, (sources, labels) in sets.items():
        log.info("%s: %d images", name, len(labels))
        served[name] = (labels, predict_all(classifier, sources)[0])
    rule = fit(*served["validation"])
    if rule is None:
        raise ValueError(f"{bundle_dir}'s validation split needs melanomas and other lesions to fit the alarm on")
    for config_file in (bundle_dir / CONFIG_FILE, bundle_dir / BROWSER_DIR / CONFIG_FILE):
        config = json.loads(config_file.read_text())
        atomic.write_text(config_file, json.dumps({**config, "melanoma_alarm": rule}, indent=1) + "\n")
    results_file = bundle_dir / "eval_results.json"
    results = json.loads(results_file.read_text())
    for name, (labels, probabilities) in served.items():
        scored = figures(labels, probabilities, rule)
        target = results["external"][name] if name in results.get("external", {}) else results[name]
        target["melanoma_alarm"] = scored
        log.info("%s: alarm sensitivity %s, specificity %s, AUC %s", name, scored["sensitivity"], scored["specificity"], scored["auc"])
    atomic.write_text(results_file, json.dumps(results, indent=1))
    card_file = bundle_dir / "README.md"
    atomic.write_text(card_file, with_alarm_section(card_file.read_text(), alarm_section(rule, results)))
    return rule


def with_alarm_section(card: str, section: str) -> str:
    """The card with its melanoma alarm section replaced by `section`, or added before its calibration section."""
    existing = re.compile(r"## Melanoma alarm\n.*?(?=^## )", re.S | re.M)
    if existing.search(card):
        return existing.sub(lambda _: section, card, count=1)
    return card.replace("## Calibrated probabilities\n", section + "## Calibrated probabilities\n", 1)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path, help="A bundle folder with split.json and eval_results.json.")
    parser.add_argument("--data", required=True, help="The HAM10000 source the bundle's split refers to.")
    parser.add_argument("--external", type=Path, action="append", default=[], help="A labelled folder (repeatable).")
    args = parser.parse_args(argv)
    rule = add_to_bundle(args.bundle, args.data, args.external)
    print(json.dumps(rule, indent=1))
    return rule


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    main()
