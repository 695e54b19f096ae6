"""A stand-in for the Hugging Face Hub on a loopback port, serving the bundled model as a model repo, with one
fault at a time: refuse, fail, stall, trickle, truncate, corrupt, or answer like a captive portal."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lesion.bundle import BUNDLED_DIR, CONFIG_FILE, MODEL_FILE

REPO = "lesion-demo/ham10000-efficientnet-lite0"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
STEPS = ("info", "tree", "head", "get")
"""What huggingface_hub asks, in order: the repo's info, its file list, each file's metadata, each file's body."""
TRICKLE_BYTES_PER_S = 20


class FakeHub:
    """`with FakeHub(fault, step) as hub:` serves at hub.url until the block ends; hub.heal() removes the fault.

    Faults: None (a healthy Hub), "500", "404", "stall" (accept, never answer), "trickle" (a few bytes a second),
    "truncate" (close halfway through the body), "wrong-sha256" (a model file that does not match its config)
    and "portal" (200 with an HTML login page, for every request). step (one of STEPS) says where the fault
    strikes; "wrong-sha256" and "portal" ignore it.
    """

    def __init__(self, fault: str | None = None, step: str = "info"):
        self.fault, self.step = fault, step
        self.requests: list[str] = []
        self.closing = threading.Event()
        self.files = {name: (BUNDLED_DIR / name).read_bytes() for name in (CONFIG_FILE, MODEL_FILE)}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def heal(self) -> None:
        self.fault = None

    def __enter__(self) -> FakeHub:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.closing.set()  # releases stalled and trickling answers
        self._server.shutdown()
        self._server.server_close()

    def body(self, name: str) -> bytes:
        content = self.files[name]
        if name == MODEL_FILE and self.fault == "wrong-sha256":
            content = bytes([content[0] ^ 0xFF]) + content[1:]
        return content

    def tree(self) -> list[dict]:
        entries = []
        for name, content in self.files.items():
            entry = {"type": "file", "path": name, "size": len(content), "oid": hashlib.sha1(content).hexdigest()}
            if name == MODEL_FILE:
                entry["lfs"] = {"oid": hashlib.sha256(content).hexdigest(), "size": len(content), "pointerSize": 134}
            entries.append(entry)
        return entries


def _handler(hub: FakeHub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def do_HEAD(self):
            self._answer(head=True)

        def do_GET(self):
            self._answer(head=False)

        def _step(self) -> str:
            if self.path.startswith("/api/models/"):
                return "tree" if "/tree/" in self.path else "info"
            return "head" if self.command == "HEAD" else "get"

        def _answer(self, head: bool):
            step = self._step()
            hub.requests.append(f"{self.command} {self.path}")
            fault = hub.fault if hub.fault in ("wrong-sha256", "portal") or step == hub.step else None
            if fault == "portal":
                return self._send(200, b"<html><body>Please log in to use this Wi-Fi.</body></html>", "text/html", head)
            if fault in ("500", "404"):
                headers = {"X-Error-Code": "RepoNotFound"} if fault == "404" and step == "info" else {}
                return self._send(int(fault), json.dumps({"error": "fault"}).encode(), "application/json", head, headers)
            if fault == "stall":
                hub.closing.wait()
                self.close_connection = True
                return
            if step == "info":
                body = {"id": REPO, "modelId": REPO, "sha": COMMIT, "private": False,
                        "siblings": [{"rfilename": name} for name in hub.files]}
                return self._send(200, json.dumps(body).encode(), "application/json", head)
            if step == "tree":
                return self._send(200, json.dumps(hub.tree()).encode(), "application/json", head)
            name = self.path.rsplit("/", 1)[-1].split("?")[0]
            if name not in hub.files:
                return self._send(404, b"{}", "application/json", head, {"X-Error-Code": "EntryNotFound"})
            content = hub.body(name)
            headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{hashlib.sha1(content).hexdigest()}"'}
            if name == MODEL_FILE:
                headers |= {"X-Linked-Etag": f'"{hashlib.sha256(hub.files[name]).hexdigest()}"',
                            "X-Linked-Size": str(len(content))}
            if fault in ("trickle", "truncate"):
                self._send_headers(200, len(content), "application/octet-stream", headers)
                if fault == "truncate":
                    self.wfile.write(content[: len(content) // 2])
                    self.close_connection = True
                    return
                for i in range(len(content)):
                    if hub.closing.wait(1 / TRICKLE_BYTES_PER_S):
                        break
                    self.wfile.write(content[i:i + 1])
                    self.wfile.flush()
                self.close_connection = True
                return
            self._send(200, content, "application/octet-stream", head, headers)

        def _send_headers(self, status: int, length: int, kind: str, headers: dict):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(length))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()

        def _send(self, status: int, body: bytes, kind: str, head: bool, headers: dict | None = None):
            self._send_headers(status, len(body), kind, headers or {})
            if not head:
                self.wfile.write(body)

    return Handler

