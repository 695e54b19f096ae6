"""The app over real HTTP: launched in-process, called with gradio_client exactly as README shows."""

from __future__ import annotations

import base64
import logging
import math
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import skimage.data
from gradio.processing_utils import save_file_to_cache
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import app
from lesion import answer, i18n, verdict
from lesion.labels import BY_CODE, CODES, DISPLAY_NAMES
from tools import bad_images
from tests.conftest import ROOT
from tools.served_app import free_port, serving
from training.benchmark import call_api

README_URL = "http://127.0.0.1:7860/"
MIN_EXAMPLES_CORRECT = 11
"""What the bundled model really gets of the 21 ISIC 2018 examples (11, by `python -m training.evaluate --model
lesion/bundled_model --data examples`); the goal was 12. These images are not from HAM10000."""


@pytest.fixture(scope="module")
def server(app_url):
    return app_url


@pytest.fixture(scope="module")
def client(server):
    return Client(server, verbose=False)


def _write(tmp_path: Path, name: str, content: bytes) -> str:
    path = tmp_path / (re.sub(r"\W+", "_", name) + bad_images.suffix_for(content))
    path.write_bytes(content)
    return str(path)


def test_readme_python_example_runs_as_written(server, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"<!-- client-example -->\s*```python\n(.*?)```", readme, re.DOTALL).group(1)
    assert README_URL in code
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(code.replace(README_URL, server), namespace)
    # A melanoma at 57% that raises the alarm: the label is the alarm's (lesion.answer's rule 2), not a class.
    assert namespace["result"]["label"] == answer.ALARM_LABEL


def test_predict_returns_all_seven_classes(client):
    result = client.predict(handle_file(str(app.EXAMPLES_DIR / "ISIC_0034529.jpg")), api_name="/predict")
    confidences = {row["label"]: row["confidence"] for row in result["confidences"]}
    assert set(confidences) == set(DISPLAY_NAMES)
    assert sum(confidences.values()) == pytest.approx(1, abs=1e-3)
    top = max(confidences, key=confidences.get)  # under 60%, but the melanoma alarm is raised: the label is the alarm
    assert confidences[top] < 0.6 and result["label"] == answer.ALARM_LABEL


def test_predicts_label_is_the_headlines_claim(client, tmp_path):
    nevus = client.predict(handle_file(str(app.EXAMPLES_DIR / "ISIC_0034525.jpg")), api_name="/classify")[0]
    assert nevus["verdict"] == {"kind": "confident", "leading": ["nv"], "alarm": False, "label": "Melanocytic nevus (nv)"}
    assert client.predict(handle_file(str(app.EXAMPLES_DIR / "ISIC_0034525.jpg")), api_name="/predict")["label"] == (
        "Melanocytic nevus (nv)")
    photo = tmp_path / "cat.jpg"
    Image.fromarray(skimage.data.chelsea()).save(photo)
    assert client.predict(handle_file(str(photo)), api_name="/predict")["label"].startswith("Not a dermoscopic image")


@pytest.mark.parametrize("mode, fmt", [("L", "PNG"), ("L", "JPEG"), ("RGB", "JPEG")])
def test_a_grey_photo_never_gets_a_confident_verdict(client, tmp_path, mode, fmt):
    """The melanoma example in grey scores 81% benign keratosis: the verdict says the answer is unreliable, whether
    the file is grayscale or RGB with equal channels."""
    path = tmp_path / f"grey.{fmt.lower()}"
    Image.open(app.EXAMPLES_DIR / "ISIC_0034529.jpg").convert("L").convert(mode).save(path, fmt)
    result = client.predict(handle_file(str(path)), api_name="/classify")[0]
    assert result["top"]["probability"] >= verdict.UNSURE_BELOW
    assert result["grey"] and result["verdict"]["kind"] == "grayscale"
    assert result["verdict"]["leading"][0] == result["top"]["code"] == "bkl"
    # The melanoma's alarm stays raised in grey: the label is the alarm's, whatever the grey verdict's classes.
    assert result["melanoma_alarm"]["raised"] and result["verdict"]["label"] == answer.ALARM_LABEL


def test_classify_returns_plain_json(client):
    result = client.predict(handle_file(str(app.EXAMPLES_DIR / "ISIC_0034525.jpg")), api_name="/classify")[0]
    assert set(result["probabilities"]) == set(CODES)
    assert sum(result["probabilities"].values()) == pytest.approx(1, abs=1e-6)
    assert result["top"]["code"] == max(result["probabilities"], key=result["probabilities"].get)
    assert result["top"]["name"] == BY_CODE[result["top"]["code"]].name
    timings = result["timings_ms"]
    assert 0 < timings["decode"] and 0 < timings["preprocess"] and 0 < timings["inference"] < timings["total"]
    assert timings["total"] == pytest.approx(timings["decode"] + timings["preprocess"] + timings["inference"])
    statistics = result["statistics_since_startup"]
    assert set(statistics) == {"decode_ms", "preprocess_ms", "inference_ms", "total_ms"}
    assert statistics["total_ms"]["min"] <= statistics["total_ms"]["p50"] <= statistics["total_ms"]["p95"] <= statistics["total_ms"]["max"]
    assert result["model"]["source"] in ("hub", "bundled") and result["model"]["version"]
    assert "not a diagnosis" in result["disclaimer"]
    schema = app.CLASSIFICATION_SCHEMA["properties"]  # what "Use via API" and agents are told is every key
    assert set(result) == set(schema) and set(result["model"]) == set(schema["model"]["properties"])


def test_classify_says_whether_the_image_is_dermoscopic_and_where_the_model_looks(client):
    result, heatmap_png = client.predict(handle_file(str(app.EXAMPLES_DIR / "ISIC_0034525.jpg")), api_name="/classify")
    assert result["dermoscopic"] is True and isinstance(result["dermoscopic_score"], float)
    assert "threshold" in result["dermoscopic_score_meaning"]
    with Image.open(heatmap_png) as heatmap:
        assert heatmap.format == "PNG" and heatmap.size == (400, 300)


def test_heatmaps_are_written_whole_where_gradio_reuses_them(monkeypatch, tmp_path):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    picture = Image.fromarray(skimage.data.chelsea())
    with ThreadPoolExecutor(8) as pool:
        paths = set(pool.map(lambda _: app.cached_png(picture), range(32)))
    assert len(paths) == 1 and [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["image.png"]
    path = paths.pop()
    assert save_file_to_cache(path, str(tmp_path)) == path  # Gradio serves this file, with no copy of its own
    with Image.open(path) as written:
        assert written.format == "PNG" and written.size == picture.size


def test_classify_gives_the_bundled_models_melanoma_alarm(client):
    """The alarm weighs the returned melanoma probability against the nevus one, at the bundle's own threshold."""
    from lesion.bundle import BUNDLED_DIR, load_bundle

    rule = load_bundle(BUNDLED_DIR).config["melanoma_alarm"]
    raised = []
    for name in ("ISIC_0034529.jpg", "ISIC_0034525.jpg"):  # a melanoma and a nevus
        result = client.predict(handle_file(str(app.EXAMPLES_DIR / name)), api_name="/classify")[0]
        alarm, probabilities = result["melanoma_alarm"], result["probabilities"]
        assert alarm["odds"] == pytest.approx(math.log(probabilities["mel"]) - math.log(probabilities["nv"]), abs=1e-9)
        assert (alarm["threshold"], alarm["validation_sensitivity"]) == (rule["threshold"], rule["validation_sensitivity"])
        raised.append(alarm["raised"])
    assert raised == [True, False]


def test_a_photo_that_is_not_dermoscopy_is_called_so(client, tmp_path):
    photo = tmp_path / "cat.jpg"
    Image.fromarray(skimage.data.chelsea()).save(photo)
    result, heatmap_png = client.predict(handle_file(str(photo)), api_name="/classify")
    assert result["dermoscopic"] is False and result["melanoma_alarm"] is None  # no alarm where nothing means anything
    # Nothing that means nothing (lesion.answer's rule 1): no class a caller could read, no heatmap.
    assert result["top"] is None and result["probabilities"] == {} and heatmap_png is None
    predicted = client.predict(handle_file(str(photo)), api_name="/predict")
    assert predicted["label"] == answer.NOT_DERMOSCOPIC_LABEL and not predicted.get("confidences")


def test_api_is_documented_for_people_and_agents(client, server):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == {"/predict", "/classify", "/classify_batch"}
    info = httpx.get(server + "gradio_api/info").json()["named_endpoints"]
    for name, endpoint in info.items():
        assert "Research demo, not a diagnosis" in endpoint["description"], name
        for item in endpoint["parameters"] + endpoint["returns"]:
            # Gradio's fallbacks are "parameter_<id>" and "value_<id>"; translated labels would show "__i18n__".
            assert not re.match(r"(parameter|value)_\d+$|__i18n__", item["label"]), (name, item["label"])
            assert len(item["label"].split()) >= 2 and item["python_type"]["description"], (name, item)
    assert "timings_ms" in info["/classify"]["returns"][0]["python_type"]["type"]
    assert "lesion" in info["/predict"]["parameters"][0]["python_type"]["description"]


def reads_as_sentences(text: str) -> bool:
    """A description an agent can read: capitalised, ended, one paragraph, none of the commas a wrapped docstring leaves."""
    return (text[:1].isupper() and text.rstrip().endswith(".") and "\n" not in text
            and not re.search(r",\s*,|\bNot, |by, ", text))


def test_every_description_reads_as_sentences(server):
    info = httpx.get(server + "gradio_api/info").json()["named_endpoints"]
    for name, endpoint in info.items():
        assert reads_as_sentences(endpoint["description"]), (name, endpoint["description"])
        for item in endpoint["parameters"] + endpoint["returns"]:
            assert reads_as_sentences(item["python_type"]["description"]), (name, item["python_type"]["description"])


@pytest.mark.parametrize("where", ["http://127.0.0.1:1/lesion.jpg", "http://169.254.169.254/latest/meta-data",
                                   "https://example.invalid/lesion.jpg", "SELF"])
def test_a_url_the_server_may_not_fetch_gets_the_apps_own_sentence(server, where, capfd):
    """gradio_client's handle_file(url) sends the URL as the path: Gradio's own SSRF check refuses loopback and private
    addresses; the caller reads "Could not download" and the log one line, never Gradio's generic error or a traceback."""
    url = server + "gradio_api/info" if where == "SELF" else where
    with pytest.raises(AppError, match="could not be downloaded") as error:
        Client(server, verbose=False).predict(handle_file(url), api_name="/predict")
    assert error.value.title == "Could not download"
    answer = Client(server, verbose=False).predict(handle_file(url), api_name="/classify_batch")
    assert set(answer) == {"error"} and "could not be downloaded" in answer["error"]
    assert "Traceback" not in capfd.readouterr().err


def test_batch_endpoint_answers_each_caller_and_a_bad_file_fails_no_other(server, client, tmp_path):
    paths = [path for path, _ in app.load_examples()][:6]
    content, phrase = bad_images.REFUSED["not an image"]
    bad = _write(tmp_path, "not an image", content)

    def call(path):
        return Client(server, verbose=False).predict(handle_file(path), api_name="/classify_batch")

    with ThreadPoolExecutor(len(paths) + 1) as pool:
        results = list(pool.map(call, [*paths[:3], bad, *paths[3:]]))
    assert phrase in results[3]["error"] and set(results[3]) == {"error"}
    del results[3]
    assert all(set(result) == set(answer.BATCH_KEYS) for result in results)
    assert [result["top"]["code"] for result in results] == [
        client.predict(handle_file(path), api_name="/classify")[0]["top"]["code"] for path in paths]
    assert all(sum(result["probabilities"].values()) == pytest.approx(1, abs=1e-6) for result in results)


def test_bundled_model_gets_most_examples_right(client):
    correct = 0
    for path, dx in app.load_examples():
        result = client.predict(handle_file(path), api_name="/classify")[0]
        correct += result["top"]["code"] == dx
    assert correct >= MIN_EXAMPLES_CORRECT, f"{correct} of 21 examples correct"


@pytest.mark.parametrize("name", bad_images.REFUSED)
def test_bad_files_get_a_clear_error_and_the_app_keeps_serving(client, tmp_path, name, caplog, capfd):
    content, phrase = bad_images.REFUSED[name]
    with caplog.at_level(logging.WARNING, logger="app"), pytest.raises(AppError, match=phrase) as error:
        client.predict(handle_file(_write(tmp_path, name, content)), api_name="/predict")
    assert error.value.title == i18n.refusal(str(error.value), "en")[0] != "Error"
    refusals = [record for record in caplog.records if record.name == "app"]
    assert len(refusals) == 1 and phrase in refusals[0].getMessage() and "\n" not in refusals[0].getMessage()
    assert "Traceback" not in capfd.readouterr().err
    assert client.predict(handle_file(str(app.EXAMPLES_DIR / "ISIC_0034525.jpg")), api_name="/predict")["label"]


def test_no_image_gets_a_clear_error(client):
    with pytest.raises(AppError, match="upload an image first") as error:
        client.predict(None, api_name="/classify")[0]
    assert error.value.title == "No image"


@pytest.mark.parametrize("name", bad_images.ACCEPTED)
def test_awkward_files_are_classified_with_a_note(client, tmp_path, name):
    content, phrase = bad_images.ACCEPTED[name]
    result = client.predict(handle_file(_write(tmp_path, name, content)), api_name="/classify")[0]
    # Classified: every probability, or none when the guard finds the (synthetic) picture unlike dermoscopy.
    assert result["verdict"]["kind"] and (not result["dermoscopic"] or
                                          sum(result["probabilities"].values()) == pytest.approx(1, abs=1e-6))
    assert any(phrase in note for note in result["notes"]), result["notes"]


def test_files_over_the_size_limit_are_refused_with_a_sentence(client, server, tmp_path):
    """Over 20 MB: gradio_client refuses to upload it (the app's max_file_size), Gradio's upload route answers 413,
    and a data: URL that holds it (under the 28 MB body limit) gets the app's sentence."""
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8" + b"\0" * ((app.MAX_IMAGE_MB * 2 + 1) * 2**19))  # 20.5 MB: in a data: URL, under 28 MB
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        client.predict(handle_file(str(big)), api_name="/predict")
    upload = httpx.post(server + "gradio_api/upload", files={"files": ("big.jpg", big.read_bytes(), "image/jpeg")}, timeout=60)
    assert upload.status_code == 413
    event, answer = call_raw(server, "classify", {"url": "data:image/jpeg;base64," + base64.b64encode(big.read_bytes()).decode(),
                                                  "meta": {"_type": "gradio.FileData"}})
    assert event == "error" and f"over the {app.MAX_IMAGE_MB} MB limit" in answer["error"] and answer["title"] == "Too large"
    assert httpx.get(server).status_code == 200


def test_concurrent_requests_all_succeed(server):
    paths = [path for path, _ in app.load_examples()][:8]

    def call(path):
        return Client(server, verbose=False).predict(handle_file(path), api_name="/classify")[0]["top"]["code"]

    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(call, paths))
    assert parallel == [call(path) for path in paths]


def test_page_says_it_is_a_research_demo_in_three_languages_and_shows_the_model(server):
    config = httpx.get(server + "config").json()
    translations = config["i18n_translations"]
    assert set(translations) == {"en", "id", "es"}
    assert "Research demo, not a diagnosis" in translations["en"]["disclaimer"]
    assert "Demo penelitian, bukan diagnosis" in translations["id"]["disclaimer"]
    assert "no un diagnóstico" in translations["es"]["disclaimer"]
    text = " ".join(str(c.get("props", {}).get("value", "")) for c in config["components"])
    assert "Classifications since startup:** " in text
    assert "from the copy that ships with the app" in text or "from the Hugging Face Hub" in text


def test_examples_are_not_cached_into_the_statistics(monkeypatch):
    # On Spaces, Gradio caches examples at startup by default; those runs must not count as classifications.
    monkeypatch.setenv("SPACE_ID", "someone/skin-lesion-demo")
    monkeypatch.setenv("GRADIO_CACHE_EXAMPLES", "true")
    with serving(app.build_demo()) as url:
        result = Client(url, verbose=False).predict(handle_file(str(app.EXAMPLES_DIR / "ISIC_0034525.jpg")), api_name="/classify")[0]
    assert result["statistics_since_startup"]["total_ms"]["count"] == 1


@pytest.mark.parametrize("environ, address", [
    ({}, ("127.0.0.1", 7860)),
    ({"SPACE_ID": "someone/demo"}, ("0.0.0.0", 7860)),
    ({"PORT": "8001"}, ("127.0.0.1", 8001)),
    ({"GRADIO_SERVER_PORT": "8002", "PORT": "8001"}, ("127.0.0.1", 8002)),
    ({"GRADIO_SERVER_NAME": "0.0.0.0"}, ("0.0.0.0", 7860)),
    ({"GRADIO_SERVER_NAME": "localhost", "GRADIO_SERVER_PORT": "9000", "SPACE_ID": "a/b"}, ("localhost", 9000)),
])
def test_server_address_honours_gradio_variables_and_port(environ, address):
    assert app.server_address(environ) == address


@pytest.mark.parametrize("environ", [{"GRADIO_SERVER_PORT": "web"}, {"PORT": "70000"}, {"GRADIO_SERVER_PORT": "0"}])
def test_a_bad_port_says_which_variable(environ):
    (name, value), = environ.items()
    with pytest.raises(ValueError, match=f"{name}='{value}' is not a port number"):
        app.server_address(environ)


def _run_app(*args: str, env: dict, **options) -> subprocess.Popen:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "HF_HUB_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", **env}
    return subprocess.Popen([sys.executable, "app.py", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **options)


def test_help_is_quiet_and_useful():
    process = _run_app("--help", env={})
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0 and err == ""
    assert out.startswith("usage: python app.py")
    for name in ("--host", "--port", "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "PORT", "LESION_MODEL_REPO",
                 "HF_HUB_OFFLINE", "/gradio_api/mcp/"):
        assert name in out, name
    assert "TensorFlow" not in out and "INFO" not in out


def test_a_bad_port_variable_stops_the_app_with_one_sentence():
    # A GRADIO_SERVER_PORT that is not a number already fails inside `import gradio`; PORT is the app's own.
    process = _run_app(env={"PORT": "web"})
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2 and "PORT='web' is not a port number" in err
    assert "Traceback" not in err


def test_app_serves_where_gradio_server_name_and_port_say():
    port = free_port()
    process = _run_app(env={"GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "PORT": "1"})
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail(f"nothing served on port {port}:\n{process.communicate(timeout=5)}")
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_command_line_options_override_the_environment():
    args = app.parse_args(["--host", "0.0.0.0", "--port", "9001"], {"GRADIO_SERVER_PORT": "8002"})
    assert (args.host, args.port) == ("0.0.0.0", 9001)
    with pytest.raises(SystemExit):
        app.parse_args(["--port", "0"], {})


def test_the_headline_gives_the_melanoma_alarm_with_its_error_rates():
    """Raised, the alarm leads and sends the visitor to a doctor even when the malignant share is low; quiet, it says how many
    melanomas it misses; a model without one says nothing of it."""
    from lesion.classifier import Prediction, Timings
    from lesion.verdict import MelanomaAlarm

    probabilities = {code: 0.0 for code in CODES} | {"mel": 0.1, "nv": 0.05, "bkl": 0.85}
    doctor = i18n.message("see_a_doctor", "en")

    def headline(alarm):
        return app.headline(Prediction(probabilities, Timings(0, 0, 0), melanoma_alarm=alarm))

    raised = headline(MelanomaAlarm(True, 0.69, 0.5, 0.69, 0.8))
    assert raised.startswith("## Melanoma alarm raised") and "caught 69% of melanomas" in raised
    assert "20% of other lesions" in raised and "the seven bars read: Benign keratosis (bkl): 85%" in raised
    quiet = headline(MelanomaAlarm(False, 0.3, 0.5, 0.69, 0.8))
    assert "**Melanoma alarm: not raised.**" in quiet and "missed 31% of melanomas" in quiet and doctor not in quiet
    assert "alarm" not in headline(None)


def test_an_unsure_headline_never_rounds_up_to_the_threshold_it_misses():
    from lesion.classifier import Prediction, Timings

    probabilities = {code: 0.0 for code in CODES} | {"nv": 0.597, "mel": 0.403}
    assert "the most likely has 59%" in app.headline(Prediction(probabilities, Timings(0, 0, 0)))


def call_raw(server: str, api_name: str, item) -> tuple[str, object]:
    """Gradio's REST protocol with a hand-made input, as a caller without gradio_client sends it: (event, data)."""
    with httpx.Client(base_url=server, timeout=60) as http:
        return call_api(http, api_name, item)


def data_url(path: Path) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()


def test_a_path_on_the_server_is_not_read(server):
    """Without Gradio's file metadata a caller could name any file; existing or not, it is refused alike."""
    answers = [call_raw(server, "classify", {"path": path}) for path in
               (str(ROOT / "lesion" / "bundled_model" / "comparison.png"), "/no/such/file.jpg")]
    assert answers[0] == answers[1] and answers[0][0] == "error"
    event, answer = call_raw(server, "classify_batch", {"path": str(app.EXAMPLES_DIR / "ISIC_0034525.jpg")})
    assert event == "complete" and "paths on the server are not read" in answer[0]["error"]


def test_a_data_url_is_classified_as_the_file_it_holds(client, server):
    """Byte for byte: Gradio's own decoding would re-encode the photo (as WebP) and lose its EXIF."""
    example = app.EXAMPLES_DIR / "ISIC_0034529.jpg"
    event, answer = call_raw(server, "classify", {"url": data_url(example), "meta": {"_type": "gradio.FileData"}})
    uploaded = client.predict(handle_file(str(example)), api_name="/classify")[0]
    assert event == "complete"
    assert answer[0]["probabilities"] == pytest.approx(uploaded["probabilities"], abs=1e-9)


def test_a_bad_data_url_or_a_large_file_in_a_batch_fails_no_other(server, tmp_path):
    good = {"url": data_url(app.EXAMPLES_DIR / "ISIC_0034525.jpg"), "meta": {"_type": "gradio.FileData"}}
    garbage = {"url": "data:image/jpeg;base64,aGVsbG8=", "meta": {"_type": "gradio.FileData"}}
    big = {"url": "data:image/jpeg;base64," + base64.b64encode((app.EXAMPLES_DIR / "ISIC_0034525.jpg").read_bytes()
                                                                + b"\0" * (app.MAX_IMAGE_MB * 2**20)).decode(),
           "meta": {"_type": "gradio.FileData"}}
    items = [good, garbage, good, good, good, good]
    with ThreadPoolExecutor(len(items) + 1) as pool:
        answers = list(pool.map(lambda item: call_raw(server, "classify_batch", item)[1][0], items))
        too_large = call_raw(server, "classify_batch", big)[1][0]
    assert "not an image" in answers[1]["error"] and f"over the {app.MAX_IMAGE_MB} MB limit" in too_large["error"]
    assert all(answer["top"]["code"] == "nv" for answer in answers[:1] + answers[2:])


@pytest.mark.parametrize("value", ["examples/ISIC_0034525.jpg", 42])
def test_a_value_that_is_not_a_file_gets_a_clear_error(server, value):
    """A caller who skipped handle_file sends a bare string (or anything else): one sentence says what to send."""
    event, answer = call_raw(server, "classify_batch", value)
    assert event == "complete" and "Send the image itself" in answer[0]["error"]
    with pytest.raises(AppError, match="Send the image itself") as error:
        Client(server, verbose=False).predict(value, api_name="/predict")
    assert error.value.title == "Not an upload"


def test_a_url_that_cannot_be_downloaded_gets_a_clear_error(server):
    item = {"url": "https://example.invalid/lesion.jpg", "meta": {"_type": "gradio.FileData"}}
    event, answer = call_raw(server, "classify_batch", item)
    assert event == "complete" and "could not be downloaded" in answer[0]["error"]
    event, answer = call_raw(server, "classify", item)
    assert event == "error" and "could not be downloaded" in answer["error"] and answer["title"] == "Could not download"
