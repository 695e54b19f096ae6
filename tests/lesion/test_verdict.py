"""The headline's claim never overstates the probabilities."""

import math

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


def test_a_grey_image_never_gets_a_confident_headline():
    verdict = judge(probabilities(nv=0.95), grey=True)
    assert verdict.kind == "grayscale" and verdict.leading[0] == "nv" and verdict.probability == pytest.approx(0.95)
    assert judge(probabilities(mel=0.33, nv=0.3, bkl=0.2), grey=True).leading == ("mel", "nv", "bkl")
    assert judge(probabilities(nv=0.95), dermoscopic=False, grey=True).kind == "not_dermoscopic"


RULE = {"threshold": 0.0, "validation_sensitivity": 0.7, "validation_specificity": 0.8}


def test_the_melanoma_alarm_weighs_melanoma_against_nevus_alone():
    """Only melanoma's and nevus's probabilities count: the same odds raise it whatever the other five hold."""
    from lesion.verdict import melanoma_alarm

    for rest in (0.0, 0.5, 0.9):
        raised = melanoma_alarm({**probabilities(mel=0.3, nv=0.2, bkl=rest * 0.5), "mel": 0.3 * (1 - rest), "nv": 0.2 * (1 - rest)}, RULE)
        assert raised.raised and raised.odds == pytest.approx(math.log(1.5))
    quiet = melanoma_alarm(probabilities(mel=0.2, nv=0.3), RULE)
    assert not quiet.raised and (quiet.sensitivity, quiet.specificity) == (0.7, 0.8)
    assert melanoma_alarm(probabilities(mel=0.3, nv=0.3), RULE).raised  # from the threshold on


def test_no_alarm_without_a_rule_or_for_an_image_the_guard_refused():
    from lesion.verdict import melanoma_alarm

    assert melanoma_alarm(probabilities(mel=0.9), None) is None
    assert melanoma_alarm(probabilities(mel=0.9), RULE, dermoscopic=False) is None


def test_the_odds_stay_finite_at_certainty():
    from lesion.verdict import melanoma_odds

    certain = {code: 0.0 for code in CODES}
    assert math.isfinite(melanoma_odds({**certain, "mel": 1.0})) and melanoma_odds({**certain, "mel": 1.0}) > 20
    assert math.isfinite(melanoma_odds({**certain, "nv": 1.0})) and melanoma_odds({**certain, "nv": 1.0}) < -20
