"""Every format Pillow can write, and mutated copies of each, classified in a batch beside good photos (issue 35):
each is classified or refused with the project's own InvalidImageError, and the good photos' answers do not change.
Only the formats lesion.preprocess.FORMATS names are ever decoded."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from lesion.bundle import load_bundle
from lesion.classifier import Classifier
from lesion.hub import BUNDLED_DIR
from lesion.preprocess import FORMATS, InvalidImageError
from tools import bad_images

MUTATIONS_PER_FORMAT = 6
"""Seeded: the same mutated files every run, so a failure reproduces."""
SAVE_OPTIONS = {"BUFR": None, "GRIB": None, "HDF5": None, "WMF": None}
"""Formats whose writer needs a handler Pillow does not ship: skipped."""


def _written_in_every_format() -> dict[str, bytes]:
    Image.init()
    image = bad_images._lesion((96, 72))
    files = {}
    for name in sorted(Image.SAVE):
        if name in SAVE_OPTIONS:
            continue
        for mode in ("RGB", "P", "L", "1", "F"):  # the first mode the writer takes
            try:
                files[name] = bad_images.encode(image.convert(mode), name)
                break
            except (OSError, ValueError, KeyError, TypeError):
                continue
    return files


def _mutations(data: bytes, rng: random.Random) -> list[bytes]:
    out = []
    for _ in range(MUTATIONS_PER_FORMAT):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            where = rng.randrange(min(len(mutated), 64) if rng.random() < 0.5 else len(mutated))
            mutated[where] = rng.randrange(256)
        if rng.random() < 0.3:
            mutated = mutated[: rng.randrange(len(mutated))]
        out.append(bytes(mutated))
    return out


def _format_of(data: bytes) -> str | None:
    """The format Pillow, unrestricted, reads the file as; None when it cannot."""
    try:
        return Image.open(io.BytesIO(data)).format
    except Exception:  # noqa: BLE001
        return None


WRITTEN = _written_in_every_format()


@pytest.fixture(scope="module")
def classifier():
    return Classifier(load_bundle(BUNDLED_DIR))


@pytest.fixture(scope="module")
def good_files():
    return [bad_images.encode(bad_images._lesion((400, 300)), "JPEG", quality=90),
            bad_images.encode(bad_images._lesion((320, 240)), "PNG")]


def test_pillow_can_write_most_of_its_formats():
    assert {"BLP", "DDS", "ICNS", "JPEG2000", "TIFF", "PPM", "ICO", "EPS"} <= set(WRITTEN)
    assert len(WRITTEN) >= 15


@pytest.mark.parametrize("name", sorted(WRITTEN))
def test_a_hostile_format_fails_alone_in_its_batch(classifier, good_files, name):
    rng = random.Random(name)
    alone = [classifier.classify(data).probabilities for data in good_files]
    for data in [WRITTEN[name], *_mutations(WRITTEN[name], rng)]:
        results = classifier.classify_batch([good_files[0], data, good_files[1]])
        hostile = results[1]
        if _format_of(WRITTEN[name]) not in (*FORMATS, "MPO"):  # MPO: a camera's JPEG with extra pictures
            assert isinstance(hostile, InvalidImageError), f"{name} was decoded"
        if isinstance(hostile, InvalidImageError):
            assert str(hostile).endswith(".") and "please" in str(hostile).lower()
        for result, expected in zip([results[0], results[2]], alone):
            assert not isinstance(result, InvalidImageError)
            assert result.probabilities == pytest.approx(expected, abs=1e-6)


def test_a_blp_file_named_like_a_jpeg_is_refused_before_decoding(classifier):
    """Issue 35: an 8 kB BLP file named lesion.jpg raised BLPFormatError out of the classifier."""
    blp = WRITTEN["BLP"]
    with pytest.raises(InvalidImageError, match="not an image that can be read"):
        classifier.classify(blp)


def test_a_decoder_exception_becomes_a_refusal(classifier, monkeypatch):
    """Whatever a decoder raises (AVIF's RuntimeError, DDS's NotImplementedError) is the classifier's refusal."""
    import lesion.classifier

    def exploding(source, spec):
        raise NotImplementedError("a plugin that gave up")

    monkeypatch.setattr(lesion.classifier, "decode", exploding)
    good = np.zeros((64, 64, 3), np.uint8)
    results = classifier.classify_batch([good])
    assert isinstance(results[0], InvalidImageError) and "corrupt or truncated (a plugin that gave up)" in str(results[0])
