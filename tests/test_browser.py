"""A real browser (Debian's headless Chromium, driven by Playwright) uses the page as a visitor would."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import app
from tests.conftest import ARTIFACTS


@pytest.fixture(scope="module")
def page_url(app_url):
    return app_url


def _classify_upload(page, url: str, image: Path) -> None:
    page.goto(url)
    page.get_by_text("Research demo, not a diagnosis").first.wait_for()
    page.locator("input[type=file]").first.set_input_files(str(image))
    page.get_by_text("this image").wait_for(timeout=30_000)


def test_upload_shows_label_and_timing(browser, page_url):
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    _classify_upload(page, page_url, app.EXAMPLES_DIR / "ISIC_0034529.jpg")
    label = page.locator(".output-class, [data-testid='label-output-value']").first
    label.wait_for()
    assert "(" in label.inner_text()  # a display name such as "Melanoma (mel)"
    timing = page.locator("#timing-panel").inner_text()
    assert "inference" in timing and "this image" in timing
    assert int(re.search(r"Classifications since startup: (\d+)", timing).group(1)) >= 1
    assert "Melanoma (mel)" in page.content()  # the examples show their true diagnosis
    page.screenshot(path=ARTIFACTS / "app.png", full_page=True)


def test_clicking_an_example_classifies_it(browser, page_url):
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.goto(page_url)
    page.locator("#examples img").nth(12).click()  # the first melanoma
    page.get_by_text("this image").wait_for(timeout=30_000)
    page.screenshot(path=ARTIFACTS / "example-clicked.png", full_page=True)


def test_bad_file_shows_a_clear_message(browser, page_url, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"this is not a picture")
    page = browser.new_page()
    page.goto(page_url)
    page.locator("input[type=file]").first.set_input_files(str(bad))
    page.get_by_text("not an image that can be read").first.wait_for(timeout=30_000)
    page.screenshot(path=ARTIFACTS / "bad-file.png")


@pytest.mark.parametrize("theme, viewport", [("dark", {"width": 1280, "height": 1400}), ("light", {"width": 390, "height": 844})])
def test_dark_theme_and_phone_screens(browser, page_url, theme, viewport):
    page = browser.new_page(viewport=viewport, is_mobile=viewport["width"] < 500)
    _classify_upload(page, page_url + f"?__theme={theme}", app.EXAMPLES_DIR / "ISIC_0034525.jpg")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"] + 1, "the page scrolls sideways"
    page.screenshot(path=ARTIFACTS / f"app-{theme}-{viewport['width']}px.png", full_page=True)
