"""Shared fixtures and markers. Nothing here needs ../shared or the network.

The folders mirror the code: tests/lesion (the inference package), tests/app (the page, API and private mode),
tests/training (the pipeline, marked `training`), tests/e2e (browser, Space, load and fuzz). A test is marked `slow`
when it trains the tiny run, drives Chromium or installs a Space, or when its module says so; `-m "not slow"` is the
fast part. `browser` marks every test that drives Chromium.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import huggingface_hub
import huggingface_hub.constants
import pytest
import skimage.data
from huggingface_hub.utils._http import default_client_factory
from PIL import Image

from tools.served_app import serving

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
TINY_DATASET = FIXTURES / "ham10000_tiny"
EXAMPLES = ROOT / "examples"
ARTIFACTS = ROOT / "test-artifacts"
"""Screenshots the browser tests save, to look at."""
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


TINY_TRAINING = [
    "--dataset", str(TINY_DATASET), "--head-epochs", "1", "--finetune-epochs", "1", "--batch-size", "8",
    "--validation-fraction", "0.25", "--test-fraction", "0.25", "--cache-dir", "none",
]
"""The tiny run's training flags: with them it is trained, resumed, trained again or averaged."""


SLOW_FIXTURES = {"tiny_run", "browser", "running_space"}
"""Fixtures that make a test slow: training the tiny run, starting Chromium, installing the Space in a fresh venv."""


def pytest_collection_modifyitems(items):
    training = Path(__file__).parent / "training"
    for item in items:
        if item.path.is_relative_to(training):
            item.add_marker(pytest.mark.training)
        if "browser" in item.fixturenames:
            item.add_marker(pytest.mark.browser)
        if SLOW_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One complete, tiny training run of the served recipe on the committed fixture: 1 head epoch, 1 fine-tuning
    epoch, every stage, with the examples as an external folder."""
    from training import train

    output = tmp_path_factory.mktemp("run")
    train.main([*TINY_TRAINING, "--output-dir", str(output), "--external", str(EXAMPLES)])
    return output


@pytest.fixture(scope="session")
def app_url():
    """The app with its bundled model, over real HTTP, shared by the API and browser tests."""
    import app

    with serving(app.build_demo()) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright; skipped without it, except in CI, where it must be there.

    One a module: Playwright's sync API runs an event loop while it is open, and training.benchmark (tests/training)
    starts a Playwright of its own, which cannot run inside another's loop."""
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is missing in CI (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def cat_photo(tmp_path_factory) -> Path:
    """A photo that is not dermoscopy (scikit-image's cat), as a PNG file: the guard must reject it."""
    path = tmp_path_factory.mktemp("photos") / "cat.png"
    Image.fromarray(skimage.data.chelsea()).save(path)
    return path


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty HF cache in tmp_path, the Hub online, and huggingface_hub's HTTP client restored afterwards."""
    cache = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    yield cache
    huggingface_hub.set_client_factory(default_client_factory)
