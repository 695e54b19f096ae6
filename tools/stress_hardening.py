"""Issue 35's three figures against `python app.py` on 127.0.0.1: the server's memory after 20 oversize requests,
a visitor's latency while one client floods the queue, and the upload folder after 100 requests.

    python -m tools.stress_hardening      # prints the three figures (about a minute on a 2-core machine)
"""

from __future__ import annotations

import base64
import io
import socket
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
from PIL import Image

from tools.served_app import served_app
from training.benchmark import call_api

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ISIC_0034525.jpg"
OVERSIZE_MB = 60
KEEP_S = 3
"""The served app's LESION_KEEP_FILES_S in these measurements: files go after 3 s instead of 5 minutes."""
FLOOD = 68
"""Requests the flooding client sends at once (issue 35: 68 filled the queue of 64)."""
FLOODER, VISITOR = "127.0.0.2", "127.0.0.3"
"""Loopback addresses the two clients send from, so that the server tells them apart by address."""


def env(temp_dir: Path) -> dict[str, str]:
    return {"GRADIO_TEMP_DIR": str(temp_dir), "LESION_KEEP_FILES_S": str(KEEP_S)}


def _raw(url: str, head: str, body_chunks, chunked: bool) -> tuple[int, int]:
    """Send a request over a plain socket; (HTTP status, body bytes sent before the server answered or closed)."""
    parts = urlsplit(url)
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in body_chunks:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
                sent += len(chunk)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed before the whole body was sent
        answer = b""
        try:
            while b"\r\n" not in answer:
                data = sock.recv(4096)
                if not data:
                    break
                answer += data
        except OSError:
            pass
    status = int(answer.split(b" ")[1]) if answer.startswith(b"HTTP/") else 0
    return status, sent


def oversize_call(url: str, chunked: bool) -> tuple[int, int]:
    """POST /gradio_api/call/classify with a 60 MB data: URL: said in Content-Length, or sent chunked."""
    size = OVERSIZE_MB * 2**20
    chunk = b"A" * 2**20
    host = urlsplit(url).netloc
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    head = (f"POST /gradio_api/call/classify HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"{length}\r\nConnection: close\r\n\r\n")
    chunks = [b'{"data": [{"url": "data:image/jpeg;base64,', *([chunk] * OVERSIZE_MB)]
    return _raw(url, head, chunks, chunked)


def memory_after_oversize_calls(app, calls: int = 20) -> dict:
    """RSS before and after `calls` oversize requests, half of them chunked; each answered 413 without reading."""
    httpx.get(app.url + "config", timeout=30)
    before = app.rss_mb()
    answers = [oversize_call(app.url, chunked=i % 2 == 1) for i in range(calls)]
    time.sleep(1)
    after = app.rss_mb()
    return {"before_mb": before, "after_mb": after, "statuses": sorted({status for status, _ in answers}),
            "most_sent_mb": max(sent for _, sent in answers) / 2**20}


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (180, 120, 100)).save(buffer, "PNG")
    return buffer.getvalue()


def _client(url: str, address: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=120, transport=httpx.HTTPTransport(local_address=address))


def visitor_latency_during_flood(app, side: int = 4800) -> dict:
    """One client uploads a small PNG that decodes to side x side and sends FLOOD requests naming it at once; a
    visitor from another address then classifies a normal photo. Returns the visitor's seconds and the flood's
    accepted and refused counts."""
    with _client(app.url, FLOODER) as flooder, _client(app.url, VISITOR) as visitor:
        upload = flooder.post("/gradio_api/upload", files={"files": ("big.png", _png(side, side), "image/png")})
        upload.raise_for_status()
        item = {"path": upload.json()[0], "meta": {"_type": "gradio.FileData"}}
        with ThreadPoolExecutor(16) as pool:
            calls = list(pool.map(lambda _: flooder.post("/gradio_api/call/classify", json={"data": [item]}), range(FLOOD)))
        accepted = [call for call in calls if call.status_code == 200]
        refused = [call for call in calls if call.status_code != 200]
        photo = {"url": "data:image/jpeg;base64," + base64.b64encode(EXAMPLE.read_bytes()).decode(),
                 "meta": {"_type": "gradio.FileData"}}
        start = time.perf_counter()
        event, answer = call_api(visitor, "classify", photo)
        latency = time.perf_counter() - start
    return {"visitor_s": latency, "visitor_event": event, "accepted": len(accepted), "refused": len(refused),
            "refusal": refused[0].json().get("detail") if refused else None}


def files_under(folder: Path) -> int:
    return sum(1 for path in folder.rglob("*") if path.is_file())


def temp_folder_over_requests(app, temp_dir: Path, requests: int = 100) -> dict:
    """Files in the upload folder before, right after, and KEEP_S + a sweep after `requests` requests: uploads,
    data: URLs and refused files, with their heatmaps fetched as a caller would."""
    photo = EXAMPLE.read_bytes()
    rng = np.random.default_rng(0)
    before = files_under(temp_dir)
    with httpx.Client(base_url=app.url, timeout=120) as client:
        for i in range(requests):
            data = photo[:-2] + bytes(rng.integers(0, 256, 2, dtype=np.uint8))  # a new file each time
            if i % 3 == 0:
                path = client.post("/gradio_api/upload", files={"files": ("lesion.jpg", data, "image/jpeg")}).json()[0]
                item = {"path": path, "meta": {"_type": "gradio.FileData"}}
            elif i % 3 == 1:
                item = {"url": "data:image/jpeg;base64," + base64.b64encode(data).decode(), "meta": {"_type": "gradio.FileData"}}
            else:
                item = {"url": "data:image/jpeg;base64," + base64.b64encode(b"not an image" + data[:50]).decode(),
                        "meta": {"_type": "gradio.FileData"}}
            event, answer = call_api(client, "classify", item)
            if event == "complete":
                client.get(answer[1]["url"]).raise_for_status()
    right_after = files_under(temp_dir)
    time.sleep(KEEP_S + max(1, KEEP_S / 2) + 1)
    return {"before": before, "right_after": right_after, "settled": files_under(temp_dir)}


def main():
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "gradio").mkdir()
        with served_app(folder, env(folder / "gradio")) as app:
            print("memory after 20 oversize calls:", memory_after_oversize_calls(app))
            print("a visitor during a flood:", visitor_latency_during_flood(app))
            print("upload folder over 100 requests:", temp_folder_over_requests(app, folder / "gradio"))


if __name__ == "__main__":
    main()
