"""What the page's headline may claim about one prediction: never more than the probabilities support."""

from __future__ import annotations

import math
from dataclasses import dataclass

from lesion.labels import BY_CODE

UNSURE_BELOW = 0.6
"""Under this calibrated probability for the top class, the headline names the leading classes instead of one."""
LEADING_SHARE = 0.8
"""An unsure headline names classes, most probable first, until they hold this much of the probability (2 or 3)."""
SEE_A_DOCTOR_FROM = 0.2
"""From this malignant share on, or when the melanoma alarm is raised, the headline adds that only a doctor can tell."""
TINY = 1e-12
"""The smallest probability the melanoma odds take, so that an exact 0 gives a finite score."""


@dataclass(frozen=True)
class Verdict:
    kind: str
    """"not_dermoscopic" (the guard fired: the probabilities mean nothing), "grayscale" (an image without colour: the
    model is often wrong on those, even when sure), "unsure" or "confident"."""
    leading: tuple[str, ...]
    """Codes the headline names: one when confident, two or three when unsure or grayscale, none when not dermoscopic."""
    probability: float
    """The calibrated probability of the most probable class."""
    malignant_share: float
    """The summed probability of the malignant and pre-malignant classes (akiec, bcc, mel)."""


def judge(probabilities: dict[str, float], *, dermoscopic: bool = True, grey: bool = False,
          unsure_below: float = UNSURE_BELOW) -> Verdict:
    """The headline's claim for probabilities keyed by code, given the guard's verdict and whether the image is grey
    (lesion.preprocess.is_grey): a grey image never gets a confident headline."""
    ranked = sorted(probabilities, key=probabilities.get, reverse=True)
    top = probabilities[ranked[0]]
    malignant = sum(p for code, p in probabilities.items() if BY_CODE[code].malignant)
    if not dermoscopic:
        return Verdict("not_dermoscopic", (), top, malignant)
    if top >= unsure_below and not grey:
        return Verdict("confident", (ranked[0],), top, malignant)
    leading = list(ranked[:2])
    if sum(probabilities[code] for code in leading) < LEADING_SHARE:
        leading.append(ranked[2])
    return Verdict("grayscale" if grey else "unsure", tuple(leading), top, malignant)


def shown_probability(probability: float, unsure_below: float = UNSURE_BELOW) -> float:
    """An unsure headline's top probability as it is shown, in whole percent: rounded, unless rounding would reach the
    threshold the headline says it misses (59.7% is "59%", not "60%")."""
    return probability if round(probability * 100) < round(unsure_below * 100) else math.floor(probability * 100) / 100


@dataclass(frozen=True)
class MelanomaAlarm:
    """A melanoma alarm apart from the seven bars: log p(mel) - log p(nv) against a threshold fitted on validation.

    Weighed against nevi alone, without the other five classes in the sum, melanomas from other clinics rank better
    than by the melanoma bar (training/EXPERIMENTS.md, "A melanoma alarm apart from the bars").
    """

    raised: bool
    odds: float
    """log p(mel) - log p(nv) of the served probabilities."""
    threshold: float
    sensitivity: float
    """The share of validation's melanomas that raised it."""
    specificity: float
    """The share of validation's other lesions that did not."""


def melanoma_odds(probabilities: dict[str, float]) -> float:
    """log p(mel) - log p(nv): how much more the model takes the lesion for a melanoma than for a nevus."""
    return math.log(max(probabilities["mel"], TINY)) - math.log(max(probabilities["nv"], TINY))


def melanoma_alarm(probabilities: dict[str, float], rule: dict | None, *, dermoscopic: bool = True) -> MelanomaAlarm | None:
    """The alarm under a bundle's rule (its config's "melanoma_alarm"); None without a rule, or when the guard fired."""
    if rule is None or not dermoscopic:
        return None
    odds = melanoma_odds(probabilities)
    return MelanomaAlarm(odds >= rule["threshold"], odds, rule["threshold"], rule["validation_sensitivity"],
                         rule["validation_specificity"])
