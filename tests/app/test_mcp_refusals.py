"""Refusals through the app's MCP server (issue 35): what Gradio itself refuses (a path on the server, a URL it will
not fetch) reaches the agent as the app's one sentence, in the language its client asks for, from every tool."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from lesion import i18n

REFUSED = {"/etc/passwd": ("not_uploaded", {}),
           "http://127.1/lesion.jpg": ("not_downloaded", {"url": "http://127.1/lesion.jpg"})}


async def _calls(url: str, language: str, calls: list[tuple[str, dict]]):
    async with httpx.AsyncClient(headers={"Accept-Language": language}, timeout=60) as http, \
            streamable_http_client(url + "gradio_api/mcp/", http_client=http) as (read, write, _), \
            ClientSession(read, write) as session:
        await session.initialize()
        return [await session.call_tool(name, arguments) for name, arguments in calls]


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_tool_refuses_in_the_apps_sentence(app_url, language):
    calls = [(tool, {"image": image}) for tool in ("predict", "classify", "classify_batch") for image in REFUSED]
    with ThreadPoolExecutor(1) as thread:
        results = thread.submit(asyncio.run, _calls(app_url, language, calls)).result()
    for (tool, arguments), result in zip(calls, results):
        key, values = REFUSED[arguments["image"]]
        sentence = i18n.message(key, language, **values)
        text = result.content[0].text
        assert sentence in text, (tool, arguments, text)
        assert "upstream Gradio app" not in text
