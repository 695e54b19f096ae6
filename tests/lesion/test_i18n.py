"""Every text in English, Indonesian and Spanish, and every English sentence of lesion/ matched to its translation."""

from __future__ import annotations

import re
import string

import pytest

from lesion import i18n
from lesion.hub import ModelServer
from lesion.labels import CODES
from lesion.preprocess import InvalidImageError, load_image
from tools import bad_images

TRANSLATED = [language for language in i18n.LANGUAGES if language != i18n.DEFAULT]


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _refusal(content: bytes) -> str:
    with pytest.raises(InvalidImageError) as error:
        load_image(content)
    return str(error.value)


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_text_is_translated_with_the_same_fields(language):
    assert set(i18n.PAGE[language]) == set(i18n.PAGE[i18n.DEFAULT])
    assert set(i18n.MESSAGES[language]) == set(i18n.MESSAGES[i18n.DEFAULT])
    for key, english in i18n.MESSAGES[i18n.DEFAULT].items():
        assert _fields(i18n.MESSAGES[language][key]) == _fields(english), key
    assert all(text.strip() for text in i18n.PAGE[language].values())


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_diagnosis_has_a_name_and_explanation(language):
    assert set(i18n.DIAGNOSES[language]) == set(CODES)
    for code in CODES:
        assert i18n.diagnosis_name(code, language).endswith(f"({code})")
        assert i18n.diagnosis_explanation(code, language) != i18n.diagnosis_explanation(code, i18n.DEFAULT)
    assert i18n.diagnosis_name("nv", language) != i18n.diagnosis_name("nv", i18n.DEFAULT)


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_disclaimer_and_about_table(language):
    assert "**" in i18n.PAGE[language]["disclaimer"]
    table = i18n.PAGE[language]["about"]
    assert all(i18n.diagnosis_name(code, language) in table for code in CODES)


@pytest.mark.parametrize("name", bad_images.REFUSED)
@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_refusal_gets_its_own_title_and_a_translated_sentence(name, language):
    sentence = _refusal(bad_images.REFUSED[name][0])
    title, translated = i18n.refusal(sentence, language)
    assert title != i18n.message("title_refused", language), f"{sentence!r} matches no refusal template"
    if language == i18n.DEFAULT:
        assert translated == sentence  # API callers and English visitors read lesion.preprocess's own sentence
    else:
        assert translated != sentence
        assert set(re.findall(r"\d+", sentence)) <= set(re.findall(r"\d+", translated))


def test_refusal_titles_say_what_happened():
    titles = {name: i18n.refusal(_refusal(content), "en")[0] for name, (content, _) in bad_images.REFUSED.items()}
    assert titles["not an image"] == "Not an image"
    assert titles["huge image"] == titles["decompression bomb"] == "Too large"
    assert titles["1x1 image"] == "Too small"
    assert i18n.refusal("No image file at /tmp/x.jpg.", "es") == ("Falta el archivo", "No hay ningún archivo de imagen en /tmp/x.jpg.")


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_the_apps_size_limit_is_a_refusal_too(language):
    sentence = i18n.message("file_too_large", "en", size_mb=23.4, limit_mb=20)
    title, translated = i18n.refusal(sentence, language)
    assert title == i18n.message("title_too_large", language)
    assert "23" in translated and "20" in translated


def test_an_unknown_refusal_keeps_its_sentence():
    assert i18n.refusal("Something new went wrong.", "id") == ("Tidak dapat diklasifikasikan", "Something new went wrong.")


@pytest.mark.parametrize("name", bad_images.ACCEPTED)
@pytest.mark.parametrize("language", TRANSLATED)
def test_every_conversion_note_is_translated(name, language):
    _, notes = load_image(bad_images.ACCEPTED[name][0])
    assert notes
    for note in notes:
        assert i18n.note(note, language) != note


FALLBACK_REASONS = [
    "no Hub model is configured",
    "the latest model from the Hub",
    "the Hub did not answer within 10 s, so the copy downloaded earlier serves; the app switches to the Hub model as soon as it arrives",
    "the Hub is switched off, so the copy downloaded earlier serves",
    *(f"{fault}, and no verified copy from an earlier download is here, so the model that ships with the app serves{later}"
      for fault in ("the model downloaded from the Hub failed its integrity check", "the Hub does not have the configured model",
                    "the Hub answered with an error", "the Hub could not be reached", "the Hub's answer could not be used")
      for later in ("", "; the app switches to the Hub model as soon as it arrives")),
]


@pytest.mark.parametrize("language", TRANSLATED)
def test_model_reasons_are_translated(language):
    assert ModelServer.start(repo_id="").current.reason in FALLBACK_REASONS
    for reason in FALLBACK_REASONS:
        translated = i18n.model_reason(reason, language)
        assert translated != reason
        assert not any(english in translated for english in ("serves", "could not", "switched off", "answer"))


@pytest.mark.parametrize("header, language", [
    ("id-ID,id;q=0.9,en-US;q=0.8", "id"), ("es-MX", "es"), ("es", "es"), ("en-GB,en;q=0.9", "en"),
    ("fr-FR,es;q=0.9", "en"),  # Gradio's front end reads only the first language too
    ("", "en"), (None, "en"), ("*", "en"),
])
def test_request_language_follows_the_browser(header, language):
    assert i18n.request_language(header) == language
