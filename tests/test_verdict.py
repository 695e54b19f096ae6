"""The headline's claim never overstates the probabilities."""

import pytest

from lesion.labels import CODES
from lesion.verdict import judge


def probabilities(**given):
    rest = (1 - sum(given.values())) / (len(CODES) - len(given))
    return {code: given.get(code, rest) for code in CODES}


def test_a_clear_top_class_is_named_alone():
    verdict = judge(probabilities(nv=0.85))
    assert verdict.kind == "confident" and verdict.leading == ("nv",) and verdict.probability == pytest.approx(0.85)


def test_under_the_threshold_two_leading_classes_are_named():
    verdict = judge(probabilities(mel=0.45, nv=0.4))
    assert verdict.kind == "unsure" and verdict.leading == ("mel", "nv")


def test_a_flat_answer_names_three():
    verdict = judge(probabilities(mel=0.33, nv=0.3, bkl=0.2))
    assert verdict.leading == ("mel", "nv", "bkl")


def test_the_malignant_share_is_always_given():
    given = probabilities(mel=0.3, bcc=0.1, akiec=0.05, nv=0.5)
    for dermoscopic in (True, False):
        assert judge(given, dermoscopic=dermoscopic).malignant_share == pytest.approx(0.45)


def test_the_guard_overrides_any_confidence():
    verdict = judge(probabilities(nv=0.99), dermoscopic=False)
    assert verdict.kind == "not_dermoscopic" and verdict.leading == ()
