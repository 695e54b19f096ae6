"""gr.Blocks, hardened for a public app: a bad input fails only its own request, in the app's own words.

Gradio checks, copies or downloads every file an event receives before the function sees it (Blocks.preprocess_data).
What it raises there fails the whole call, and with `batch=True` every request batched with it, answered
`{"error": null}` or "The upstream Gradio app has raised an exception". LesionBlocks catches it per request:

- in a batch, the request gets an InvalidImageError in place of its image, which the function answers for that
  image alone;
- elsewhere, the call fails with a gr.Error that holds the app's sentence, in the caller's language.

The values a request sent are not kept in its session afterwards (Gradio keeps the last value of every input per
session, data: URLs included, until state_session_capacity sessions push it out).
"""

from __future__ import annotations

import contextvars
import logging
import os
from pathlib import Path

import gradio as gr
from gradio.exceptions import Error as GradioError
from gradio.exceptions import InvalidPathError
from gradio.utils import get_upload_folder

from lesion import i18n
from lesion.preprocess import InvalidImageError
from lesion.retention import Sweeper, keep_seconds

SESSION_CAPACITY = 256
"""Sessions Gradio keeps (its default: 10,000). The app keeps nothing in them (no gr.State, no input values)."""

log = logging.getLogger(__name__)

_LANGUAGES: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("caller_languages", default=())


def caller_languages() -> tuple[str, ...]:
    """The language of each request in the call being processed (one, or one per batched request), from its
    Accept-Language header; empty outside a call."""
    return _LANGUAGES.get()


def caller_language(index: int = 0) -> str:
    """The language of the index-th request in the call being processed; English outside a call."""
    languages = caller_languages()
    return languages[index] if index < len(languages) else i18n.DEFAULT


def _language(request) -> str:
    headers = getattr(request, "headers", None)
    return i18n.request_language(headers.get("accept-language") if headers is not None else None)


def input_refusal(error: Exception, value) -> InvalidImageError:
    """The app's refusal for what Gradio raised while checking, copying or downloading one input value."""
    value = value if isinstance(value, dict) else {}
    url = next((text for text in (value.get("url"), value.get("path"))
                if isinstance(text, str) and text.lower().startswith(("http://", "https://"))), None)
    if url is not None:
        return InvalidImageError(i18n.message("not_downloaded", "en", url=url[:200]))
    if isinstance(error, InvalidPathError) or value.get("path"):
        return InvalidImageError(i18n.message("not_uploaded", "en"))
    return InvalidImageError(i18n.message("not_image", "en"))


def api_error(refusal: InvalidImageError, language: str) -> gr.Error:
    """The gr.Error a caller receives for a refused image: the app's title and sentence in the caller's language."""
    title, sentence = i18n.refusal(str(refusal), language)
    return gr.Error(sentence, title=title, print_exception=False)


def _flag(name: str, default: bool, environ=os.environ) -> bool:
    value = environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes")


class LesionBlocks(gr.Blocks):
    """gr.Blocks whose inputs fail one request at a time, in the app's words, and are not kept in the session; with
    Gradio's usage analytics off unless GRADIO_ANALYTICS_ENABLED=True, and the upload folder swept
    (lesion.retention) while it serves."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("analytics_enabled", _flag("GRADIO_ANALYTICS_ENABLED", False))
        keep_s = keep_seconds()
        kwargs.setdefault("delete_cache", (int(max(1, min(60, keep_s / 2))), int(keep_s)))
        super().__init__(*args, **kwargs)
        self.sweeper = Sweeper(Path(get_upload_folder()), keep_s, self.kept_files)

    @property
    def mcp_server_obj(self):
        return self.__dict__.get("_mcp_server_obj")

    @mcp_server_obj.setter
    def mcp_server_obj(self, server):
        """Gradio's MCP server, whose refusal of a tool's image argument (a path, say) is the app's sentence."""
        if server is not None:
            _refuse_mcp_arguments_in_the_apps_words(server)
        self.__dict__["_mcp_server_obj"] = server

    def kept_files(self) -> set[str]:
        """The files the app itself keeps in the upload folder (its examples, as Gradio's delete_cache keeps them)."""
        return {str(path) for block in list(self.blocks.values()) for path in getattr(block, "keep_in_cache", ())}

    def launch(self, *args, **kwargs):
        kwargs.setdefault("state_session_capacity", SESSION_CAPACITY)
        self.sweeper.start()
        return super().launch(*args, **kwargs)

    def close(self, *args, **kwargs):
        self.sweeper.stop()
        return super().close(*args, **kwargs)

    async def process_api(self, block_fn, inputs, state=None, request=None, *args, **kwargs):
        requests = request if isinstance(request, list) else [request]
        token = _LANGUAGES.set(tuple(_language(r) for r in requests))
        try:
            return await super().process_api(block_fn, inputs, state, request, *args, **kwargs)
        finally:
            _LANGUAGES.reset(token)

    async def preprocess_data(self, block_fn, inputs, state, explicit_call: bool = False):
        try:
            processed = await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except GradioError:
            raise
        except Exception as error:  # noqa: BLE001 - whatever Gradio raises for one request's values
            value = next((value for value in inputs if isinstance(value, dict)), None)
            refusal = input_refusal(error, value)
            log.warning("Refused an input Gradio could not take (%s): %r", type(error).__name__, str(error)[:300])
            if block_fn.batch:
                return [refusal for _ in block_fn.inputs]
            raise api_error(refusal, caller_language()) from None
        if state is not None:
            for block in block_fn.inputs:
                if not getattr(block, "stateful", False) and block._id in state.config_values:
                    state._update_value_in_config(block._id, None)
        return processed


def _refuse_mcp_arguments_in_the_apps_words(server) -> None:
    """Wrap server.convert_strings_to_filedata (the MCP server's check of a tool's file arguments, before the queue):
    what it refuses is answered with the app's sentence in the agent's language, not Gradio's "Invalid file data
    format"."""
    convert = server.convert_strings_to_filedata

    def converted(arguments, positions):
        try:
            return convert(arguments, positions)
        except ValueError as error:
            value = next((value for value in arguments.values() if isinstance(value, str)), "")
            item = {"url": value} if value.lower().startswith(("http://", "https://")) else {"path": value}
            refusal = input_refusal(error, item)
            try:
                language = _language(server.mcp_server.request_context.request)
            except LookupError:  # outside a request
                language = i18n.DEFAULT
            log.warning("Refused an MCP argument (%s): %r", type(error).__name__, str(error)[:300])
            raise ValueError(i18n.refusal(str(refusal), language)[1]) from None

    server.convert_strings_to_filedata = converted
