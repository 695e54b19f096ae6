"""README's JavaScript example, run as written with Node and the pinned @gradio/client against the running app."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from lesion.labels import CODES
from tests.conftest import ROOT
from tests.app.test_app import README_URL

NODE = shutil.which("node")


@pytest.fixture(scope="module")
def node() -> str:
    """Debian's nodejs with `npm ci` done; skipped without them, except in CI, where they must be there."""
    missing = "node" if not NODE else "node_modules/@gradio/client (run `npm ci`)" if not (
        ROOT / "node_modules" / "@gradio" / "client").is_dir() else None
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} is missing in CI; .ci/run installs it")
        pytest.skip(f"{missing} is missing")
    return NODE


def test_pinned_client_is_the_one_installed():
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]["@gradio/client"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), "pin an exact version"
    locked = json.loads((ROOT / "package-lock.json").read_text())["packages"]["node_modules/@gradio/client"]
    assert locked["version"] == pinned


def test_readme_javascript_example_runs_as_written(node, app_url):
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"<!-- js-client-example -->\s*```js\n(.*?)```", readme, re.DOTALL).group(1)
    assert README_URL in code
    # As an ES module from stdin, Node resolves "@gradio/client" from the working directory's node_modules.
    run = subprocess.run([node, "--input-type=module"], input=code.replace(README_URL, app_url), cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert re.search(r"code: '(\w+)'", run.stdout).group(1) in CODES
    assert "inference:" in run.stdout and ".png" in run.stdout  # the timings, then the heatmap's URL
