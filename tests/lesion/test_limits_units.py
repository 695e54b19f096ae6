"""Unit tests of issue 35's pieces: the upload folder's sweep, the client's address behind the Spaces proxy, the
body limit on a request that lies about its length, and what LesionBlocks turns on by default."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

from lesion import headers, limits, retention
from lesion.blocks import LesionBlocks


def test_sweep_deletes_old_files_and_empty_folders_and_keeps_the_rest(tmp_path):
    old, kept, new = tmp_path / "a" / "old.png", tmp_path / "c" / "example.jpg", tmp_path / "b" / "new.png"
    for path in (old, kept):
        path.parent.mkdir()
        path.write_bytes(b"x")
    time.sleep(1.2)
    new.parent.mkdir()
    new.write_bytes(b"x")
    assert retention.sweep(tmp_path, 1, keep={str(kept)}) == 1
    assert not old.exists() and new.exists() and kept.exists()
    time.sleep(1.2)
    retention.sweep(tmp_path, 1, keep={str(kept)})
    assert not old.parent.exists() and kept.exists()


def test_keep_seconds_come_from_the_environment():
    assert retention.keep_seconds({}) == retention.DEFAULT_KEEP_S
    assert retention.keep_seconds({retention.KEEP_ENV: "3"}) == 3
    assert retention.keep_seconds({retention.KEEP_ENV: "soon"}) == retention.DEFAULT_KEEP_S


def _request(host: str, forwarded: str | None = None):
    return SimpleNamespace(client=SimpleNamespace(host=host),
                           headers={"x-forwarded-for": forwarded} if forwarded else {})


def test_the_client_is_the_peer_unless_behind_the_spaces_proxy():
    forged = _request("10.0.0.5", "6.6.6.6, 203.0.113.7")
    assert limits.client_address(forged, environ={}) == "10.0.0.5"
    assert limits.client_address(forged, environ={"SPACE_ID": "someone/space"}) == "203.0.113.7"
    assert limits.client_address(_request("10.0.0.5"), environ={"SPACE_ID": "x"}) == "10.0.0.5"


def _call(middleware, scope, chunks):
    sent, reached = [], []
    messages = [{"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1} for i, chunk in enumerate(chunks)]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        reached.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    asyncio.run(middleware(app)(scope, receive, send))
    return sent[0]["status"], reached


def test_the_body_limit_counts_what_arrives_not_what_is_announced():
    limit = lambda app: limits.BodyLimit(app, limit_bytes=100)  # noqa: E731
    scope = {"type": "http", "method": "POST", "path": "/gradio_api/call/classify", "headers": []}
    assert _call(limit, scope, [b"x" * 60, b"x" * 30]) == (200, [b"x" * 90])
    assert _call(limit, scope, [b"x" * 60, b"x" * 60]) == (413, [])
    lying = {**scope, "headers": [(b"content-length", b"10")]}
    assert _call(limit, lying, [b"x" * 60, b"x" * 60]) == (413, [])
    assert _call(limit, {**scope, "headers": [(b"content-length", b"101")]}, [b""]) == (413, [])
    assert _call(limit, {**scope, "headers": [(b"content-length", b"-1")]}, [b""]) == (413, [])


def test_lesion_blocks_turn_analytics_off_and_sweep_by_default(monkeypatch):
    monkeypatch.delenv("GRADIO_ANALYTICS_ENABLED", raising=False)
    with LesionBlocks() as demo:
        pass
    assert demo.analytics_enabled is False
    assert demo.delete_cache == (60, retention.DEFAULT_KEEP_S)
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "True")
    with LesionBlocks() as demo:
        pass
    assert demo.analytics_enabled is True


def test_frame_ancestors_take_the_embedding_pages():
    policy = headers.content_security_policy({headers.FRAME_ANCESTORS_ENV: "https://example.org"})
    assert "frame-ancestors 'self' https://huggingface.co https://*.huggingface.co https://*.hf.space https://example.org" in policy


def test_the_pixel_cap_reads_a_header_that_lies_past_a_megabyte_of_metadata(tmp_path):
    """A JPEG whose frame header follows 1.5 MB of APP1 segments is still refused from its header."""
    import io

    from PIL import Image

    encoded = io.BytesIO()
    Image.new("RGB", (6000, 5000)).save(encoded, "JPEG", quality=10)
    segment = b"\xff\xe1" + (65533).to_bytes(2, "big") + bytes(65531)
    path = tmp_path / "padded.jpg"
    path.write_bytes(encoded.getvalue()[:2] + segment * 24 + encoded.getvalue()[2:])
    assert "6000x5000" in str(limits.pixel_refusal(str(path)))
    assert limits.pixel_refusal(str(path), max_pixels=6000 * 5000) is None
