"""A real browser (Debian's headless Chromium, driven by Playwright) uses the page as a visitor would.

Screenshots land in test-artifacts/ to be looked at.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from gradio_client import Client, handle_file

import app
from lesion import i18n
from tests.conftest import ARTIFACTS
from tools.measure_page import first_load

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
EXAMPLE = app.EXAMPLES_DIR / "ISIC_0034529.jpg"
FIRST_MELANOMA = 12
"""Gallery position of the first melanoma example."""


@contextmanager
def visit(browser, url: str, viewport: dict = DESKTOP, locale: str = "en-US"):
    """A fresh visitor's page, loaded until the example gallery shows."""
    context = browser.new_context(viewport=viewport, locale=locale, is_mobile=viewport["width"] < 500)
    page = context.new_page()
    page.goto(url)
    page.locator("#examples img").first.wait_for()
    try:
        yield page
    finally:
        context.close()


def _upload(page, path) -> None:
    page.locator("#lesion-image input[type=file]").set_input_files(str(path))


def _wait_for_result(page) -> None:
    page.locator("#verdict h2").wait_for(timeout=30_000)
    page.locator("#probabilities").get_by_text("(").first.wait_for()


def _timing_line(page) -> str:
    """The timing panel's one line: the title of its folded accordion."""
    return page.locator("#timing-box > button").first.inner_text().splitlines()[0].strip()


def _open_timing(page) -> None:
    if not page.locator("#timing-panel").is_visible():
        page.locator("#timing-box > button").first.click()
    page.locator("#timing-panel").wait_for()


def _count(page) -> int:
    return int(re.search(r"n = (\d+)", _timing_line(page)).group(1))


def _no_sideways_scroll(page, viewport: dict) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"] + 1, "the page scrolls sideways"


def test_upload_shows_label_verdict_and_this_images_timing_beside_the_running_ones(browser, app_url):
    with visit(browser, app_url) as page:
        _upload(page, EXAMPLE)
        _wait_for_result(page)
        assert "(" in page.locator("#probabilities").inner_text()  # a display name such as "Melanoma (mel)"
        assert "malignant" in page.locator("#verdict").inner_text()
        assert not page.locator("#timing-panel").is_visible(), "the timing table is folded away"
        assert re.fullmatch(r"Time: this image [\d.]+ ms; median since startup [\d.]+ ms \(n = \d+\)", _timing_line(page).strip())
        _open_timing(page)
        timing = page.locator("#timing-panel")
        header = timing.locator("thead").inner_text().split()
        assert header == ["ms", "decode", "preprocess", "inference", "total"]
        rows = [row.split("\t")[0] for row in timing.locator("tbody").inner_text().splitlines()]
        assert rows == ["this image", "mean", "p50", "p95", "min", "max"]
        assert _count(page) >= 1
        page.screenshot(path=ARTIFACTS / "app.png", full_page=True)


@pytest.mark.parametrize("viewport, columns", [(PHONE, 3), (DESKTOP, 7)], ids=["phone", "desktop"])
def test_gallery_shows_all_21_examples_with_their_true_diagnosis(browser, app_url, viewport, columns):
    examples = app.load_examples()
    with visit(browser, app_url, viewport) as page:
        thumbnails = page.locator("#examples button.thumbnail-item")
        assert thumbnails.count() == len(examples) == 21
        lefts = set()
        for index, (_, dx) in enumerate(examples):
            thumbnail = thumbnails.nth(index)
            thumbnail.scroll_into_view_if_needed()
            box = thumbnail.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], f"example {index} is cut off"
            assert box["width"] >= 80 and box["height"] >= 80, f"example {index} is too small: {box}"
            # Nothing covers or clips it: the browser hits this thumbnail at its image's centre.
            image_box = thumbnail.locator("img").bounding_box()
            hit = page.evaluate("([x, y]) => document.elementFromPoint(x, y)?.closest('button.thumbnail-item')"
                                "?.getAttribute('aria-label')",
                                [image_box["x"] + image_box["width"] / 2, image_box["y"] + image_box["height"] / 2])
            assert hit == i18n.diagnosis_name(dx, "en"), f"example {index} is hidden or not named by its diagnosis"
            assert thumbnail.inner_text().strip() == i18n.diagnosis_name(dx, "en")
            lefts.add(round(box["x"]))
        assert len(lefts) == columns
        _no_sideways_scroll(page, viewport)
        page.screenshot(path=ARTIFACTS / f"gallery-{viewport['width']}px.png", full_page=True)


def test_clicking_an_example_classifies_it(browser, app_url):
    with visit(browser, app_url) as page:
        page.locator("#examples img").nth(FIRST_MELANOMA).click()
        _wait_for_result(page)
        assert page.locator("#lesion-image img").count() == 1
        page.screenshot(path=ARTIFACTS / "example-clicked.png", full_page=True)


def test_a_refused_file_says_why_until_the_next_upload_with_no_broken_image(browser, app_url, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"this is not a picture")
    with visit(browser, app_url, PHONE) as page:
        _upload(page, bad)
        alert = page.locator("#refusal [role=alert]")
        alert.wait_for(timeout=30_000)
        assert alert.locator("strong").inner_text() == "Not an image"
        assert "not an image that can be read" in alert.inner_text()
        page.wait_for_timeout(1500)
        assert alert.is_visible()
        assert page.locator("#lesion-image img").count() == 0, "a broken image stayed"
        page.screenshot(path=ARTIFACTS / "bad-file.png", full_page=True)
        _upload(page, EXAMPLE)
        _wait_for_result(page)
        assert not alert.is_visible()


def test_timing_panel_is_filled_on_load_and_updated_by_each_classification_with_no_polling(browser, app_url):
    Client(app_url, verbose=False).predict(handle_file(str(EXAMPLE)), api_name="/classify")[0]
    with visit(browser, app_url) as page:
        posts = []
        page.on("request", lambda request: request.method == "POST" and posts.append(request.url))
        page.wait_for_function("() => /n = \\d+/.test(document.querySelector('#timing-box').innerText)")
        assert _timing_line(page).startswith("Time: median since startup")  # no image of its own yet
        _open_timing(page)
        rows = [row.split("\t")[0] for row in page.locator("#timing-panel tbody").inner_text().splitlines()]
        assert rows == ["mean", "p50", "p95", "min", "max"]
        before = _count(page)
        Client(app_url, verbose=False).predict(handle_file(str(EXAMPLE)), api_name="/classify")[0]
        page.wait_for_timeout(6000)
        assert posts == [], "the page polls the server"
        _upload(page, EXAMPLE)
        _wait_for_result(page)
        assert _count(page) >= before + 2  # the other visitor's classification and this one


@pytest.mark.parametrize("locale, viewport", [("en-US", DESKTOP), ("id-ID", PHONE), ("es-ES", DESKTOP)])
def test_the_page_follows_the_browsers_language(browser, app_url, tmp_path, locale, viewport):
    language = locale.split("-")[0]
    examples = app.load_examples()
    with visit(browser, app_url, viewport, locale) as page:
        disclaimer = i18n.PAGE[language]["disclaimer"].split("**")[1]
        page.get_by_text(disclaimer).wait_for()
        first_caption = page.locator("#examples button.thumbnail-item").first
        page.wait_for_function("([element, caption]) => element.innerText.trim() === caption",
                               arg=[first_caption.element_handle(), i18n.diagnosis_name(examples[0][1], language)])
        page.locator("#examples img").nth(FIRST_MELANOMA).click()
        _wait_for_result(page)
        assert i18n.diagnosis_name("mel", language) in page.locator("#probabilities").inner_text()
        assert "(akiec, bcc, mel)" in page.locator("#verdict").inner_text()
        _open_timing(page)
        assert i18n.message("inference_ms", language) in page.locator("#timing-panel thead").inner_text()
        assert i18n.message("this_image", language) in page.locator("#timing-panel tbody").inner_text()
        _no_sideways_scroll(page, viewport)
        page.screenshot(path=ARTIFACTS / f"app-{locale}-{viewport['width']}px.png", full_page=True)
        if viewport == DESKTOP:  # Gradio's own link, translated (on a phone Gradio shows no API link)
            assert page.locator("footer").get_by_text(i18n.GRADIO_FOOTER[language]).is_visible()
        bad = tmp_path / "notes.png"
        bad.write_bytes(b"this is not a picture")
        _upload(page, bad)
        page.locator("#refusal [role=alert] strong").get_by_text(i18n.message("title_not_image", language)).wait_for()
        assert page.locator("#refusal").inner_text().count(i18n.message("not_image", language)) == 1


def test_dark_theme(browser, app_url):
    with visit(browser, app_url + "?__theme=dark") as page:
        _upload(page, EXAMPLE)
        _wait_for_result(page)
        _no_sideways_scroll(page, DESKTOP)
        page.screenshot(path=ARTIFACTS / "app-dark-1280px.png", full_page=True)


def test_use_via_api_names_every_output(browser, app_url):
    with visit(browser, app_url) as page:
        page.get_by_text("Use via API").click()
        page.get_by_text("Python", exact=True).first.click()
        for text in ('"probabilities of the seven diagnoses" Label', '"classification as JSON" Json',
                     '"dermoscopic image" Image', "handle_file('lesion.jpg')", "timings_ms: dict(decode: float"):
            page.get_by_text(text).first.wait_for()
        page.screenshot(path=ARTIFACTS / "use-via-api.png", full_page=True)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_photo_that_is_not_dermoscopy_gets_no_answer(browser, app_url, cat_photo, viewport):
    """The guard's headline alone (lesion.answer's rule 1): no percentage, no bars, no heatmap."""
    with visit(browser, app_url, viewport) as page:
        _upload(page, cat_photo)
        page.locator("#verdict").get_by_text("does not look like a dermoscopic image").wait_for(timeout=60_000)
        assert "%" not in page.locator("#verdict").inner_text()
        assert not page.locator("#probabilities-box").is_visible() and not page.locator("#probabilities").is_visible()
        assert not page.locator("#heatmap").is_visible()
        _no_sideways_scroll(page, viewport)
        page.screenshot(path=ARTIFACTS / f"not-dermoscopic-{viewport['width']}px.png", full_page=True)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_heatmap_shows_behind_its_toggle(browser, app_url, viewport):
    with visit(browser, app_url, viewport) as page:
        page.locator("#examples img").nth(FIRST_MELANOMA).click()
        _wait_for_result(page)
        headline = page.locator("#verdict").inner_text()
        assert headline.startswith("Melanoma alarm raised")  # the alarm leads (lesion.answer's rule 2)
        assert not page.locator("#heatmap").is_visible()
        page.locator("#heatmap-toggle input").check()
        page.locator("#heatmap img").first.wait_for()
        assert page.locator("#heatmap img").count() == 1
        assert "Where the model looks for Melanoma (mel)" in page.locator("#heatmap").inner_text()  # names its class
        assert page.locator("#heatmap-legend").is_visible()
        page.locator("#heatmap button").first.focus()  # reached by keyboard, named by its class
        assert page.evaluate("document.activeElement.getAttribute('aria-label')").startswith("Where the model looks for")
        _no_sideways_scroll(page, viewport)
        page.screenshot(path=ARTIFACTS / f"heatmap-{viewport['width']}px.png", full_page=True)
        page.locator("#heatmap-toggle input").uncheck()
        page.locator("#heatmap").wait_for(state="hidden")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_an_example_clicked_brings_its_result_into_view_with_its_true_diagnosis(browser, app_url, viewport):
    with visit(browser, app_url, viewport) as page:
        page.locator("#examples img").nth(FIRST_MELANOMA).click()
        _wait_for_result(page)
        page.wait_for_function("() => { const box = document.querySelector('#verdict h2').getBoundingClientRect();"
                               " return box.top >= 0 && box.bottom <= window.innerHeight; }", timeout=5000)
        assert page.locator("#verdict").get_attribute("aria-live") == "polite"
        assert page.locator("#example-truth").inner_text() == "This example's true diagnosis: Melanoma (mel)"
        _upload(page, EXAMPLE)  # an upload is no example: its truth is unknown
        page.wait_for_function("() => !document.querySelector('#example-truth').innerText.trim()")


def test_the_api_snippets_use_the_pages_own_address(browser, app_url):
    with visit(browser, app_url) as page:
        page.get_by_text("Use it from Python").click()
        page.locator("#api-help").get_by_text(f'Client("{app_url}")').first.wait_for()
        assert "127.0.0.1:7860" not in page.locator("#api-help").inner_text()
        assert f"{app_url}gradio_api/mcp/" in page.locator("#api-help").inner_text()


FIRST_LOAD_MAX_BYTES = 1_500_000
"""Issue 34: the first load, everything the browser fetches until the page is idle, at most 1.5 MB over the wire."""


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_first_load_is_light(browser, app_url, viewport):
    transferred, requests, thumbnails = first_load(browser, app_url, viewport)
    assert transferred <= FIRST_LOAD_MAX_BYTES, f"{transferred} bytes in {requests} requests"
    assert len(thumbnails) == 21 and max(thumbnails) <= 300  # thumbnails, not the 600-pixel photos
