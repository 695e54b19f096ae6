"""requirements.lock (issue 35): the app's whole environment pinned with hashes, agreeing with requirements.txt,
and installed by the Space as its requirements.txt."""

from __future__ import annotations

import re

from space import build
from tests.conftest import ROOT

LOCK = ROOT / "requirements.lock"


def _locked() -> dict[str, tuple[str, list[str]]]:
    """{package: (version, hashes)} from the lock."""
    text = LOCK.read_text()
    entries = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"([A-Za-z0-9_.\-]+)==([^\s\\;]+)", block)
        if match:
            entries[match[1].lower().replace("_", "-")] = (match[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return entries


def test_every_locked_package_is_pinned_with_hashes_and_nothing_points_at_this_machine():
    locked = _locked()
    assert len(locked) > 50
    assert all(hashes for _, hashes in locked.values()), [name for name, (_, hashes) in locked.items() if not hashes]
    assert not re.search(r"^\s*-(-index-url|-extra-index-url|-find-links|i|f)\b", LOCK.read_text(), re.M)
    assert "file://" not in LOCK.read_text() and "/work/" not in LOCK.read_text()


def test_the_lock_holds_requirements_txt_at_its_versions_and_what_gradio_brings():
    locked = _locked()
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            assert locked[name.lower().replace("_", "-")][0] == version, name
    assert {"fastapi", "starlette", "uvicorn", "safehttpx", "python-multipart", "httpx"} <= set(locked)


def test_the_space_installs_the_lock():
    assert build.space_files()["requirements.txt"] == LOCK
