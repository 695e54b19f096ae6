"""Security headers on every response (ASGI middleware): a Content-Security-Policy, nosniff, no referrer, and the
pages that may embed the app in a frame.

The policy is what Gradio's page and private mode need, and no more: scripts from the app's own origin (Gradio's page
runs inline scripts and its components' `js_on_load` through `new Function`, hence 'unsafe-inline' and
'unsafe-eval'; LiteRT.js compiles WebAssembly, hence 'wasm-unsafe-eval'), styles and fonts from the app (the
theme uses the system's fonts), images from the app, data: and blob: URLs (previews), and connections only to the app itself. No
plugin, no <base> elsewhere, no form posted elsewhere.

Frames: Hugging Face shows a Space inside a page of huggingface.co, and other Spaces (*.hf.space) may embed it.
Any other page that embeds the app in an iframe (README, space/embed.html) must be named in LESION_FRAME_ANCESTORS:
origins, space-separated ("https://example.org https://*.example.org"; "*" allows every page). Gradio's web
component (<gradio-app>) is no frame and needs nothing here.
"""

from __future__ import annotations

import os

FRAME_ANCESTORS_ENV = "LESION_FRAME_ANCESTORS"
FRAME_ANCESTORS = ("'self'", "https://huggingface.co", "https://*.huggingface.co", "https://*.hf.space")
"""Who may show the app in a frame: itself, Hugging Face's Space pages, and Spaces' own domain."""


def content_security_policy(environ=os.environ) -> str:
    extra = environ.get(FRAME_ANCESTORS_ENV, "").split()
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'unsafe-inline'", "'unsafe-eval'", "'wasm-unsafe-eval'", "blob:"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'", "data:"],
        "img-src": ["'self'", "data:", "blob:"],
        "media-src": ["'self'", "data:", "blob:", "mediastream:"],
        "connect-src": ["'self'", "data:", "blob:"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": [*FRAME_ANCESTORS, *extra],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


class SecurityHeaders:
    """ASGI middleware adding the headers to every HTTP response that does not set them itself."""

    def __init__(self, app, environ=os.environ):
        self.app = app
        self.headers = [
            (b"content-security-policy", content_security_policy(environ).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
        ]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {key.lower() for key, _ in message.get("headers", [])}
                message = {**message, "headers": [*message.get("headers", []),
                                                  *((k, v) for k, v in self.headers if k not in present)]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
