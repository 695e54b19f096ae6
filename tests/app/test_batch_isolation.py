"""/classify_batch over HTTP (issue 35): what Gradio, Pillow or the classifier refuses fails only its own request,
with the app's sentence in the caller's language, and the good requests batched with it are answered as if alone."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

import app
from lesion import i18n
from tests.e2e.test_hostile_files import WRITTEN
from training.benchmark import call_api

GOOD = app.EXAMPLES_DIR / "ISIC_0034525.jpg"
FILE = {"_type": "gradio.FileData"}


def data_url(data: bytes) -> dict:
    return {"url": "data:image/jpeg;base64," + base64.b64encode(data).decode(), "meta": FILE}


def call(server: str, api_name: str, item, language: str = "en") -> tuple[str, object]:
    with httpx.Client(base_url=server, timeout=60, headers={"Accept-Language": language}) as http:
        return call_api(http, api_name, item)


def sentence(key: str, item: dict, language: str) -> str:
    return i18n.message(key, language, url=item.get("url", ""))


HOSTILE = {
    "a path on the server": ({"path": "/etc/passwd", "meta": FILE}, "not_uploaded"),
    "a BLP file named lesion.jpg": (data_url(WRITTEN["BLP"]), "not_image"),
    "a DDS file": (data_url(WRITTEN["DDS"]), "not_image"),
    "a loopback URL": ({"url": "http://127.1/lesion.jpg", "meta": FILE}, "not_downloaded"),
    "not a file at all": ({"meta": {"_type": "nonsense"}, "x": 1}, "no_image"),
}


@pytest.mark.parametrize("language", ["en", "es"])
def test_each_bad_item_fails_alone_with_the_apps_sentence(app_url, language):
    good = data_url(GOOD.read_bytes())
    alone = call(app_url, "classify_batch", good)[1][0]
    items = [good, *(item for item, _ in HOSTILE.values()), good, good]
    with ThreadPoolExecutor(len(items)) as pool:
        answers = list(pool.map(lambda item: call(app_url, "classify_batch", item, language), items))
    assert all(event == "complete" for event, _ in answers), answers
    answers = [answer[0] for _, answer in answers]
    for (name, (item, key)), answer in zip(HOSTILE.items(), answers[1:-2]):
        assert answer == {"error": sentence(key, item, language)}, name
    for answer in (answers[0], *answers[-2:]):
        assert answer["probabilities"] == pytest.approx(alone["probabilities"], abs=1e-6)


@pytest.mark.parametrize("api_name", ["classify", "predict"])
def test_what_gradio_refuses_reaches_a_single_caller_as_the_apps_sentence(app_url, api_name):
    for item, key in HOSTILE.values():
        event, answer = call(app_url, api_name, item, "id")
        assert event == "error" and answer["error"], (item, answer)
        assert answer["error"] == sentence(key, item, "id"), (item, answer)


def test_a_full_queue_is_refused_in_the_apps_sentence(app_url, monkeypatch):
    """Gradio's own "Queue is full. Max size is 64" becomes the app's sentence, in the caller's language."""
    from gradio.queueing import Queue

    monkeypatch.setattr(Queue, "__len__", lambda self: 10_000)
    with httpx.Client(base_url=app_url, timeout=60, headers={"Accept-Language": "es"}) as http:
        answer = http.post("/gradio_api/call/classify", json={"data": [data_url(GOOD.read_bytes())]})
    assert answer.status_code == 503
    assert answer.json()["detail"] == i18n.message("queue_full", "es", size=10_000)


def test_images_over_the_served_pixel_cap_are_refused_from_their_header(app_url):
    """lesion.limits.MAX_PIXELS (25 MP), below what training decodes: a 5001x5000 PNG is refused before decoding,
    and private mode is told the same cap."""
    from lesion import limits
    from tools import huge_images

    over = huge_images.zero_png("RGBA", 5001)
    event, answer = call(app_url, "classify", data_url(over))
    assert event == "error"
    assert answer["error"] == i18n.message("too_large", "en", width=5001, height=5001, megapixels=25)
    settings = httpx.get(app_url + "private-mode/settings.json", timeout=30).json()
    assert settings["rules"]["max_pixels"] == limits.MAX_PIXELS == 25_000_000
