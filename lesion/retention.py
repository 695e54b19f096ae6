"""Nothing of a visitor's is kept: the files a request leaves in Gradio's upload folder are deleted within minutes.

Uploads, the files that hold data: URLs, refused files and heatmaps (which show the photo) all live in Gradio's upload
folder, served at /gradio_api/file=<path> to anyone with the path. A caller needs them only until its answer has
been read: gradio_client and the page fetch the heatmap at once. A Sweeper thread deletes every file there older
than KEEP_S (and the folders left empty), except those the app itself keeps (its examples). Gradio's own
delete_cache is set to the same age, and empties the folder when the server stops.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

KEEP_ENV = "LESION_KEEP_FILES_S"
DEFAULT_KEEP_S = 300
"""Five minutes: long enough to read an answer and look at its heatmap, short enough that nothing piles up."""


def keep_seconds(environ=os.environ) -> float:
    """KEEP_S from the environment (seconds, at least 1), else DEFAULT_KEEP_S."""
    try:
        return max(1.0, float(environ.get(KEEP_ENV, DEFAULT_KEEP_S)))
    except ValueError:
        log.warning("%s=%r is not a number of seconds; using %d", KEEP_ENV, environ.get(KEEP_ENV), DEFAULT_KEEP_S)
        return float(DEFAULT_KEEP_S)


def sweep(folder: Path, age_s: float, keep: set[str] = frozenset(), now: float | None = None) -> int:
    """Delete the files under folder last changed more than age_s ago, except those in keep, and the folders this
    leaves empty; return how many files were deleted."""
    now = time.time() if now is None else now
    deleted = 0
    for directory, _, names in os.walk(folder, topdown=False):
        for name in names:
            path = os.path.join(directory, name)
            try:
                if path not in keep and now - os.lstat(path).st_ctime > age_s:
                    os.remove(path)
                    deleted += 1
            except FileNotFoundError:
                continue
        if directory != str(folder):
            try:
                if now - os.lstat(directory).st_ctime > age_s:  # not one just made for a file about to be written
                    os.rmdir(directory)  # only succeeds when empty
            except OSError:
                pass
    return deleted


class Sweeper:
    """A daemon thread that sweeps folder every every_s seconds."""

    def __init__(self, folder: Path, age_s: float, keep=lambda: set(), every_s: float | None = None):
        self.folder, self.age_s, self.keep = Path(folder), age_s, keep
        self.every_s = every_s or max(1.0, min(60.0, age_s / 2))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Sweeper:
        """Start sweeping, unless it already is."""
        if self._thread is None or not self._thread.is_alive():
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(self._stop,), name="lesion-sweeper", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.every_s):
            try:
                sweep(self.folder, self.age_s, self.keep())
            except Exception as error:  # noqa: BLE001 - a failed sweep must not end the sweeping
                log.warning("Could not sweep %s: %r", self.folder, error)
