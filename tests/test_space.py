"""The Space: built into a folder, installed into a clean virtual environment from its own requirements,
started as a subprocess offline, and used through gradio_client and through an iframe in a real browser."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from gradio_client import Client, handle_file

from space import build
from tests.conftest import ARTIFACTS, ROOT, free_port

SPACE_URL = "https://lesion-demo-skin-lesion-classifier.hf.space"


def _pin(package: str) -> str:
    text = (ROOT / "requirements.txt").read_text()
    return re.search(rf"^{package}==(\S+)$", text, re.M).group(1)


def test_space_card_metadata():
    front_matter = yaml.safe_load(build.CARD.read_text().split("---")[1])
    assert front_matter["sdk"] == "gradio"
    assert front_matter["sdk_version"] == _pin("gradio")
    assert front_matter["app_file"] == "app.py"
    assert front_matter["license"] == "cc-by-nc-4.0"
    assert front_matter["models"] and front_matter["datasets"]
    assert len(front_matter["short_description"]) <= 60
    for key in ("title", "emoji", "colorFrom", "colorTo", "python_version", "tags"):
        assert front_matter[key], key


def test_space_requirements_are_pinned_and_leave_out_tensorflow():
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    requirements = [line for line in lines if line and not line.startswith("#")]
    assert all("==" in line for line in requirements)
    packages = {line.split("==")[0].lower() for line in requirements}
    assert not packages & {"tensorflow", "tensorflow-cpu", "keras", "tf-keras"}
    assert {"gradio", "ai-edge-litert"} <= packages


def test_dry_run_lists_without_writing(tmp_path, capsys):
    build.main([str(tmp_path / "out"), "--dry-run"])
    printed = capsys.readouterr().out
    assert "would include app.py" in printed and "lesion/bundled_model/model.tflite" in printed
    assert not (tmp_path / "out").exists()


def test_build_refuses_to_replace_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "thesis.tex").write_text("years of work")
    with pytest.raises(FileExistsError, match="not an earlier Space build"):
        build.build(tmp_path)
    assert (tmp_path / "thesis.tex").exists()


def test_rebuilding_replaces_an_earlier_build(tmp_path):
    build.build(tmp_path / "out")
    (tmp_path / "out" / "app.pyi").write_text("left by a run")
    assert build.build(tmp_path / "out")


def test_push_without_token_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(SystemExit, match="No Hugging Face token"):
        build.main([str(tmp_path / "out"), "--push", "someone/space"])


@pytest.fixture(scope="module")
def running_space(tmp_path_factory):
    """The built Space, started from its own folder in a fresh venv, with the Hub offline."""
    out = tmp_path_factory.mktemp("space") / "out"
    names = build.build(out)
    assert sorted({name.split("/")[0] for name in names}) == ["README.md", "app.py", "examples", "lesion", "requirements.txt"]
    venv = out.parent / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(out / "requirements.txt")], check=True)
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(out.parent), "HF_HUB_OFFLINE": "1", "PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    log = open(out.parent / "space.log", "w")
    process = subprocess.Popen([str(python), "app.py"], cwd=out, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail(f"the Space did not start:\n{(out.parent / 'space.log').read_text()}")
    yield url, out
    process.terminate()
    process.wait(timeout=30)


def test_built_space_runs_from_its_own_folder(running_space):
    url, out = running_space
    result = Client(url, verbose=False).predict(handle_file(str(out / "examples" / "ISIC_0034525.jpg")), api_name="/classify")
    assert result["model"]["source"] == "bundled"
    assert sum(result["probabilities"].values()) == pytest.approx(1, abs=1e-6)


def test_embed_page_iframe_classifies_an_example(running_space, browser, tmp_path):
    url, out = running_space
    page_file = tmp_path / "embed.html"
    page_file.write_text((Path(build.__file__).parent / "embed.html").read_text().replace(SPACE_URL, url.rstrip("/")))
    page = browser.new_page(viewport={"width": 1200, "height": 1600})
    page.goto(page_file.as_uri())
    frame = page.frame_locator("#lesion-demo")
    frame.locator("input[type=file]").first.set_input_files(str(out / "examples" / "ISIC_0034529.jpg"))
    frame.get_by_text("this image").wait_for(timeout=30_000)
    page.locator("#lesion-demo").screenshot(path=ARTIFACTS / "embedded.png")
