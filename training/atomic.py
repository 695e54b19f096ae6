"""Writes that a kill at any moment cannot leave half done: write beside the target, then rename over it.

A rename within one file system is atomic, so readers (the app, a resumed run) see the old file or folder or the
new one, never a mixture.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

PARTIAL = ".partial"


def write_text(path: Path, text: str) -> None:
    """Replace the file at path with text, atomically."""
    partial = path.with_name(path.name + PARTIAL)
    partial.write_text(text)
    os.replace(partial, path)


@contextmanager
def partial_file(path: Path):
    """Yield a path beside `path` (same suffixes) to write to; it replaces `path` only if the block finishes."""
    partial = path.with_name(PARTIAL.strip(".") + "-" + path.name)
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


@contextmanager
def staged_directory(directory: Path):
    """Yield an empty folder beside `directory` to fill; it replaces `directory` only if the block finishes.

    The old folder is moved aside before the new one moves in, so a kill in between leaves no folder at all
    (and the old one beside it), never a half-written one.
    """
    staging, old = directory.with_name(directory.name + PARTIAL), directory.with_name(directory.name + ".old")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        directory.rename(old)
    staging.rename(directory)
    shutil.rmtree(old, ignore_errors=True)
