"""Model download: Hub snapshot through the real huggingface_hub code, tested offline with a local cache."""

import shutil

import huggingface_hub.constants
import pytest

from lesion.bundle import BUNDLED_DIR, InvalidBundleError
from lesion.hub import resolve_model

REPO = "lesion-demo/ham10000-efficientnet-lite0"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An HF cache holding REPO at COMMIT (as a download would leave it), with the Hub offline."""
    cache = tmp_path / "hub"
    repo = cache / f"models--{REPO.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for name in ("config.json", "model.tflite"):
        shutil.copy(BUNDLED_DIR / name, snapshot / name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return snapshot


def test_no_repo_configured_serves_the_bundled_model(monkeypatch):
    monkeypatch.delenv("LESION_MODEL_REPO", raising=False)
    source = resolve_model()
    assert source.origin == "bundled" and "LESION_MODEL_REPO" in source.reason
    assert "bundled" in source.describe()


def test_cached_hub_model_is_served_offline(hub_cache):
    source = resolve_model(REPO)
    assert source.origin == "hub"
    assert source.revision == COMMIT
    assert source.bundle.directory == hub_cache


def test_environment_names_the_repo(hub_cache, monkeypatch):
    monkeypatch.setenv("LESION_MODEL_REPO", REPO)
    monkeypatch.setenv("LESION_MODEL_REVISION", "main")
    assert resolve_model().origin == "hub"


def test_corrupt_hub_model_falls_back_and_says_why(hub_cache):
    (hub_cache / "model.tflite").write_bytes(b"corrupted in transit")
    source = resolve_model(REPO)
    assert source.origin == "bundled"
    assert "sha256" in source.reason and REPO in source.reason


def test_uncached_repo_offline_falls_back(hub_cache):
    source = resolve_model("someone/never-downloaded")
    assert source.origin == "bundled" and "could not be used" in source.reason


def test_unreachable_hub_falls_back(monkeypatch, tmp_path):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    source = resolve_model(REPO)
    assert source.origin == "bundled" and REPO in source.reason


def test_broken_bundled_model_stops_startup(tmp_path):
    with pytest.raises(InvalidBundleError, match="no config.json"):
        resolve_model("", bundled_dir=tmp_path)
