"""The Space: built into a folder, installed into a clean virtual environment from its own requirements,
started as a subprocess offline, and used through gradio_client, and in a real browser through Gradio's web
component and an iframe."""

from __future__ import annotations

import functools
import hashlib
import os
import re
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import gradio
import httpx
import pytest
import yaml
from gradio_client import Client, handle_file

from lesion import private_mode
from space import build
from tests.conftest import ARTIFACTS, ROOT
from tools.served_app import free_port

SPACE_URL = "https://lesion-demo-skin-lesion-classifier.hf.space"
EMBED_PAGE = Path(build.__file__).parent / "embed.html"
FRONTEND = Path(gradio.__file__).parent / "templates" / "frontend"
"""The gradio wheel's own web frontend: gradio.js and its assets, what the CDN serves for this version."""


def _pin(package: str) -> str:
    text = (ROOT / "requirements.txt").read_text()
    return re.search(rf"^{package}==(\S+)$", text, re.MULTILINE).group(1)


def test_space_card_metadata():
    front_matter = yaml.safe_load(build.CARD.read_text().split("---")[1])
    assert front_matter["sdk"] == "gradio"
    assert front_matter["sdk_version"] == _pin("gradio")
    assert front_matter["app_file"] == "app.py"
    assert front_matter["license"] == "cc-by-nc-4.0"
    assert front_matter["models"] and front_matter["datasets"]
    assert len(front_matter["short_description"]) <= 60
    for key in ("title", "emoji", "colorFrom", "colorTo", "python_version", "tags"):
        assert front_matter[key], key


def test_space_requirements_are_pinned_and_leave_out_tensorflow():
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    requirements = [line for line in lines if line and not line.startswith("#")]
    assert all("==" in line for line in requirements)
    packages = {line.split("==")[0].lower() for line in requirements}
    assert not packages & {"tensorflow", "tensorflow-cpu", "keras", "tf-keras"}
    assert {"gradio", "ai-edge-litert"} <= packages


def test_dry_run_lists_without_writing(tmp_path, capsys):
    build.main([str(tmp_path / "out"), "--dry-run"])
    printed = capsys.readouterr().out
    assert "would include app.py" in printed and "lesion/bundled_model/model.tflite" in printed
    assert "node_modules/@litertjs/core/wasm/litert_wasm_internal.wasm" in printed and "lesion/web/private-mode.js" in printed
    assert not (tmp_path / "out").exists()


def test_build_refuses_to_replace_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "thesis.tex").write_text("years of work")
    with pytest.raises(FileExistsError, match="not an earlier Space build"):
        build.build(tmp_path)
    assert (tmp_path / "thesis.tex").exists()


def test_rebuilding_replaces_an_earlier_build(tmp_path):
    build.build(tmp_path / "out")
    (tmp_path / "out" / "app.pyi").write_text("left by a run")
    assert build.build(tmp_path / "out")


def test_push_without_token_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(SystemExit, match="No Hugging Face token"):
        build.main([str(tmp_path / "out"), "--push", "someone/space"])


@pytest.fixture(scope="module")
def running_space(tmp_path_factory):
    """The built Space, started from its own folder in a fresh venv, with the Hub offline."""
    out = tmp_path_factory.mktemp("space") / "out"
    names = build.build(out)
    assert sorted({name.split("/")[0] for name in names}) == ["README.md", "app.py", "examples", "lesion", "node_modules",
                                                             "requirements.txt"]
    venv = out.parent / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(out / "requirements.txt")], check=True)
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(out.parent), "HF_HUB_OFFLINE": "1", "PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False",
           "LESION_FRAME_ANCESTORS": "http://127.0.0.1:*"}  # embed_page's origin, as README says to add one's own site
    log = open(out.parent / "space.log", "w")
    process = subprocess.Popen([str(python), "app.py"], cwd=out, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail(f"the Space did not start:\n{(out.parent / 'space.log').read_text()}")
    yield url, out
    process.terminate()
    process.wait(timeout=30)


def test_built_space_runs_from_its_own_folder(running_space):
    url, out = running_space
    result = Client(url, verbose=False).predict(handle_file(str(out / "examples" / "ISIC_0034525.jpg")), api_name="/classify")[0]
    assert result["model"]["source"] == "bundled"
    assert sum(result["probabilities"].values()) == pytest.approx(1, abs=1e-6)


def test_built_space_has_private_mode_with_its_runtime_checked(running_space):
    _, out = running_space
    assert private_mode.check_runtime(out / "node_modules") and (out / "lesion" / "web" / "private-mode.js").is_file()
    assert "Apache License" in (out / "lesion" / "web" / "LiteRT.js-LICENSE.txt").read_text()
    assert all(path.stat().st_size < 10e6 for path in out.rglob("*") if path.is_file()), "Spaces take up to 10 MB a file"


def test_built_space_serves_private_mode_from_its_own_origin(running_space):
    url, _ = running_space
    settings_url = httpx.URL(url).join("private-mode/settings.json")
    settings = httpx.get(settings_url).json()
    assert settings["available"], settings.get("reason")
    variant = settings["runtime"]["variants"]["simd"]
    for path, sha256 in [(settings["app"], None), (settings["runtime"]["module"], None), (variant["script"], None),
                         (variant["wasm"], variant["sha256"]), (settings["model"]["url"], settings["model"]["sha256"])]:
        response = httpx.get(settings_url.join(path))
        assert response.status_code == 200, path
        assert sha256 is None or hashlib.sha256(response.content).hexdigest() == sha256, path


def _gradio_js() -> str:
    return f"https://gradio.s3-us-west-2.amazonaws.com/{_pin('gradio')}/gradio.js"


def test_embed_page_and_readme_load_the_pinned_gradio_js():
    readme = (ROOT / "README.md").read_text()
    assert f'<script type="module" src="{_gradio_js()}"></script>' in EMBED_PAGE.read_text()
    assert f'<script type="module" src="{_gradio_js()}"></script>' in readme


class _StaticFiles(SimpleHTTPRequestHandler):
    def end_headers(self):
        self.send_header("Access-Control-Allow-Origin", "*")  # as the CDN does, for the module script's imports
        super().end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def embed_page(running_space, tmp_path_factory) -> str:
    """space/embed.html served from a local server beside gradio.js and its assets (standing in for the CDN),
    pointed at the running Space."""
    url, _ = running_space
    root = tmp_path_factory.mktemp("cdn")
    for entry in FRONTEND.iterdir():
        (root / entry.name).symlink_to(entry)
    port = free_port()
    static = f"http://127.0.0.1:{port}"
    # gradio.js sits at the server's root: its assets preload "./assets/..." relative to the embedding page.
    (root / "embed.html").write_text(EMBED_PAGE.read_text().replace(_gradio_js(), f"{static}/gradio.js")
                                     .replace(SPACE_URL, url.rstrip("/")))
    server = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_StaticFiles, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"{static}/embed.html"
    server.shutdown()


def _first_examples_loaded(root, count: int = 7) -> None:
    """Wait until the first row of example thumbnails has loaded (they load lazily), for a screenshot worth seeing."""
    images = root.locator("#examples img")
    for index in range(count):
        images.nth(index).wait_for()
        # Lazy images load only near the viewport, and an embed may sit far below it: load them now.
        images.nth(index).evaluate("image => { image.loading = 'eager'; return image.complete && image.naturalWidth > 0 || "
                                   "new Promise((resolve, reject) => { image.onload = resolve; image.onerror = reject; }); }")


def test_embed_page_web_component_classifies_an_example(embed_page, browser):
    page = browser.new_page(viewport={"width": 1200, "height": 1600})
    failed = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
    page.goto(embed_page)
    component = page.locator("gradio-app")
    component.get_by_text("Research demo, not a diagnosis").first.wait_for(timeout=60_000)
    component.locator("#examples img").nth(12).click()  # the first melanoma
    component.locator("#timing-box").get_by_text("this image").first.wait_for(timeout=30_000)
    assert "Melanoma (mel)" in component.locator("#probabilities").inner_text()
    assert not [url for url in failed if "gradio.s3" in url or "/assets/" in url], failed
    _first_examples_loaded(component)
    component.screenshot(path=ARTIFACTS / "embedded-web-component.png")
    page.close()


def _embedded(browser, embed_page):
    """A page showing embed.html, and the app's iframe in it."""
    page = browser.new_page(viewport={"width": 1200, "height": 1600})
    page.goto(embed_page)
    return page, page.frame_locator("#lesion-demo")


def test_embed_page_iframe_classifies_an_example(embed_page, running_space, browser):
    _, out = running_space
    page, frame = _embedded(browser, embed_page)
    frame.locator("#lesion-image input[type=file]").set_input_files(str(out / "examples" / "ISIC_0034529.jpg"))
    frame.get_by_text("this image").wait_for(timeout=30_000)
    _first_examples_loaded(frame)
    page.locator("#lesion-demo").screenshot(path=ARTIFACTS / "embedded.png")
    page.close()


def test_private_mode_works_inside_the_iframe_that_spaces_show(embed_page, running_space, browser):
    _, out = running_space
    page, frame = _embedded(browser, embed_page)
    frame.locator("#private-mode-toggle").check(timeout=60_000)
    frame.locator("#private-mode-file").set_input_files(str(out / "examples" / "ISIC_0034529.jpg"))
    frame.locator("#private-mode-result[data-result]").wait_for(timeout=120_000)
    assert "Melanoma (mel)" in frame.locator("#private-mode-probabilities").inner_text()
    page.locator("#lesion-demo").screenshot(path=ARTIFACTS / "embedded-private-mode.png")
    page.close()

