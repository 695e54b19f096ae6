"""What a visitor's browser meets, measured: the first load's bytes and requests, and axe-core's violations by impact
in the page's three states (tools.screenshots), in English and Spanish, on a desktop (1280x900):

    python -m tools.measure_page                          # serves the app here, on a free loopback port
    python -m tools.measure_page --url http://127.0.0.1:7862/

Uses the pinned axe-core from node_modules (`npm ci`). The waits are lenient, so that an older checkout of the app
can be measured the same way.
"""

from __future__ import annotations

import argparse
from collections import Counter

from tools.screenshots import CHROMIUM, CHROMIUM_ARGS, EXAMPLE, EXAMPLE_INDEX, ROOT, STATES, VIEWPORTS

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
TIMEOUT_MS = 120_000


def first_load(browser, url: str, viewport: dict) -> tuple[int, int, list[int]]:
    """(bytes over the wire, requests, each example thumbnail's width in pixels) until the page is idle after loading."""
    context = browser.new_context(viewport=viewport, is_mobile=viewport["width"] < 500)
    page = context.new_page()
    network = context.new_cdp_session(page)
    network.send("Network.enable")
    sizes = {}
    network.on("Network.loadingFinished", lambda event: sizes.__setitem__(event["requestId"], event["encodedDataLength"]))
    try:
        page.goto(url)
        page.locator("#examples img").first.wait_for(timeout=TIMEOUT_MS)
        page.wait_for_load_state("networkidle")
        thumbnails = page.evaluate("[...document.querySelectorAll('#examples img')].map((image) => image.naturalWidth)")
    finally:
        context.close()
    return sum(sizes.values()), len(sizes), thumbnails


def axe_counts(browser, url: str, state: str, locale: str) -> Counter:
    """Violating elements by impact, in `state`."""
    context = browser.new_context(viewport=VIEWPORTS["desktop"], locale=locale)
    page = context.new_page()
    page.goto(url)
    page.locator("#examples img").first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_load_state("networkidle")
    if state == "example":
        page.locator("#examples img").nth(EXAMPLE_INDEX).click()
        page.locator("#verdict h2, #verdict h3").first.wait_for(timeout=TIMEOUT_MS)
        page.locator("#heatmap-toggle input").check()
        page.locator("#heatmap img").first.wait_for(timeout=TIMEOUT_MS)
    elif state == "private":
        page.locator("#private-mode-toggle").check()
        page.locator("#private-mode-file").set_input_files(str(EXAMPLE))
        page.locator("#private-mode-result[data-result]").wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(800)
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => (await axe.run(document, { resultTypes: ["violations"] })).violations
        .map((v) => [v.impact, v.nodes.length])""")
    context.close()
    counts = Counter()
    for impact, nodes in found:
        counts[impact] += nodes
    return counts


def measure(url: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for device, viewport in VIEWPORTS.items():
            transferred, requests, _ = first_load(browser, url, viewport)
            print(f"first load, {device}: {transferred / 1e6:.2f} MB in {requests} requests")
        print("axe-core violations (elements), desktop: critical / serious / moderate / minor")
        for locale in ("en-US", "es-ES"):
            for state in STATES:
                counts = axe_counts(browser, url, state, locale)
                print(f"  {locale} {state:8} " + " / ".join(str(counts[impact]) for impact in
                                                           ("critical", "serious", "moderate", "minor")))
        browser.close()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.measure_page", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running app's address (default: start one here)")
    args = parser.parse_args(argv)
    if args.url:
        measure(args.url)
        return
    import app
    from tools.served_app import serving

    with serving(app.build_demo()) as url:
        measure(url)


if __name__ == "__main__":
    main()
