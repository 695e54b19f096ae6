"""Private mode reads a file's width and height from its header before decoding (issue 35), as the server does:
lesion/web/preprocess.js's headerSize against Pillow in Node, and in Chromium a 48 kB PNG of 20000x20000 refused at
once with the server's sentence, and every object URL of a preview revoked when the next one comes."""

from __future__ import annotations

import io
import time

from PIL import Image

import app
from lesion import i18n
from lesion.preprocess import FORMATS, MAX_PIXELS
from tools import bad_images, huge_images
from tests.e2e.test_hostile_files import WRITTEN
from tests.e2e.test_private_browser import LOAD_TIMEOUT_MS, _choose, private_page, served  # noqa: F401
from tests.app.test_private_mode import call_js, runtime_installed  # noqa: F401

REFUSED_WITHIN_S = 3


def _files() -> dict[str, bytes]:
    lesion = bad_images._lesion((97, 71))
    exif = Image.Exif()
    exif[0x0112] = 6
    return {
        "JPEG": bad_images.encode(lesion, "JPEG"),
        "progressive JPEG": bad_images.encode(lesion, "JPEG", progressive=True),
        "EXIF JPEG": bad_images.encode(lesion, "JPEG", exif=exif),
        "PNG": bad_images.encode(lesion, "PNG"),
        "16-bit PNG": bad_images.encode(Image.new("I;16", (97, 71)), "PNG"),
        "GIF": bad_images.encode(lesion, "GIF"),
        "lossy WebP": bad_images.encode(lesion, "WEBP"),
        "lossless WebP": bad_images.encode(lesion, "WEBP", lossless=True),
        "WebP with alpha": bad_images.encode(lesion.convert("RGBA"), "WEBP"),
        "BMP": bad_images.encode(lesion, "BMP"),
    }


def test_header_sizes_match_pillows_and_other_formats_are_refused(tmp_path):
    files = _files()
    hostile = {name: data for name, data in WRITTEN.items() if name not in (*FORMATS, "MPO")}
    hostile["garbage"] = b"this is not a picture at all"
    hostile["truncated JPEG"] = files["JPEG"][:20]
    huge = huge_images.zero_png("RGBA", 20000)  # 48 kB; Pillow itself would not open it (a decompression bomb)
    calls = [("preprocess", "headerSize", [list(data)]) for data in [*files.values(), huge, *hostile.values()]]
    results = call_js(tmp_path, *calls)
    for (name, data), result in zip(files.items(), results):
        with Image.open(io.BytesIO(data)) as image:
            assert (result["width"], result["height"]) == image.size, name
    assert results[len(files)] == {"format": "PNG", "width": 20000, "height": 20000}
    for name, result in zip(hostile, results[len(files) + 1:]):
        assert result is None, name


def test_a_huge_png_is_refused_from_its_header_at_once(browser, served, tmp_path):  # noqa: F811
    url, _ = served
    huge = tmp_path / "huge.png"
    huge.write_bytes(huge_images.zero_png("RGBA", 20000))
    with private_page(browser, url) as page:
        _choose(page, app.EXAMPLES_DIR / "ISIC_0034529.jpg")  # the runtime and model are loaded
        start = time.perf_counter()
        page.locator("#private-mode-file").set_input_files(str(huge))
        alert = page.locator("#private-mode .pm-alert")
        alert.get_by_text("20000x20000").wait_for(timeout=LOAD_TIMEOUT_MS)
        seconds = time.perf_counter() - start
        assert alert.locator("strong").inner_text() == i18n.message("title_too_large", "en")
    assert seconds < REFUSED_WITHIN_S
    assert 20000 * 20000 > MAX_PIXELS


def test_object_urls_of_previews_are_revoked(browser, served):  # noqa: F811
    url, _ = served
    counting = """
      window.__urls = {created: 0, revoked: 0};
      const create = URL.createObjectURL, revoke = URL.revokeObjectURL;
      URL.createObjectURL = (blob) => { window.__urls.created++; return create(blob); };
      URL.revokeObjectURL = (url) => { window.__urls.revoked++; return revoke(url); };
    """
    with private_page(browser, url, init_script=counting) as page:
        for name in ("ISIC_0034529.jpg", "ISIC_0034525.jpg", "ISIC_0034529.jpg"):
            _choose(page, app.EXAMPLES_DIR / name)
        urls = page.evaluate("window.__urls")
    assert urls["created"] >= 3 and urls["created"] - urls["revoked"] <= 1, urls
