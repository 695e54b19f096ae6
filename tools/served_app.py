"""The app served on a loopback port: `python app.py` as a subprocess, with its resident memory read from /proc
(Linux), or a demo launched in this process (serving)."""

from __future__ import annotations

import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from training.benchmark import app_process, process_memory_mb

START_TIMEOUT_S = 120
"""Importing Gradio on a busy 2-core machine takes a while; a server that is not up by then has failed."""


class ServedApp:
    """A running `python app.py`: its URL, its process, and its memory."""

    def __init__(self, process: subprocess.Popen, url: str, log: Path):
        self.process, self.url, self.log = process, url, log

    def _status_mb(self, field: str) -> float:
        memory = process_memory_mb(self.process.pid, field)
        if memory is None:
            raise RuntimeError(f"/proc/{self.process.pid}/status has no {field}")
        return memory

    def rss_mb(self) -> float:
        """Resident memory now."""
        return self._status_mb("VmRSS")

    def peak_rss_mb(self) -> float:
        """Highest resident memory since start or since the last reset_peak()."""
        return self._status_mb("VmHWM")

    def reset_peak(self) -> None:
        """Start a new peak measurement from the current resident memory (Linux's clear_refs)."""
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def alive(self) -> bool:
        return self.process.poll() is None and httpx.get(self.url, timeout=10).status_code == 200


@contextmanager
def served_app(log_dir: Path, env: dict[str, str] | None = None):
    """Start `python app.py` offline on the bundled model (unless env says otherwise); yield it once it answers HTTP."""
    env = {"HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "LESION_MODEL_REPO": "", **(env or {})}
    log = log_dir / f"app-{time.time_ns()}.log"
    with app_process(env, log) as running:
        url = running.url + "/"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if running.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the app did not start:\n{log.read_text()}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        yield ServedApp(running.process, url, log)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(demo):
    """Launch a demo built by app.build_demo in this process; yield its URL; close it afterwards."""
    import app

    port = free_port()
    app.launch(demo, prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
