"""The melanoma alarm apart from the seven bars (lesion.verdict.melanoma_alarm): its threshold, fitted on validation.

The alarm weighs melanoma against nevus alone, log p(mel) - log p(nv) of the served probabilities, and is raised from
the threshold at which SPECIFICITY of validation's other lesions stay quiet. Training fits it for every new bundle
(training/finalise.py), and so does training/refit.py for a finished one. Only validation chooses anything; the other
sets are reported.
"""

from __future__ import annotations

import numpy as np

from lesion.labels import CODES
from lesion.verdict import TINY
from training.evaluate import compute_metrics

SPECIFICITY = 0.8
"""The share of validation's other lesions the alarm leaves quiet: the operating point the floors name."""
MEL, NV = CODES.index("mel"), CODES.index("nv")


def odds(probabilities: np.ndarray) -> np.ndarray:
    """log p(mel) - log p(nv) per row of (N, 7) probabilities, as lesion.verdict.melanoma_odds computes it for one."""
    return np.log(np.maximum(probabilities[:, MEL], TINY)) - np.log(np.maximum(probabilities[:, NV], TINY))


def fit(references: np.ndarray, probabilities: np.ndarray, specificity: float = SPECIFICITY) -> dict | None:
    """The alarm's rule, as a bundle's config holds it: a threshold under which at least `specificity` of validation's
    other lesions stay, and validation's sensitivity and specificity there; None if validation lacks melanomas or
    other lesions. The threshold lies midway between two validation scores, so that no image sits on it and float
    noise in another path (LiteRT on another host, the browser) cannot flip it."""
    scores, is_mel = odds(probabilities), np.asarray(references) == MEL
    if is_mel.all() or not is_mel.any():
        return None
    others = np.sort(scores[~is_mel])
    quiet = int(np.ceil(specificity * len(others)))
    threshold = float((others[quiet - 1] + others[quiet]) / 2 if quiet < len(others) else np.nextafter(others[-1], np.inf))
    sensitivity, specificity = rates(scores, is_mel, threshold)
    return {"threshold": threshold, "validation_sensitivity": sensitivity, "validation_specificity": specificity,
            "score": "log p(mel) - log p(nv) of the served probabilities; raised from the threshold on"}


def rates(scores: np.ndarray, is_mel: np.ndarray, threshold: float) -> tuple[float | None, float | None]:
    """(sensitivity, specificity) of an alarm raised from `threshold` on; None where a set lacks that side."""
    sensitivity = float(np.mean(scores[is_mel] >= threshold)) if is_mel.any() else None
    specificity = float(np.mean(scores[~is_mel] < threshold)) if (~is_mel).any() else None
    return sensitivity, specificity


def ranking(references: np.ndarray, probabilities: np.ndarray) -> dict:
    """How well melanoma against nevus, odds(probabilities), ranks melanomas (score_ranking)."""
    return score_ranking(references, odds(probabilities))


def score_ranking(references: np.ndarray, scores: np.ndarray) -> dict:
    """How well a melanoma score ranks melanomas: compute_metrics' melanoma AUC and best sensitivity at specificity
    0.8, with the melanoma column holding the scores' ranks scaled into (0, 1) (their order and ties exactly, where a
    logistic squash would round large scores to 1) and nevus the rest. Both are None if a score is missing (NaN)."""
    keys = ("melanoma_auc", "melanoma_sensitivity_at_specificity_80")
    if np.isnan(scores).any():
        return dict.fromkeys(keys)
    ranks = np.unique(scores, return_inverse=True)[1].ravel()
    squashed = np.zeros((len(scores), len(CODES)))
    squashed[:, MEL] = (ranks + 1) / (len(scores) + 1)
    squashed[:, NV] = 1 - squashed[:, MEL]
    metrics = compute_metrics(references, squashed)
    return {key: metrics[key] for key in keys}


def figures(references: np.ndarray, probabilities: np.ndarray, rule: dict) -> dict:
    """The alarm on one set: its sensitivity and specificity at the rule's threshold, and how well its score ranks
    melanomas (AUC, and the best sensitivity any threshold gives at specificity 0.8)."""
    sensitivity, specificity = rates(odds(probabilities), np.asarray(references) == MEL, rule["threshold"])
    ranked = ranking(references, probabilities)
    return {"sensitivity": sensitivity, "specificity": specificity, "auc": ranked["melanoma_auc"],
            "sensitivity_at_specificity_80": ranked["melanoma_sensitivity_at_specificity_80"]}
