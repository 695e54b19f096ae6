"""800 requests from 8 gradio_client clients at once against `python app.py`, good and bad files mixed: every
answer equals the single-threaded one (refusals included), the server stays up, and its memory is flat after
warm-up. `python -m tools.stress_load --requests 4000` runs it longer."""

import sys

import pytest

from tools.served_app import served_app
from tools.stress_load import SAMPLE_EVERY, run_load, write_uploads

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the server's memory from /proc")]

REQUESTS = 800
WARM_UP = 400
"""Requests after which memory should no longer grow: caches filled, every thread's first allocations made, the
heap's fragments reused. Since /classify also returns a heatmap PNG, memory rises for longer before it levels off
(`python -m tools.stress_load --requests 1200`: 272 MB after 100 requests, 289 MB after 400, 297-303 MB from 600
to 1,200)."""
FLAT_MB = 15
"""Allowed growth over the last 400 requests. Measured: 8 MB."""


def test_concurrent_clients_get_exact_answers_and_memory_stays_flat(tmp_path):
    uploads = write_uploads(tmp_path)
    assert any(upload.refusal for upload in uploads) and any(not upload.refusal for upload in uploads)
    with served_app(tmp_path) as server:
        result = run_load(server, uploads, requests=REQUESTS)
        assert server.alive()
    assert result.wrong == []
    rss = dict(result.rss_mb)
    assert max(rss) == REQUESTS and WARM_UP % SAMPLE_EVERY == 0
    assert rss[REQUESTS] - rss[WARM_UP] < FLAT_MB, result.rss_mb
