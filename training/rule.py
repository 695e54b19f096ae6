"""The decision rule the bundle serves on top of the network, fitted on the validation split alone and applied as the
app applies it (lesion.classifier.calibrated_probabilities, lesion.verdict.melanoma_alarm):

1. a class shift: a per-class shift of the log-probabilities, the one that maximises validation balanced accuracy.
   Training weights classes to soften the imbalance; this shift then moves each class's share of predictions;
2. a temperature: fitted on the shifted log-probabilities, so that the served softmax(logits / T + shift / T) is
   softmax((logits + shift) / T), the shift's decisions, calibrated;
3. the melanoma alarm, apart from the seven bars: log p(mel) - log p(nv) of the served probabilities, raised from the
   threshold at which SPECIFICITY of validation's other lesions stay quiet.

Training fits it for every new bundle (training/finalise.py), and training/refit.py refits it for a finished one.
"""

from __future__ import annotations

import numpy as np

from lesion.classifier import calibrated_probabilities
from lesion.labels import CODES
from lesion.verdict import TINY
from training.scores import compute_metrics

SHIFTS = np.round(np.linspace(-2.0, 2.0, 41), 2)
"""The class shifts the search tries, per class."""
ROUNDS = 3
"""Passes of the coordinate search over the classes."""
TEMPERATURES = np.round(np.arange(0.5, 4.001, 0.05), 2)
SPECIFICITY = 0.8
"""The share of validation's other lesions the melanoma alarm leaves quiet."""
MEL, NV = CODES.index("mel"), CODES.index("nv")


def fit(references: np.ndarray, probabilities: np.ndarray) -> dict:
    """The rule as a bundle's config holds it, fitted on the network's own validation probabilities (temperature 1,
    no shift): {"class_bias": shift / T, "temperature": T, "melanoma_alarm": fit_alarm's rule or None}."""
    shift = np.array(fit_class_shift(references, probabilities))
    temperature = fit_temperature(references, np.log(probabilities + 1e-12) + shift)
    class_bias = [float(b) for b in shift / temperature]
    rule = {"class_bias": class_bias, "temperature": temperature}
    return {**rule, "melanoma_alarm": fit_alarm(references, apply(probabilities, rule))}


def apply(probabilities: np.ndarray, rule: dict) -> np.ndarray:
    """The served probabilities: the network's own (temperature 1, no shift) under the rule's shift and temperature."""
    return calibrated_probabilities(np.log(probabilities + 1e-12), rule["temperature"], rule["class_bias"])


def _balanced_accuracy(references, probabilities, shift) -> float:
    predictions = (np.log(probabilities + 1e-12) + shift).argmax(axis=1)
    return float(np.mean([(predictions[references == c] == c).mean() for c in np.unique(references)]))


def _coordinate_search(references, probabilities, start: np.ndarray) -> tuple[float, np.ndarray]:
    shift = start.copy()
    best = _balanced_accuracy(references, probabilities, shift)
    for _ in range(ROUNDS):
        for c in range(len(shift)):
            for value in sorted(SHIFTS, key=abs):
                trial = shift.copy()
                trial[c] = value
                score = _balanced_accuracy(references, probabilities, trial)
                if score > best + 1e-9:
                    best, shift = score, trial
    return best, shift


def fit_class_shift(references, probabilities) -> list[float]:
    """Coordinate search for the log-shift per class that maximises validation balanced accuracy.

    The search runs from no shift, then once more from where it ended, and keeps the better end; no shift stays where
    nothing beats it, and ties prefer smaller shifts.
    """
    references = np.asarray(references)
    first = _coordinate_search(references, probabilities, np.zeros(probabilities.shape[1]))
    second = _coordinate_search(references, probabilities, first[1])
    best, shift = max([first, second], key=lambda end: end[0])
    return [float(s) for s in shift]


def fit_temperature(references, logits) -> float:
    """The temperature T that minimises the negative log-likelihood of softmax(logits / T) on validation.

    Dividing all logits by one number never changes the top class: only how sure the probabilities sound.
    `logits` may be log-probabilities: a per-image constant does not change the softmax.
    """
    references, logits = np.asarray(references), np.asarray(logits, np.float64)
    rows = np.arange(len(references))

    def nll(temperature: float) -> float:
        return float(-np.log(calibrated_probabilities(logits, temperature)[rows, references] + 1e-12).mean())

    return float(min(TEMPERATURES, key=nll))


def odds(probabilities: np.ndarray) -> np.ndarray:
    """log p(mel) - log p(nv) per row of (N, 7) probabilities, as lesion.verdict.melanoma_odds computes it for one."""
    return np.log(np.maximum(probabilities[:, MEL], TINY)) - np.log(np.maximum(probabilities[:, NV], TINY))


def fit_alarm(references: np.ndarray, probabilities: np.ndarray, specificity: float = SPECIFICITY) -> dict | None:
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
    sensitivity, specificity = alarm_rates(scores, is_mel, threshold)
    return {"threshold": threshold, "validation_sensitivity": sensitivity, "validation_specificity": specificity,
            "score": "log p(mel) - log p(nv) of the served probabilities; raised from the threshold on"}


def alarm_rates(scores: np.ndarray, is_mel: np.ndarray, threshold: float) -> tuple[float | None, float | None]:
    """(sensitivity, specificity) of an alarm raised from `threshold` on; None where a set lacks that side."""
    sensitivity = float(np.mean(scores[is_mel] >= threshold)) if is_mel.any() else None
    specificity = float(np.mean(scores[~is_mel] < threshold)) if (~is_mel).any() else None
    return sensitivity, specificity


def alarm_ranking(references: np.ndarray, probabilities: np.ndarray) -> dict:
    """How well odds(probabilities) ranks melanomas: compute_metrics' melanoma AUC and best sensitivity at specificity
    0.8, with the melanoma column holding the scores' ranks scaled into (0, 1) (their order and ties exactly, where a
    logistic squash would round large scores to 1) and nevus the rest. Both are None if a score is missing (NaN)."""
    scores = odds(probabilities)
    keys = ("melanoma_auc", "melanoma_sensitivity_at_specificity_80")
    if np.isnan(scores).any():
        return dict.fromkeys(keys)
    ranks = np.unique(scores, return_inverse=True)[1].ravel()
    squashed = np.zeros((len(scores), len(CODES)))
    squashed[:, MEL] = (ranks + 1) / (len(scores) + 1)
    squashed[:, NV] = 1 - squashed[:, MEL]
    metrics = compute_metrics(references, squashed)
    return {key: metrics[key] for key in keys}


def alarm_figures(references: np.ndarray, probabilities: np.ndarray, alarm: dict) -> dict:
    """The alarm on one set: its sensitivity and specificity at the rule's threshold, and how well its score ranks
    melanomas (AUC, and the best sensitivity any threshold gives at specificity 0.8)."""
    sensitivity, specificity = alarm_rates(odds(probabilities), np.asarray(references) == MEL, alarm["threshold"])
    ranked = alarm_ranking(references, probabilities)
    return {"sensitivity": sensitivity, "specificity": specificity, "auc": ranked["melanoma_auc"],
            "sensitivity_at_specificity_80": ranked["melanoma_sensitivity_at_specificity_80"]}


def melanoma_decision(references: np.ndarray, probabilities: np.ndarray, alarm: dict | None) -> dict:
    """The figures of the decision the page makes for melanoma, on one set: the alarm's (alarm_figures) where the bundle
    serves one, else the bars' (melanoma the top class; ranked by its served probability)."""
    if alarm:
        return {"by": "melanoma alarm", **alarm_figures(references, probabilities, alarm)}
    metrics = compute_metrics(references, probabilities)
    return {"by": "bars", "sensitivity": metrics["melanoma_sensitivity"], "specificity": metrics["melanoma_specificity"],
            "auc": metrics["melanoma_auc"], "sensitivity_at_specificity_80": metrics["melanoma_sensitivity_at_specificity_80"]}
