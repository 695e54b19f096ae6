"""Find the model to serve: the Hub repo named by the environment, else its cached copy, else the bundled model.

A Hub that is slow, down or answering nonsense never keeps the app from starting: every Hub call at startup runs
under one deadline, after which the app serves what it has and keeps trying in the background.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import httpx2
from huggingface_hub import HfApi, constants, set_client_factory, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils._http import default_client_factory

from lesion.bundle import BUNDLED_DIR, CONFIG_FILE, MODEL_FILE, InvalidBundleError, ModelBundle, load_bundle
from lesion.classifier import Classifier

log = logging.getLogger(__name__)

REPO_ENV = "LESION_MODEL_REPO"
"""Hub model repo id to serve, for example `your-name/ham10000-efficientnet-lite0`. Unset: the bundled model."""
REVISION_ENV = "LESION_MODEL_REVISION"
"""Optional branch, tag or commit of that repo to pin."""
TIMEOUT_ENV = "LESION_HUB_TIMEOUT"
"""Seconds that startup waits for the Hub, over all its calls together."""
DEFAULT_TIMEOUT_S = 10.0
RETRY_DELAYS_S = (30.0, 60.0, 120.0, 300.0, 900.0)
"""Waits between background attempts after a failed one; the last repeats for as long as the app runs."""
INFERENCE_THREADS = 2
"""LiteRT threads: a free Space has 2 vCPUs, whatever os.cpu_count() says about the host."""

HUB_FILES = [CONFIG_FILE, MODEL_FILE, f"browser/{CONFIG_FILE}", f"browser/{MODEL_FILE}"]
"""What is downloaded of a model repo: the model, and its browser variant for private mode (lesion.private_mode)."""

HUB, CACHE, BUNDLED = "hub", "cache", "bundled"
"""Where a served model comes from: downloaded from the Hub just now, the Hub model's copy in the local cache
(downloaded earlier), or the model that ships with the app."""


@dataclass(frozen=True)
class ModelSource:
    classifier: Classifier
    origin: str  # HUB, CACHE or BUNDLED
    revision: str | None
    reason: str
    """Why this model, in plain words for visitors: no paths, URLs or error texts (those go to the log)."""

    @property
    def bundle(self) -> ModelBundle:
        return self.classifier.bundle

    def describe(self) -> str:
        """One sentence for the log."""
        return f"Serving {self.bundle.name} {self.bundle.version} from {self.origin}: {self.reason}"


class ModelServer:
    """The model that answers requests now.

    Each request reads `current` once and runs on that model to the end. When a background download from the
    Hub succeeds, `current` is replaced in one assignment: requests already running finish on the old model.
    """

    def __init__(self, source: ModelSource | None = None):
        self._current = source
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self.hub_installed = threading.Event()
        """Set once a model downloaded from the Hub serves."""
        self.last_failure: str | None = None
        """Why the latest attempt to use the Hub failed, in plain words."""

    @property
    def current(self) -> ModelSource:
        return self._current

    def _install(self, source: ModelSource, *, unless_serving: bool = False) -> None:
        with self._lock:
            if unless_serving and self._current is not None:
                return
            self._current = source
        log.info(source.describe())

    def stop(self) -> None:
        """Stop trying the Hub in the background (a download in progress still ends on its own)."""
        self._stopped.set()

    @classmethod
    def start(cls, repo_id: str | None = None, revision: str | None = None, *, bundled_dir: Path = BUNDLED_DIR,
              timeout: float | None = None, retry_delays: tuple[float, ...] = RETRY_DELAYS_S) -> ModelServer:
        """Serve the Hub model if it arrives within the deadline, else the cached copy or the bundled model, and
        keep trying the Hub in the background until it arrives.

        Arguments default to the environment: LESION_MODEL_REPO, LESION_MODEL_REVISION and LESION_HUB_TIMEOUT.
        With `HF_HUB_OFFLINE=1`, only the local cache is used and nothing is retried.

        Raises:
            InvalidBundleError: the bundled model itself is missing or broken, so nothing can be served.
        """
        repo_id = repo_id if repo_id is not None else os.environ.get(REPO_ENV, "").strip()
        revision = revision if revision is not None else (os.environ.get(REVISION_ENV, "").strip() or None)
        timeout = timeout if timeout is not None else hub_timeout()
        if not repo_id:
            log.info("%s is not set: serving the bundled model", REPO_ENV)
            return cls(_bundled(bundled_dir, "no Hub model is configured"))
        if constants.HF_HUB_OFFLINE:
            log.info("HF_HUB_OFFLINE is set: %s is taken from the local cache only", repo_id)
            return cls(_cached_or_bundled(repo_id, revision, bundled_dir, "the Hub is switched off", retrying=False))
        server = cls()
        set_client_factory(lambda: _client_with_timeout(timeout))
        attempted = threading.Event()
        fetcher = threading.Thread(target=server._keep_fetching, args=(repo_id, revision, timeout, retry_delays, attempted),
                                   name="hub-model-fetcher", daemon=True)
        fetcher.start()
        if not attempted.wait(timeout):
            log.warning("the Hub gave no model for %s within %.0f s; serving without it and trying on", repo_id, timeout)
            why = f"the Hub did not answer within {timeout:g} s"
        else:
            why = server.last_failure
        if not server.hub_installed.is_set():
            server._install(_cached_or_bundled(repo_id, revision, bundled_dir, why, retrying=True), unless_serving=True)
        return server

    def _keep_fetching(self, repo_id: str, revision: str | None, timeout: float, retry_delays: tuple[float, ...],
                       attempted: threading.Event) -> None:
        force_download = False
        for attempt in itertools.count():
            try:
                source = _download(repo_id, revision, timeout, force_download)
            except Exception as error:  # any fault of the Hub or of what it sent: log it, serve on, try again later
                delay = retry_delays[min(attempt, len(retry_delays) - 1)]
                log.warning("the Hub model %s could not be used (%s: %s); next attempt in %.0f s",
                            repo_id, type(error).__name__, error, delay)
                self.last_failure = plain_reason(error)
                attempted.set()
                force_download = isinstance(error, InvalidBundleError)  # a bad file in the cache is fetched anew
                if self._stopped.wait(delay):
                    return
                continue
            self._install(source)
            self.hub_installed.set()
            attempted.set()
            return


def hub_timeout() -> float:
    """LESION_HUB_TIMEOUT in seconds; DEFAULT_TIMEOUT_S when it is unset or not a positive number (with a warning:
    a typo in a setting must not keep the app from starting)."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        value = float(text) if text else DEFAULT_TIMEOUT_S
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        log.warning("%s=%r is not a positive number of seconds; using %g", TIMEOUT_ENV, text, DEFAULT_TIMEOUT_S)
        return DEFAULT_TIMEOUT_S
    return value


def plain_reason(error: Exception) -> str:
    """What went wrong with the Hub, in words for a visitor: no paths, URLs or error texts."""
    if isinstance(error, InvalidBundleError):
        return "the model downloaded from the Hub failed its integrity check"
    if isinstance(error, (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError)):
        return "the Hub does not have the configured model"
    if isinstance(error, HfHubHTTPError):
        return "the Hub answered with an error"
    if isinstance(error, (httpx2.HTTPError, OSError)):
        return "the Hub could not be reached"
    return "the Hub's answer could not be used"


def _download(repo_id: str, revision: str | None, timeout: float, force_download: bool) -> ModelSource:
    """The Hub model, downloaded (or found up to date in the cache) and verified.

    model_info comes first because it fails when the Hub cannot be asked, where snapshot_download would quietly
    return an older cached copy.
    """
    HfApi().model_info(repo_id, revision=revision, timeout=timeout)
    path = Path(snapshot_download(repo_id, revision=revision, allow_patterns=HUB_FILES,
                                  force_download=force_download, etag_timeout=timeout))
    return ModelSource(Classifier(load_bundle(path), num_threads=INFERENCE_THREADS), HUB, path.name,
                       "the latest model from the Hub")


def _cached_or_bundled(repo_id: str, revision: str | None, bundled_dir: Path, why: str, *, retrying: bool) -> ModelSource:
    """The Hub model's cached copy if it is complete and verified, else the bundled model; the reason says why."""
    later = "; the app switches to the Hub model as soon as it arrives" if retrying else ""
    try:
        path = Path(snapshot_download(repo_id, revision=revision, allow_patterns=HUB_FILES,
                                      local_files_only=True))
        classifier = Classifier(load_bundle(path), num_threads=INFERENCE_THREADS)
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, InvalidBundleError, OSError, ValueError) as error:
        log.info("no usable cached copy of %s (%s: %s)", repo_id, type(error).__name__, error)
        return _bundled(bundled_dir, f"{why}, and no verified copy from an earlier download is here, so the model that ships with the app serves{later}")
    return ModelSource(classifier, CACHE, path.name, f"{why}, so the copy downloaded earlier serves{later}")


def _bundled(bundled_dir: Path, reason: str) -> ModelSource:
    return ModelSource(Classifier(load_bundle(bundled_dir), num_threads=INFERENCE_THREADS), BUNDLED, None, reason)


def _client_with_timeout(timeout: float) -> httpx2.Client:
    """huggingface_hub's own HTTP client, with a timeout on every connect and read: by default it has none, so a
    Hub that accepts the connection and never answers would hold a download forever."""
    client = default_client_factory()
    client.timeout = httpx2.Timeout(timeout)
    return client

