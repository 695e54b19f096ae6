"""The gallery's thumbnails: one per example, small, and what lesion.thumbnails makes today (rerun it if not)."""

from lesion.labels import read_labelled_folder
from lesion.thumbnails import EXAMPLES_DIR, make_thumbnail, thumbnail_path

MAX_BYTES = 16_000


def test_every_example_has_its_small_thumbnail_as_made_today(tmp_path):
    examples = read_labelled_folder(EXAMPLES_DIR)
    assert len(examples) == 21
    for path, _ in examples:
        committed = thumbnail_path(path)
        assert committed.is_file(), f"{committed} is missing: run python -m lesion.thumbnails"
        assert committed.stat().st_size <= MAX_BYTES
        fresh = make_thumbnail(path, tmp_path / committed.name)
        assert fresh.read_bytes() == committed.read_bytes(), f"{committed} is stale: run python -m lesion.thumbnails"
