"""Find the model to serve: the Hub repo named by the environment, else the bundled model, always saying why."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import httpx2
from huggingface_hub import snapshot_download
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

from lesion.bundle import BUNDLED_DIR, CONFIG_FILE, MODEL_FILE, InvalidBundleError, ModelBundle, load_bundle
from lesion.classifier import Classifier

log = logging.getLogger(__name__)

REPO_ENV = "LESION_MODEL_REPO"
"""Hub model repo id to serve, for example `your-name/ham10000-efficientnet-lite0`. Unset: the bundled model."""
REVISION_ENV = "LESION_MODEL_REVISION"
"""Optional branch, tag or commit of that repo to pin."""


INFERENCE_THREADS = 2
"""LiteRT threads: a free Space has 2 vCPUs, whatever os.cpu_count() says about the host."""


@dataclass(frozen=True)
class ModelSource:
    classifier: Classifier
    origin: str  # "hub" or "bundled"
    revision: str | None
    reason: str

    @property
    def bundle(self) -> ModelBundle:
        return self.classifier.bundle

    def describe(self) -> str:
        """One sentence for the log and the page."""
        return f"Serving {self.bundle.name} {self.bundle.version} from {self.origin}: {self.reason}"


def resolve_model(repo_id: str | None = None, revision: str | None = None, *, bundled_dir: Path = BUNDLED_DIR) -> ModelSource:
    """Download (or take from the cache) the Hub bundle and load it; fall back to the bundled one if either fails.

    `HF_HUB_OFFLINE=1` is honoured by huggingface_hub: only the local cache is used.
    Arguments default to the environment variables LESION_MODEL_REPO and LESION_MODEL_REVISION.

    Raises:
        InvalidBundleError: the bundled model itself is missing or broken, so nothing can be served.
    """
    repo_id = repo_id if repo_id is not None else os.environ.get(REPO_ENV, "").strip()
    revision = revision if revision is not None else (os.environ.get(REVISION_ENV, "").strip() or None)
    if repo_id:
        try:
            path = Path(snapshot_download(repo_id, revision=revision, allow_patterns=[CONFIG_FILE, MODEL_FILE]))
            classifier = Classifier(load_bundle(path), num_threads=INFERENCE_THREADS)
            source = ModelSource(classifier, "hub", path.name, f"downloaded {repo_id} at revision {path.name[:12]}")
            log.info(source.describe())
            return source
        except (HfHubHTTPError, httpx2.HTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled, InvalidBundleError, OSError, ValueError) as error:
            reason = f"the Hub model {repo_id} could not be used ({type(error).__name__}: {_first_line(error)})"
            log.warning("%s; falling back to the bundled model", reason)
    else:
        reason = f"no Hub model configured (set {REPO_ENV} to serve one)"
    source = ModelSource(Classifier(load_bundle(bundled_dir), num_threads=INFERENCE_THREADS), "bundled", None, reason)
    log.info(source.describe())
    return source


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "no details"
