"""Model download: the real huggingface_hub code against a local cache and a local fake Hub (tests/fake_hub.py),
one fault at a time. Startup never waits longer than its deadline, and the Hub model replaces the fallback
once it arrives."""

import shutil
import time

import huggingface_hub.constants
import numpy as np
import pytest

from lesion.bundle import BUNDLED_DIR, InvalidBundleError
from lesion.hub import BUNDLED, CACHE, DEFAULT_TIMEOUT_S, HUB, ModelServer, hub_timeout
from tools import bad_images
from tools.served_app import free_port
from tests.fake_hub import COMMIT, REPO, FakeHub

DEADLINE_S = 1.0
"""The startup deadline in these tests (10 s in the app)."""
SLACK_S = 1.0
"""Loading a fallback model after the deadline takes well under a second."""
FAULTS = [("refused", None), ("500", "info"), ("404", "info"), ("500", "get"), ("stall", "info"), ("stall", "tree"),
          ("stall", "head"), ("stall", "get"), ("trickle", "get"), ("truncate", "get"), ("wrong-sha256", None),
          ("portal", None)]
"""(fault, step): see tests/fake_hub.FakeHub; "refused" is a port nobody listens on."""
INTERNALS = ("/", "http", "Error", "127.0.0.1", "Traceback", REPO)
"""What a reason shown to visitors must never contain: paths, URLs, exception names, the repo's cache folder."""
LESION = bad_images.encode(bad_images._lesion(), "PNG")


@pytest.fixture
def cached_copy(hub_cache):
    """The cache holding REPO at COMMIT, as an earlier download left it."""
    snapshot = hub_cache / f"models--{REPO.replace('/', '--')}" / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for name in ("config.json", "model.tflite"):
        shutil.copy(BUNDLED_DIR / name, snapshot / name)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text(COMMIT)
    return snapshot


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def point_at(monkeypatch, url: str) -> None:
    """What HF_ENDPOINT=url does at import time."""
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", url)
    monkeypatch.setattr(huggingface_hub.constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")


def start(**kwargs) -> tuple[ModelServer, float]:
    began = time.monotonic()
    server = ModelServer.start(REPO, timeout=DEADLINE_S, retry_delays=(0.2,), **kwargs)
    return server, time.monotonic() - began


def assert_plain(reason: str) -> None:
    assert reason and not any(word in reason for word in INTERNALS), reason


def test_no_repo_configured_serves_the_bundled_model(monkeypatch):
    monkeypatch.delenv("LESION_MODEL_REPO", raising=False)
    source = ModelServer.start().current
    assert source.origin == BUNDLED and source.reason == "no Hub model is configured"


def test_cached_hub_model_is_served_offline(cached_copy, offline):
    source = start()[0].current
    assert (source.origin, source.revision, source.bundle.directory) == (CACHE, COMMIT, cached_copy)
    assert_plain(source.reason)


def test_environment_names_the_repo(cached_copy, offline, monkeypatch):
    monkeypatch.setenv("LESION_MODEL_REPO", REPO)
    monkeypatch.setenv("LESION_MODEL_REVISION", "main")
    assert ModelServer.start().current.origin == CACHE


def test_corrupt_cached_model_falls_back_to_the_bundled_one(cached_copy, offline):
    (cached_copy / "model.tflite").write_bytes(b"corrupted in transit")
    source = start()[0].current
    assert source.origin == BUNDLED and "no verified copy" in source.reason


def test_uncached_repo_offline_falls_back(hub_cache, offline):
    source = ModelServer.start("someone/never-downloaded").current
    assert source.origin == BUNDLED and "switched off" in source.reason


def test_broken_bundled_model_stops_startup(tmp_path):
    with pytest.raises(InvalidBundleError, match="no config.json"):
        ModelServer.start("", bundled_dir=tmp_path)


@pytest.mark.parametrize("value, seconds", [(None, DEFAULT_TIMEOUT_S), ("2.5", 2.5), ("soon", DEFAULT_TIMEOUT_S),
                                            ("-1", DEFAULT_TIMEOUT_S), ("inf", DEFAULT_TIMEOUT_S)])
def test_deadline_comes_from_the_environment(monkeypatch, value, seconds):
    if value is None:
        monkeypatch.delenv("LESION_HUB_TIMEOUT", raising=False)
    else:
        monkeypatch.setenv("LESION_HUB_TIMEOUT", value)
    assert hub_timeout() == seconds


def test_healthy_hub_model_is_downloaded_verified_and_served(hub_cache, monkeypatch):
    with FakeHub() as hub:
        point_at(monkeypatch, hub.url)
        server, took = start()
    assert server.current.origin == HUB and server.current.revision == COMMIT
    assert took < DEADLINE_S and server.hub_installed.is_set()


@pytest.mark.parametrize("fault, step", FAULTS, ids=[f"{fault}-{step}" if step else fault for fault, step in FAULTS])
def test_every_hub_fault_serves_the_bundled_model_within_the_deadline(hub_cache, monkeypatch, fault, step):
    with FakeHub(None if fault == "refused" else fault, step or "info") as hub:
        point_at(monkeypatch, f"http://127.0.0.1:{free_port()}" if fault == "refused" else hub.url)
        server, took = start()
        try:
            assert took < DEADLINE_S + SLACK_S
            source = server.current
            assert source.origin == BUNDLED
            assert_plain(source.reason)
            assert source.classifier.classify(LESION).probabilities_array.sum() == pytest.approx(1)
        finally:
            server.stop()


def test_stalled_hub_serves_the_cached_copy(cached_copy, monkeypatch):
    with FakeHub("stall", "info") as hub:
        point_at(monkeypatch, hub.url)
        server, took = start()
        server.stop()
    assert server.current.origin == CACHE and took < DEADLINE_S + SLACK_S
    assert server.current.reason.startswith("the Hub did not answer within 1 s, so the copy downloaded earlier serves")


@pytest.mark.parametrize("fault, step", [("500", "info"), ("stall", "info"), ("wrong-sha256", None)])
def test_hub_model_is_swapped_in_once_the_hub_recovers(hub_cache, monkeypatch, fault, step):
    with FakeHub(fault, step or "info") as hub:
        point_at(monkeypatch, hub.url)
        server, _ = start()
        try:
            before = server.current
            assert before.origin == BUNDLED
            hub.heal()
            assert server.hub_installed.wait(30), hub.requests
        finally:
            server.stop()
    after = server.current
    assert after.origin == HUB and after.revision == COMMIT
    # a request that took the old model before the swap finishes on it, with the same answer as before
    assert np.array_equal(before.classifier.classify(LESION).probabilities_array,
                          after.classifier.classify(LESION).probabilities_array)
