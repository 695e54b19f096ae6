"""Uploads that decode to huge images, alone and four at once, against `python app.py`: the server's peak
memory stays under MAX_PEAK_RSS_MB (issue 11: they drove it to 1.2 GB alone and 3 GB four at once).
`python -m tools.stress_memory` prints the same measurement as a table."""

import sys

import pytest

from tools.served_app import served_app
from tools.stress_memory import MAX_PEAK_RSS_MB, measure, write_files

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the server's memory from /proc")]


def test_huge_decodes_stay_within_the_memory_budget(tmp_path):
    files = write_files(tmp_path)
    with served_app(tmp_path) as app:
        results = measure(app, files)
        assert app.alive()
    assert len(results) == 1 + 2 * len(files)
    for case, peak, _ in results:
        assert peak < MAX_PEAK_RSS_MB, f"{case}: peak server RSS {peak:.0f} MB"
