"""The example gallery's thumbnails: small JPEGs (about 10 kB) made once by Pillow and committed beside the examples,
so that the page's first load does not fetch 21 full-size photos. A click still classifies the full image.

    python -m lesion.thumbnails       # (re)writes examples/thumbnails/ from examples/
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
FOLDER = "thumbnails"
WIDTH = 300
"""Sharp in a gallery cell on a 1280 px desktop (7 columns, about 165 px) and a phone (3 columns at 2x pixels)."""
QUALITY = 80


def thumbnail_path(image: str | Path) -> Path:
    """Where the thumbnail of an example image lives."""
    image = Path(image)
    return image.parent / FOLDER / f"{image.stem}.jpg"


def make_thumbnail(image: str | Path, out: str | Path) -> Path:
    """A JPEG WIDTH pixels wide of `image` (its aspect kept), written to `out`; the same bytes on every run."""
    with Image.open(image) as source:
        picture = source.convert("RGB")
    picture.thumbnail((WIDTH, WIDTH * 4), Image.Resampling.LANCZOS, reducing_gap=3.0)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    picture.save(out, "JPEG", quality=QUALITY, optimize=True, progressive=True)
    return Path(out)


def make_all(folder: Path = EXAMPLES_DIR) -> list[Path]:
    """Every example's thumbnail, (re)written."""
    from lesion.labels import read_labelled_folder

    return [make_thumbnail(path, thumbnail_path(path)) for path, _ in read_labelled_folder(folder)]


if __name__ == "__main__":
    written = make_all(Path(sys.argv[1]) if len(sys.argv) > 1 else EXAMPLES_DIR)
    print(f"{len(written)} thumbnails, {sum(path.stat().st_size for path in written) / 1024:.0f} kB in all")
