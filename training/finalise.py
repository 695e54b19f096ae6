"""Stage 4, finalise: after fitting, before the bundle: the guard, the served model and its test-time views, the
exported variant and its decision rule (training/rule.py), all chosen on the validation split; the decision rule on
validation and, where the run has extra sources, their validation slice (other clinics' images) beside it."""

from __future__ import annotations

import logging

import keras
import numpy as np

from lesion.classifier import VIEWS, calibrated_probabilities
from lesion.preprocess import normalise
from training import data, export, model, rule
from training.config import BACKBONE
from training.data import OUTSIDE, SITE_OUT
from training.scores import compute_metrics
from training.guard import features_for_guard, fit_guard, guard_threshold

log = logging.getLogger(__name__)

CALIBRATION_IMAGES = 300
"""Training images (unaugmented) that set int8's value ranges."""
VIEWS_GAIN = 0.01
GUARD_PROBE_COUNTS = (export.GUARD_PROBES, 4 * export.GUARD_PROBES, 16 * export.GUARD_PROBES)
"""Guard probes in int8's calibration: more only when the guard score's int8 range ends too close to its threshold."""


def finalise(config, classifier: keras.Model, split: dict, pixels: np.ndarray, labels: np.ndarray, rows: dict) -> dict:
    """Fit the guard, export and score every variant, choose one, and fit its decision rule and guard threshold.

    Args:
        config: the run's TrainConfig.
        classifier, split, pixels, labels, rows: what train.train returns.

    Returns:
        The keyword arguments of bundle.write_final_bundle that follow the TrainConfig.
    """
    spec = config.input_spec

    def images_of(name: str) -> np.ndarray:
        return normalise(pixels[rows[name]].astype(np.float32), spec)

    fitting = ["validation"] + [OUTSIDE] * (OUTSIDE in rows)
    evaluated = [*fitting, "test"] + [SITE_OUT] * (SITE_OUT in rows)
    images, references = {name: images_of(name) for name in evaluated}, {name: labels[rows[name]] for name in evaluated}
    guard = fit_guard(features_for_guard(model.backbone_of(classifier), pixels[rows["train"]], spec), labels[rows["train"]])
    served = export.serving_model(classifier, guard)
    views = choose_views(served, images["validation"], references["validation"])
    lesions = normalise(pixels[np.random.default_rng(config.seed).permutation(rows["train"])[:CALIBRATION_IMAGES]].astype(np.float32), spec)

    def bundle_config(quantization: str, **calibrated) -> dict:
        return export.bundle_config(name=f"ham10000-{BACKBONE.replace('_', '-')}", backbone=BACKBONE, spec=spec,
                                    quantization=quantization, views=views, **calibrated)

    scored = {name: images[name] for name in (*fitting, "test")}
    for probes in GUARD_PROBE_COUNTS:
        calibration = np.concatenate([lesions, export.guard_probes(spec, probes)])
        table, outputs = export.score_variants(served, {q: bundle_config(q) for q in config.quantizations},
                                               config.output_dir / "variants", scored, references, calibration, views)
        chosen = export.choose_variant(table)
        validation = outputs[chosen["name"]]["validation"]
        threshold = guard_threshold(validation["guard_score"])
        ceiling = export.guard_ceiling(config.output_dir / "variants" / chosen["name"])
        if ceiling >= export.GUARD_HEADROOM * threshold:
            break
        log.info("guard score ceiling %.2f is too close to the threshold %.2f with %d probes", ceiling, threshold, probes)
    else:
        raise RuntimeError(f"the {chosen['name']} guard score tops out at {ceiling:.2f}, too close to its threshold "
                           f"{threshold:.2f}, even with {probes} guard probes in int8's calibration")
    log.info("guard score: threshold %.2f, int8 ceiling %.2f", threshold, ceiling)
    fitted = rule.fit(np.concatenate([references[name] for name in fitting]),
                      np.concatenate([outputs[chosen["name"]][name]["probabilities"] for name in fitting]))
    log.info("chose %s; guard threshold %.2f; %s", chosen["name"], threshold, fitted)
    test_sites = list(data.read_sites(config.sources, split["test"]).values()) if config.sources else None
    return {"chosen": {**chosen, "table": table, "views": views}, "served": served,
            "calibration": calibration, "images": images, "references": references, "test_sites": test_sites,
            "config": bundle_config(chosen["name"], guard_threshold=threshold, **fitted)}


def choose_views(served: keras.Model, images: np.ndarray, references: np.ndarray) -> list[str]:
    """All test-time views if they gain at least VIEWS_GAIN validation balanced accuracy over one, else one view.

    Each view costs one more inference per request, so it has to pay for itself.
    """
    per_view = {name: served.predict(view(images), batch_size=64, verbose=0)[0] for name, view in VIEWS.items()}
    single = compute_metrics(references, calibrated_probabilities(per_view["identity"]))["balanced_accuracy"]
    averaged = compute_metrics(references, calibrated_probabilities(np.mean(list(per_view.values()), axis=0)))["balanced_accuracy"]
    views = list(VIEWS) if averaged - single >= VIEWS_GAIN else ["identity"]
    log.info("validation balanced accuracy: %.3f with one view, %.3f with %d; serving %s", single, averaged, len(VIEWS), views)
    return views
