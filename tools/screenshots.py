"""Screenshots of the page in its three states, on a desktop (1280x900) and a phone (390x844), into docs/screenshots/:

    python -m tools.screenshots            # serves the app on a free loopback port with the bundled model

The states: the page as loaded; after clicking the first melanoma example with the heatmap on; private mode with a
result. docs/screenshots/desktop.png is the desktop after the example, which README shows. The same states are what
tests/e2e/test_accessibility.py runs axe-core on.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
STATES = ("load", "example", "private")
EXAMPLE_INDEX = 12
"""The gallery's first melanoma, which raises the melanoma alarm."""
EXAMPLE = ROOT / "examples" / "ISIC_0034529.jpg"
"""The same image, chosen through private mode's own file input."""
TIMEOUT_MS = 120_000


def enter(page, url: str, state: str) -> None:
    """Load the page and bring it to `state`; the window is left where a visitor would see it."""
    page.goto(url)
    page.locator("#examples img").first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_load_state("networkidle")
    if state == "example":
        page.locator("#examples img").nth(EXAMPLE_INDEX).click()
        page.locator("#verdict h2").wait_for(timeout=TIMEOUT_MS)
        page.locator("#heatmap-toggle input").check()
        page.locator("#heatmap img").first.wait_for(timeout=TIMEOUT_MS)
        page.locator("#verdict").scroll_into_view_if_needed()
        page.evaluate("document.getElementById('result-column').scrollIntoView({block: 'start'})")
    elif state == "private":
        page.locator("#private-mode-toggle").check()
        page.locator("#private-mode-file").set_input_files(str(EXAMPLE))
        page.locator("#private-mode-result[data-result]").wait_for(timeout=TIMEOUT_MS)
        page.locator("#private-mode-heatmap-toggle").check()
        page.evaluate("document.getElementById('private-mode-result').scrollIntoView({block: 'start'})")
    page.wait_for_timeout(600)  # smooth scrolling and Gradio's transitions settle


def small_png(png: bytes) -> bytes:
    """A screenshot as a 256-colour PNG: a fifth of the bytes, and text stays sharp."""
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def name(device: str, state: str) -> str:
    return "desktop.png" if (device, state) == ("desktop", "example") else f"{device}-{state}.png"


def take(browser, url: str, out: Path = OUT, locale: str = "en-US") -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for device, viewport in VIEWPORTS.items():
        for state in STATES:
            context = browser.new_context(viewport=viewport, locale=locale, is_mobile=device == "phone",
                                          device_scale_factor=1)
            page = context.new_page()
            try:
                enter(page, url, state)
                path = out / name(device, state)
                path.write_bytes(small_png(page.screenshot()))
                written.append(path)
            finally:
                context.close()
    return written


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.screenshots", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running app's address (default: start one here)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        if args.url:
            written = take(browser, args.url, args.out)
        else:
            import app
            from tools.served_app import serving

            with serving(app.build_demo()) as url:
                written = take(browser, url, args.out)
        browser.close()
    for path in written:
        print(f"{path}: {path.stat().st_size / 1024:.0f} kB")


if __name__ == "__main__":
    main()
