"""What one caller may ask of a public server: the size of a request, and its share of the shared queue.

BodyLimit is ASGI middleware: a request body over MAX_BODY_MB is refused with 413 and the app's sentence, from its
Content-Length before anything is read, or, when it is sent chunked, as soon as the bytes read pass the limit.
Gradio never sees a body over the limit; one under it is handed on whole, read into a single buffer that goes back
to the system when freed (many small chunks, as the server receives them, stayed in the heap: +250 MB after ten
chunked 28 MB bodies).

FairQueue wraps Gradio's queue: one client (IP address, and its session) holds at most a few places in the queue at
once, so one caller cannot fill the queue and lock everyone else out. Further requests are refused at once with
the app's sentence, and the caller can send them again as its earlier ones are answered.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter

from PIL import Image

from lesion import i18n
from lesion.preprocess import FORMATS, InvalidImageError

log = logging.getLogger(__name__)

MAX_FILE_MB = 20
"""The largest image file accepted, uploaded or sent as a data: URL; dermoscopy photos are 0.2-10 MB."""
MAX_PIXELS = 25_000_000
"""The largest image the app classifies: a 6,000x4,000 dermoscope or camera photo (the largest in the ISIC archive)
fits, with room. Decoding is the step whose time and memory grow with the image (1.5-2 s for 40 MP here): below
lesion.preprocess.MAX_PIXELS (40 MP, which training keeps), so that one caller's requests take less of everyone's
time. Checked from the file's header, before decoding; private mode checks the same."""
MAX_BODY_MB = 28
"""The largest request body: a MAX_FILE_MB file as a base64 data: URL (4/3 of it) in its JSON, with room to spare."""
PER_IP = 6
"""Requests one IP address may have waiting or running at once: a few for a school or a clinic behind one address."""
PER_SESSION = 3
"""Requests one session (one page, or one gradio_client) may have waiting or running at once."""
THIS_MACHINE = ("127.0.0.1", "::1")
"""Counted by session only: the app's own MCP server calls its queue from here for every agent (on a Space, with the
agent's X-Forwarded-For, which then counts), as do local tests and benchmarks."""
TRUST_FORWARDED_ENV = "LESION_TRUST_X_FORWARDED_FOR"
"""Set (or SPACE_ID set, behind the Spaces proxy) to count clients by X-Forwarded-For's last address, which the
proxy in front of the app wrote; elsewhere the address that connected is counted, and the header is ignored."""

def pixel_refusal(path: str, max_pixels: int = MAX_PIXELS) -> InvalidImageError | None:
    """The refusal of an image file whose header states more than max_pixels (in lesion.preprocess's words), or None;
    a file Pillow cannot open is left to lesion.preprocess to refuse."""
    try:
        with Image.open(path, formats=FORMATS) as image:  # reads the header only, wherever it lies in the file
            width, height = image.size
    except Exception:  # noqa: BLE001 - not an image it can open: preprocess says why
        return None
    if width * height <= max_pixels:
        return None
    return InvalidImageError(i18n.message("too_large", "en", width=width, height=height, megapixels=max_pixels // 1_000_000))


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class BodyLimit:
    """ASGI middleware that refuses request bodies over limit_bytes before they are read whole."""

    def __init__(self, app, limit_bytes: int = MAX_BODY_MB * 2**20):
        self.app = app
        self.limit = limit_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        language = i18n.request_language(_header(scope, b"accept-language"))
        length = _header(scope, b"content-length")
        if length is not None and (not length.strip().isdigit() or int(length) > self.limit):
            log.warning("Refused a request body of %r bytes to %r", length[:20], scope.get("path", "")[:200])
            return await self._refuse(send, language)
        content_type = _header(scope, b"content-type") or ""
        if content_type.startswith("multipart/"):
            return await self._stream(scope, receive, send, language)
        body = bytearray()
        while True:  # read here, into one buffer: returned to the system once freed, unlike many small chunks
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.limit:  # a chunked body, or one longer than it said
                del body
                log.warning("Refused a streamed request body over %d bytes to %r", self.limit, scope.get("path", "")[:200])
                return await self._refuse(send, language)
            if not message.get("more_body", False):
                break
        whole = [{"type": "http.request", "body": bytes(body), "more_body": False}]
        del body

        async def replay():
            return whole.pop() if whole else await receive()

        await self.app(scope, replay, send)

    async def _stream(self, scope, receive, send, language: str):
        """An upload, passed on as it streams (Gradio writes it to disk and reports its progress), cut off at the limit."""
        read, over, started = 0, False, False

        async def limited_receive():
            nonlocal read, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > self.limit:
                    over = True
                    log.warning("Refused an upload over %d bytes to %r", self.limit, scope.get("path", "")[:200])
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            nonlocal started
            if over and not started:
                return  # the app's answer to a body cut short; the refusal goes instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not over:
                raise
        if over and not started:
            await self._refuse(send, language)

    async def _refuse(self, send, language: str):
        text = i18n.message("body_too_large", language, limit=MAX_BODY_MB, file_limit=MAX_FILE_MB)
        body = json.dumps({"detail": text, "error": text, "title": i18n.message("title_too_large", language)}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def client_address(request, environ=os.environ) -> str:
    """The caller's IP address: X-Forwarded-For's last entry behind a trusted proxy (Spaces), else the peer's."""
    if environ.get(TRUST_FORWARDED_ENV) or environ.get("SPACE_ID"):
        forwarded = request.headers.get("x-forwarded-for") if request is not None else None
        if forwarded:
            return forwarded.split(",")[-1].strip()
    client = getattr(request, "client", None)
    return client.host if client else "unknown"


class FairQueue:
    """Gradio's queue.push, refusing a request whose client already has per_ip (address) or per_session requests
    waiting or running."""

    def __init__(self, queue, per_ip: int = PER_IP, per_session: int = PER_SESSION):
        self.queue, self.per_ip, self.per_session = queue, per_ip, per_session
        self._push = queue.push

    @classmethod
    def install(cls, blocks, **limits) -> FairQueue:
        """Wrap blocks' queue (after blocks.queue()) with the limits."""
        fair = cls(blocks._queue, **limits)
        blocks._queue.push = fair.push
        return fair

    def held(self) -> tuple[Counter, Counter]:
        """(requests per address, requests per session) waiting or running now."""
        events = [event for queue in self.queue.event_queue_per_concurrency_id.values() for event in queue.queue]
        events += [event for job in self.queue.active_jobs if job for event in job]
        addresses = Counter(client_address(event.request) for event in events)
        sessions = Counter(event.session_hash for event in events)
        return addresses, sessions

    async def push(self, body, request, username):
        addresses, sessions = self.held()
        address = client_address(request)
        in_session = sessions[body.session_hash] if body.session_hash else 0
        language = i18n.request_language(request.headers.get("accept-language"))
        if (address not in THIS_MACHINE and addresses[address] >= self.per_ip) or in_session >= self.per_session:
            # The address is personal data: the count is enough to see a flood.
            log.warning("Refused a request: %d waiting from its address, %d from its session", addresses[address], in_session)
            count = addresses[address] if addresses[address] >= self.per_ip else in_session
            return False, i18n.message("busy", language, count=count), "queue_full"
        accepted, answer, state = await self._push(body, request, username)
        if state == "queue_full":  # Gradio's own "Queue is full. Max size is 64 and size is 64."
            answer = i18n.message("queue_full", language, size=len(self.queue))
        return accepted, answer, state
