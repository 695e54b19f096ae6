"""What the page's headline may claim about one prediction: never more than the probabilities support."""

from __future__ import annotations

from dataclasses import dataclass

from lesion.labels import BY_CODE

UNSURE_BELOW = 0.6
"""Under this calibrated probability for the top class, the headline names the leading classes instead of one."""
LEADING_SHARE = 0.8
"""An unsure headline names classes, most probable first, until they hold this much of the probability (2 or 3)."""
SEE_A_DOCTOR_FROM = 0.2
"""From this malignant share on, the headline adds that only a doctor can tell."""


@dataclass(frozen=True)
class Verdict:
    kind: str
    """"not_dermoscopic" (the guard fired: the probabilities mean nothing), "unsure" or "confident"."""
    leading: tuple[str, ...]
    """Codes the headline names: one when confident, two or three when unsure, none when not dermoscopic."""
    probability: float
    """The calibrated probability of the most probable class."""
    malignant_share: float
    """The summed probability of the malignant and pre-malignant classes (akiec, bcc, mel)."""


def judge(probabilities: dict[str, float], *, dermoscopic: bool = True, unsure_below: float = UNSURE_BELOW) -> Verdict:
    """The headline's claim for probabilities keyed by code, given the guard's verdict."""
    ranked = sorted(probabilities, key=probabilities.get, reverse=True)
    top = probabilities[ranked[0]]
    malignant = sum(p for code, p in probabilities.items() if BY_CODE[code].malignant)
    if not dermoscopic:
        return Verdict("not_dermoscopic", (), top, malignant)
    if top >= unsure_below:
        return Verdict("confident", (ranked[0],), top, malignant)
    leading = list(ranked[:2])
    if sum(probabilities[code] for code in leading) < LEADING_SHARE:
        leading.append(ranked[2])
    return Verdict("unsure", tuple(leading), top, malignant)
