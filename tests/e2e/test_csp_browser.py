"""The page and private mode under the app's Content-Security-Policy (lesion.headers), in headless Chromium: the
policy is sent, nothing the page needs is blocked, and private mode still classifies on the device. (Without
'unsafe-eval', Gradio's js_on_load never runs and private mode's switch never appears: this test then fails.)"""

from __future__ import annotations

import app
from lesion import headers
from tests.e2e.test_private_browser import _choose, private_page, served  # noqa: F401  (served: a fixture)
from tests.app.test_private_mode import runtime_installed  # noqa: F401  (a fixture)


def _violations(page) -> list[str]:
    return [message for message in page.console_messages if "Content Security Policy" in message
            or "Refused to" in message]


def test_private_mode_works_under_the_content_security_policy(browser, served):  # noqa: F811
    url, calls = served
    before = len(calls)
    context = browser.new_context()
    try:
        response = context.new_page().goto(url)
    finally:
        context.close()
    assert response.headers["content-security-policy"] == headers.content_security_policy()
    with private_page(browser, url) as page:
        page.console_messages = []
        page.on("console", lambda message: page.console_messages.append(message.text))
        result = _choose(page, app.EXAMPLES_DIR / "ISIC_0034529.jpg")
        violations = _violations(page)
    assert result["top"] in result["probabilities"]
    assert len(calls) == before, "the server classified something"
    assert not violations, violations


def test_the_server_mode_page_works_under_the_content_security_policy(browser, served):  # noqa: F811
    url, calls = served
    context = browser.new_context()
    page = context.new_page()
    messages = []
    page.on("console", lambda message: messages.append(message.text))
    try:
        page.goto(url)
        page.locator("#examples img").first.click()
        page.locator("#verdict").get_by_text("%").first.wait_for(timeout=60_000)
    finally:
        context.close()
    assert not [m for m in messages if "Content Security Policy" in m or "Refused to" in m], messages
