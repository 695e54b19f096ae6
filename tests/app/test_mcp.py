"""The app's MCP server, reached as an agent would: the `mcp` client over the streamable HTTP transport."""

from __future__ import annotations

import ast
import asyncio
import base64
from concurrent.futures import ThreadPoolExecutor

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

import app
from tests.app.test_app import reads_as_sentences
from lesion import answer
from lesion.labels import CODES, DISPLAY_NAMES

EXAMPLE = app.EXAMPLES_DIR / "ISIC_0034529.jpg"


def _data_url(content: bytes, mime: str) -> str:
    """How an agent without a public URL for its file passes it to a Gradio MCP tool."""
    return f"data:{mime};base64,{base64.b64encode(content).decode()}"


async def _session_calls(url: str, calls: list[tuple[str, dict]]):
    async with streamable_http_client(url + "gradio_api/mcp/") as (read, write, _), ClientSession(read, write) as session:
        await session.initialize()
        tools = (await session.list_tools()).tools
        return tools, [await session.call_tool(name, arguments) for name, arguments in calls]


def test_mcp_lists_the_classifier_and_classifies_an_example(app_url):
    # In its own thread: Playwright's sync API, once a browser test has run, keeps an event loop in this one.
    with ThreadPoolExecutor(1) as thread:
        tools, (classified, refused) = thread.submit(asyncio.run, _session_calls(app_url, [
            ("classify", {"image": _data_url(EXAMPLE.read_bytes(), "image/jpeg")}),
            ("classify", {"image": _data_url(b"name,dx\n", "image/png")}),
        ])).result()
    by_name = {tool.name: tool for tool in tools}
    assert set(by_name) == {"predict", "classify", "classify_batch"}
    for tool in tools:
        assert "Research demo, not a diagnosis" in tool.description
        assert reads_as_sentences(tool.description), tool.description
        assert reads_as_sentences(tool.inputSchema["properties"]["image"]["description"])
        assert tool.inputSchema["required"] == ["image"]
        assert "skin lesion" in tool.inputSchema["properties"]["image"]["description"]

    assert not classified.isError
    # Gradio's MCP server returns the outputs as the text of a Python list: the JSON, then the heatmap's file.
    result, heatmap = ast.literal_eval(classified.content[0].text)
    assert heatmap["url"].endswith(".png")
    assert set(result["probabilities"]) == set(CODES)
    assert result["top"]["code"] == max(result["probabilities"], key=result["probabilities"].get)
    assert "not a diagnosis" in result["disclaimer"]

    assert refused.isError
    assert "not an image that can be read" in refused.content[0].text


def test_mcp_gives_no_class_for_an_image_that_is_not_dermoscopy(app_url, cat_photo):
    """lesion.answer's rule 1 reaches agents too: no top class, no probabilities, no confidences."""
    content = cat_photo.read_bytes()
    with ThreadPoolExecutor(1) as thread:
        _, (classified, predicted) = thread.submit(asyncio.run, _session_calls(app_url, [
            ("classify", {"image": _data_url(content, "image/png")}),
            ("predict", {"image": _data_url(content, "image/png")}),
        ])).result()
    result = ast.literal_eval(classified.content[0].text.replace("null", "None"))[0]
    assert result["dermoscopic"] is False and result["top"] is None and result["probabilities"] == {}
    assert answer.NOT_DERMOSCOPIC_LABEL in predicted.content[0].text
    assert not any(name in predicted.content[0].text for name in DISPLAY_NAMES)


def test_mcp_refuses_a_url_it_may_not_fetch_in_one_sentence(app_url):
    with ThreadPoolExecutor(1) as thread:
        _, (refused,) = thread.submit(asyncio.run, _session_calls(app_url, [
            ("classify", {"image": "http://127.0.0.1:1/lesion.jpg"})])).result()
    assert refused.isError and refused.content[0].text.startswith("The image at http://127.0.0.1:1/lesion.jpg could not")
    assert "upstream Gradio app" not in refused.content[0].text
