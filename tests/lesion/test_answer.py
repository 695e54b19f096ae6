"""lesion.answer's rule for one visible verdict, on every combination of guard, grey, unsure and melanoma alarm, in
every language: the headline, /predict's label and the API's JSON never disagree."""

from __future__ import annotations

import itertools

import pytest

from lesion import answer, i18n
from lesion.classifier import Prediction, Timings
from lesion.labels import CODES
from lesion.verdict import MelanomaAlarm

SURE = {code: 0.01 for code in CODES} | {"df": 0.63 + 0.31, "mel": 0.01}
"""A dermatofibroma at 94%: a confident verdict for a class other than melanoma."""
UNSURE = {code: 0.02 for code in CODES} | {"bkl": 0.45, "mel": 0.2, "nv": 0.25}
ALARMS = {"none": None, "quiet": MelanomaAlarm(False, -3.0, -1.2, 0.72, 0.8),
          "raised": MelanomaAlarm(True, 0.5, -1.2, 0.72, 0.8)}
COMBINATIONS = list(itertools.product([True, False], [False, True], [False, True], ALARMS))
"""(dermoscopic, grey, unsure, alarm): all 24."""


def _prediction(dermoscopic: bool, grey: bool, unsure: bool, alarm: str) -> Prediction:
    probabilities = UNSURE if unsure else SURE
    return Prediction(dict(probabilities), Timings(1, 1, 1), dermoscopic=dermoscopic, grey=grey,
                      melanoma_alarm=ALARMS[alarm])


def _names(language: str) -> list[str]:
    return [i18n.diagnosis_name(code, language) for code in CODES]


@pytest.mark.parametrize(("dermoscopic", "grey", "unsure", "alarm"), COMBINATIONS)
@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_one_visible_verdict(dermoscopic, grey, unsure, alarm, language):
    prediction = _prediction(dermoscopic, grey, unsure, alarm)
    text = answer.headline(prediction, language)
    heading, _, body = text.partition("\n")
    assert heading.startswith("## ") and text.count("## ") == 1, "one heading, the only large type"
    label, json = answer.verdict_label(prediction), answer.answer_json(prediction)
    if not dermoscopic:  # rule 1: nothing that means nothing
        assert text == i18n.message("headline_not_dermoscopic", language)
        assert "%" not in text and not any(name in text for name in _names(language))
        assert answer.label_output(prediction, language) == {}
        assert json["top"] is None and json["probabilities"] == {} and label == answer.NOT_DERMOSCOPIC_LABEL
        return
    assert json["top"]["code"] == prediction.top and answer.label_output(prediction, language)
    if alarm == "raised":  # rule 2: the alarm leads, and no other class is named in large type
        assert heading == i18n.message("headline_alarm", language, sensitivity=0, false_alarms=0).partition("\n")[0]
        assert not any(name in heading for name in _names(language))
        assert i18n.message("bars_reading", language, reading="").split("{")[0].rstrip(". ") in body
        assert label == answer.ALARM_LABEL and json["verdict"]["alarm"] is True
        return
    assert json["verdict"]["alarm"] is False and "alarm" not in label.lower()  # rule 3
    leading = [i18n.diagnosis_name(code, language) for code in prediction.verdict.leading]
    assert all(name in (text if grey else heading) for name in leading)  # grey: "no reliable answer", then the names
    if grey:
        assert label.startswith("Grayscale image, unreliable:")
    elif unsure:
        assert label.startswith("Unsure:")
    else:
        assert label == i18n.diagnosis_name("df", "en")
    assert (alarm == "quiet") == ("alarm" in body.lower() or "alarma" in body.lower())


def test_the_rule_covers_every_verdict_kind():
    kinds = {_prediction(*combination).verdict.kind for combination in COMBINATIONS}
    assert kinds == {"confident", "unsure", "grayscale", "not_dermoscopic"}
