"""The bundled model gives the 21 examples the probabilities and alarms it gave before the training package was
reorganised (issue 32): tests/fixtures/example_probabilities.json was written from the bundle at tag studies-2026-12."""

import json

import pytest

from lesion.bundle import BUNDLED_DIR, load_bundle
from lesion.classifier import Classifier
from tests.conftest import EXAMPLES, FIXTURES

EXPECTED = json.loads((FIXTURES / "example_probabilities.json").read_text())


@pytest.fixture(scope="module")
def classifier():
    return Classifier(load_bundle(BUNDLED_DIR), num_threads=1)


def test_every_example_is_covered():
    assert sorted(EXPECTED) == sorted(path.name for path in EXAMPLES.glob("*.jpg")) and len(EXPECTED) == 21


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_gives_the_recorded_probabilities(classifier, name):
    prediction = classifier.classify(EXAMPLES / name)
    expected = EXPECTED[name]
    assert prediction.probabilities == pytest.approx(expected["probabilities"], abs=2e-6)
    assert prediction.dermoscopic == expected["dermoscopic"]
    assert prediction.melanoma_alarm.raised == expected["melanoma_alarm"]["raised"]
    assert prediction.melanoma_alarm.odds == pytest.approx(expected["melanoma_alarm"]["odds"], abs=2e-6)
