"""Private mode without a browser: the pinned runtime and its checksums, the routes and settings the app serves, and
the browser's JavaScript (lesion/web), run by Node against the server's Python, which it must reproduce exactly."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess

import httpx
import numpy as np
import pytest
from PIL import Image

import app
from lesion import heatmap, i18n, preprocess, private_mode, verdict
from lesion.bundle import BUNDLED_DIR, load_bundle
from lesion.classifier import calibrated_probabilities
from lesion.labels import CODES
from lesion.preprocess import fit_to_input, shades_of_gray
from tools import bad_images
from tests.conftest import ROOT

NODE = shutil.which("node")
SPEC = load_bundle(BUNDLED_DIR).input_spec
PARTS = {"spec": SPEC.to_config()}


def _needed(what: str, present: bool) -> None:
    """Skip without a tool or `npm ci`, except in CI, where .ci/run installs them."""
    if not present:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is missing in CI; .ci/run installs it")
        pytest.skip(f"{what} is missing")


@pytest.fixture(scope="module")
def runtime_installed():
    _needed("LiteRT.js in node_modules (run `npm ci`)", (private_mode.NODE_MODULES / "@litertjs/core").is_dir())


def call_js(tmp_path, *calls: tuple[str, str, list]) -> list:
    """Each (module, function, args) called by Node in lesion/web; images pass as RGB arrays."""
    _needed("node", NODE is not None)
    encoded = [{"module": module, "function": function, "args": [_encode(arg) for arg in args]}
               for module, function, args in calls]
    jobs = tmp_path / "calls.json"
    jobs.write_text(json.dumps(encoded))
    run = subprocess.run([NODE, str(ROOT / "tests" / "app" / "web_functions.mjs"), str(jobs)], capture_output=True, text=True,
                         timeout=300, cwd=ROOT, check=False)
    assert run.returncode == 0, run.stderr
    return [_decode(result) for result in json.loads(run.stdout)]


def _encode(value):
    if isinstance(value, np.ndarray) and value.dtype == np.uint8:
        return {"width": value.shape[1], "height": value.shape[0], "rgb": base64.b64encode(value.tobytes()).decode()}
    return value


def _decode(value):
    if isinstance(value, dict) and "rgb" in value:
        return np.frombuffer(base64.b64decode(value["rgb"]), np.uint8).reshape(value["height"], value["width"], 3)
    if isinstance(value, dict):
        return {key: _decode(item) for key, item in value.items()}
    return value


def _rgb(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


# --- the runtime: pinned, installed, checked ----------------------------------------------------------------------


def test_the_runtime_is_pinned_exactly_in_package_json_and_its_lock():
    dependencies = json.loads((ROOT / "package.json").read_text())["dependencies"]
    locked = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    for package in ("@litertjs/core", "@litertjs/wasm-utils"):
        assert dependencies[package] == private_mode.RUNTIME_VERSION
        assert locked[f"node_modules/{package}"]["version"] == private_mode.RUNTIME_VERSION
        assert locked[f"node_modules/{package}"]["license"] == "Apache-2.0"


def test_the_installed_runtime_is_the_pinned_release(runtime_installed):
    files = private_mode.check_runtime()
    assert set(files) == set(private_mode.RUNTIME_FILES)
    assert all(path.stat().st_size < 10e6 for path in files.values()), "Spaces take files up to 10 MB without LFS"
    for name in ("@litertjs/core", "@litertjs/wasm-utils"):
        installed = json.loads((private_mode.NODE_MODULES / name / "package.json").read_text())
        assert installed["version"] == private_mode.RUNTIME_VERSION and installed["license"] == "Apache-2.0"


def test_a_missing_or_altered_runtime_file_is_refused_with_the_fix(runtime_installed, tmp_path):
    for name, path in private_mode.check_runtime().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).symlink_to(path)
    altered = "@litertjs/core/wasm/litert_wasm_internal.wasm"
    (tmp_path / altered).unlink()
    (tmp_path / altered).write_bytes(b"\0asm not the runtime")
    with pytest.raises(private_mode.PrivateModeUnavailable, match="npm ci"):
        private_mode.check_runtime(tmp_path)
    (tmp_path / altered).unlink()
    with pytest.raises(private_mode.PrivateModeUnavailable, match=r"is missing\); run `npm ci`"):
        private_mode.check_runtime(tmp_path)


def test_the_runtime_imports_its_helper_by_package_name_exactly_once(runtime_installed):
    source = (private_mode.NODE_MODULES / "@litertjs/core/dist/index.js").read_text()
    assert source.count(private_mode.BARE_IMPORT) == 1
    assert "@litertjs/" not in source.replace(private_mode.BARE_IMPORT, "")


# --- the browser model and the settings ---------------------------------------------------------------------------


def test_the_bundled_model_has_a_browser_variant_of_the_same_network():
    served = load_bundle(BUNDLED_DIR)
    browser = private_mode.browser_bundle(served)
    assert browser.directory == BUNDLED_DIR / private_mode.BROWSER_DIR
    assert browser.input_spec == served.input_spec and browser.config["labels"] == list(CODES)


def test_a_bundle_without_a_browser_variant_is_said_to_have_none(tmp_path):
    for name in ("config.json", "model.tflite"):
        shutil.copy(BUNDLED_DIR / name, tmp_path / name)
    with pytest.raises(private_mode.PrivateModeUnavailable, match="no usable browser variant"):
        private_mode.browser_bundle(load_bundle(tmp_path))


def test_a_browser_variant_from_another_run_is_refused(tmp_path):
    shutil.copytree(BUNDLED_DIR, tmp_path / "bundle")
    config_path = tmp_path / "bundle" / "browser" / "config.json"
    config = json.loads(config_path.read_text())
    config["temperature"] = 2.0
    config_path.write_text(json.dumps(config))
    with pytest.raises(private_mode.PrivateModeUnavailable, match="'temperature'"):
        private_mode.browser_bundle(load_bundle(tmp_path / "bundle"))


def test_settings_carry_the_servers_own_rules_and_text(runtime_installed):
    settings = private_mode.PrivateMode(lambda: load_bundle(BUNDLED_DIR), max_file_mb=app.MAX_IMAGE_MB).settings()
    assert settings["available"]
    rules = settings["rules"]
    assert (rules["reducing_gap"], rules["shades_of_gray_power"], rules["min_side"], rules["max_pixels"]) == (
        preprocess.REDUCING_GAP, preprocess.SHADES_OF_GRAY_POWER, preprocess.MIN_SIDE, preprocess.MAX_PIXELS)
    assert (rules["unsure_below"], rules["leading_share"], rules["see_a_doctor_from"]) == (
        verdict.UNSURE_BELOW, verdict.LEADING_SHARE, verdict.SEE_A_DOCTOR_FROM)
    assert rules["malignant"] == ["akiec", "bcc", "mel"] and rules["max_file_mb"] == app.MAX_IMAGE_MB
    assert rules["grey_below"] == preprocess.GREY_BELOW
    assert rules["heatmap"]["opacity"] == heatmap.OPACITY and rules["heatmap"]["scale"] == heatmap.SCALE
    browser = private_mode.browser_bundle(load_bundle(BUNDLED_DIR)).config
    model = settings["model"]
    assert model["sha256"] == browser["sha256"] and model["input"] == browser["input"]
    digest = hashlib.sha256((BUNDLED_DIR / private_mode.BROWSER_DIR / "model.tflite").read_bytes()).digest()
    assert model["integrity"] == "sha256-" + base64.b64encode(digest).decode()  # what the browser checks it against
    for variant in settings["runtime"]["variants"].values():
        wasm = private_mode.NODE_MODULES / "@litertjs/core" / variant["wasm"].split("/", 2)[2]
        assert variant["integrity"] == "sha256-" + base64.b64encode(hashlib.sha256(wasm.read_bytes()).digest()).decode()
    assert model["guard_threshold"] == browser["guard"]["threshold"] and model["class_bias"] == browser["class_bias"]
    assert settings["languages"] == list(i18n.LANGUAGES)
    keys = set(settings["text"]["en"])
    assert all(set(settings["text"][language]) == keys for language in i18n.LANGUAGES)
    assert settings["text"]["es"]["name_mel"] == i18n.diagnosis_name("mel", "es")
    urls = [settings["app"], settings["runtime"]["module"], model["url"],
            *(url for variant in settings["runtime"]["variants"].values() for url in (variant["script"], variant["wasm"]))]
    assert not any(url.startswith(("/", "http")) for url in urls), "relative to settings.json, so they hold behind a proxy"


def test_settings_say_why_when_the_runtime_is_missing(tmp_path):
    settings = private_mode.PrivateMode(lambda: load_bundle(BUNDLED_DIR), max_file_mb=20, node_modules=tmp_path).settings()
    assert settings["available"] is False and settings["reason"] == "unavailable_runtime"
    assert all(settings["text"][language]["unavailable_runtime"] for language in i18n.LANGUAGES)


def test_the_app_starts_and_classifies_with_python_alone(tmp_path):
    """No `npm ci` (no node_modules): the page and the API serve, and private mode says politely why it is off."""
    from gradio_client import Client, handle_file

    from tools.served_app import serving

    demo = app.build_demo()
    demo.private_mode.node_modules = tmp_path  # as on a machine where npm never ran
    with serving(demo) as url:
        assert httpx.get(url, timeout=30).status_code == 200
        settings = httpx.get(url + "private-mode/settings.json", timeout=30).json()
        assert settings["available"] is False and settings["reason"] == "unavailable_runtime"
        result = Client(url, verbose=False).predict(handle_file(str(app.EXAMPLES_DIR / "ISIC_0034525.jpg")),
                                                    api_name="/classify")[0]
        assert result["top"]["code"] == "nv"


# --- the routes, over real HTTP ------------------------------------------------------------------------------------


def test_the_app_serves_every_file_from_its_own_origin_checked_and_cached_for_good(app_url, runtime_installed):
    settings_url = app_url + "private-mode/settings.json"
    answer = httpx.get(settings_url)
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    settings = answer.json()
    assert settings["available"]
    files = {settings["app"]: None, settings["model"]["url"]: settings["model"]["sha256"]}
    for variant in settings["runtime"]["variants"].values():
        files[variant["wasm"]] = variant["sha256"]
        files[variant["script"]] = None
    files[settings["runtime"]["module"]] = None
    with httpx.Client(base_url=settings_url) as client:
        for url, sha256 in files.items():
            response = client.get(httpx.URL(settings_url).join(url))
            assert response.status_code == 200, url
            assert response.headers["cache-control"] == "public, max-age=31536000, immutable", url
            if sha256:
                assert hashlib.sha256(response.content).hexdigest() == sha256, url
            if url.endswith(".wasm"):
                assert response.headers["content-type"] == "application/wasm"
            if url.endswith(".js"):
                assert response.headers["content-type"].startswith("text/javascript")
        module = client.get(httpx.URL(settings_url).join(settings["runtime"]["module"])).text
        assert private_mode.SERVED_IMPORT in module and private_mode.BARE_IMPORT not in module


@pytest.mark.parametrize("path", ["web/0000000000000000/private-mode.js", "litertjs/2.5.2/index.js",
                                  "litertjs/2.5.3/wasm/litert_wasm_jspi_internal.wasm", "litertjs/2.5.3/../../app.py",
                                  f"models/{'0' * 64}/model.tflite", "web/{tag}/../private_mode.py"])
def test_nothing_else_is_served(app_url, path):
    tag = httpx.get(app_url + "private-mode/settings.json").json()["app"].split("/")[1]
    assert httpx.get(app_url + "private-mode/" + path.format(tag=tag)).status_code == 404


# --- the browser's code against the server's ----------------------------------------------------------------------


def test_fitting_to_the_input_is_pillows_to_the_last_bit(tmp_path):
    """Quarter turn, centre crop and Pillow's LANCZOS (two rounded passes) on every example, as it is and turned."""
    images = [_rgb(path) for path, _ in app.load_examples()]
    images += [np.ascontiguousarray(image.transpose(1, 0, 2)) for image in images[:5]]
    images += [np.random.default_rng(3).integers(0, 256, (151, 203, 3), dtype=np.uint8)]
    fitted = call_js(tmp_path, *(("preprocess", "fitToInput", [image, PARTS["spec"]]) for image in images))
    for image, ours in zip(images, fitted):
        assert np.array_equal(ours, fit_to_input(Image.fromarray(image), SPEC))


def test_colour_constancy_is_numpys_float32_to_the_last_bit(tmp_path):
    fitted = [fit_to_input(Image.fromarray(_rgb(path)), SPEC) for path, _ in app.load_examples()]
    fitted.append(np.full((150, 200, 3), (255, 0, 7), np.uint8))  # a channel of zeros: no division by zero
    ours = call_js(tmp_path, *(("preprocess", "shadesOfGray", [image, preprocess.SHADES_OF_GRAY_POWER]) for image in fitted))
    for image, corrected in zip(fitted, ours):
        assert np.array_equal(corrected, shades_of_gray(image))


@pytest.mark.parametrize("size", [(37, 23), (101, 64), (64, 64), (33, 90)])
def test_reducing_turning_and_resizing_with_a_box_are_pillows(tmp_path, size):
    pixels = np.random.default_rng(size[0]).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    w, h = size
    boxes = [(20, 15, (0, 0, w, h)), (w, h, (1, 0, w, h)), (13, 40, (2, 3, w - 1, h - 2))]
    calls = [("preprocess", "reduce", [pixels, factor]) for factor in range(2, 9)]
    calls += [("preprocess", "rotate90", [pixels])]
    calls += [("preprocess", "resizeLanczos", [pixels, out_w, out_h, list(box)]) for out_w, out_h, box in boxes]
    expected = [image.reduce(factor) for factor in range(2, 9)] + [image.transpose(Image.Transpose.ROTATE_90)]
    expected += [image.resize((out_w, out_h), Image.Resampling.LANCZOS, box=box) for out_w, out_h, box in boxes]
    for ours, theirs in zip(call_js(tmp_path, *calls), expected):
        assert np.array_equal(ours, np.asarray(theirs))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_large_image_is_prepared_exactly_as_on_the_server(tmp_path, fmt):
    """Decoded in full on both sides (the server's decode stands in for the browser's here), then whole-factor
    reduction (by 4), fitting and colour constancy match to the last bit."""
    photo = bad_images._lesion().resize((1700, 1300))
    content = bad_images.encode(photo, fmt, **({"quality": 90} if fmt == "JPEG" else {"compress_level": 1}))
    server, _ = preprocess.prepare_pixels(content, SPEC)
    with Image.open(io.BytesIO(content)) as decoded:
        full = np.asarray(decoded.convert("RGB"))
    (ours,) = call_js(tmp_path, ("preprocess", "prepare", [full, PARTS["spec"], {
        "reducingGap": preprocess.REDUCING_GAP, "shadesOfGrayPower": preprocess.SHADES_OF_GRAY_POWER}]))
    assert np.array_equal(preprocess.correct_colour(ours["pixels"], SPEC), server)
    assert np.array_equal(ours["corrected"], server)
    assert np.array_equal(np.asarray(ours["input"], np.float32), preprocess.normalise(server.astype(np.float32), SPEC).ravel())


def test_large_images_shrink_by_the_servers_whole_factor(tmp_path):
    sizes = [(200, 150), (799, 599), (800, 600), (801, 1601), (3000, 4000), (4001, 3000), (6300, 6300), (7000, 300)]
    factors = call_js(tmp_path, *(("preprocess", "reductionFactor", [w, h, PARTS["spec"], preprocess.REDUCING_GAP])
                                  for w, h in sizes))
    assert factors == [preprocess._reduction_factor(size, (SPEC.width, SPEC.height)) for size in sizes]


def test_python_rounding_and_formatting(tmp_path):
    values = [0.5, 1.5, 2.5, 12.5, 2.675, 3.49999, 0.125 * 100]
    templates = [("{p:.0%}", 0.125), ("{p:.0%}", 0.155), ("{p:.0%}", 0.6), ("{p:.0%}", 0.995), ("{p:.0%}", 1e-30),
                 ("{p:.0%}", 1.0), ("{p:.1f}", 2.25), ("{p:.1f}", 0.05), ("{p:.0f}", 20.5), ("{p:.0f}", 21.5), ("{p}", 20)]
    results = call_js(tmp_path, *(("preprocess", "roundHalfEven", [value]) for value in values),
                      *(("result", "format", [template, {"p": value}]) for template, value in templates))
    assert results[:len(values)] == [round(value) for value in values]
    assert results[len(values):] == [template.format(p=value) for template, value in templates]


def _probabilities(rng, top=None) -> dict[str, float]:
    raw = rng.dirichlet(np.full(len(CODES), 0.4))
    if top is not None:
        raw = np.full(len(CODES), (1 - top) / (len(CODES) - 1))
        raw[rng.integers(len(CODES))] = top
    return dict(zip(CODES, raw.tolist()))


def test_the_headline_follows_the_servers_rules_and_words_in_every_language(tmp_path):
    rng = np.random.default_rng(9)
    cases = [(_probabilities(rng), bool(rng.integers(2)), not rng.integers(4)) for _ in range(40)]
    cases += [(_probabilities(rng, top), True, False) for top in (verdict.UNSURE_BELOW, 0.59999, 0.34)]
    cases += [(_probabilities(rng, 0.9), True, True)]
    settings_rules = private_mode.rules(app.MAX_IMAGE_MB)
    text = private_mode.texts()
    calls = [("result", "judge", [p, dermoscopic, grey, settings_rules]) for p, dermoscopic, grey in cases]
    judged = call_js(tmp_path, *calls)
    for (p, dermoscopic, grey), ours in zip(cases, judged):
        theirs = verdict.judge(p, dermoscopic=dermoscopic, grey=grey)
        assert (ours["kind"], tuple(ours["leading"])) == (theirs.kind, theirs.leading)
        assert ours["malignantShare"] == pytest.approx(theirs.malignant_share, abs=1e-12)
    assert {ours["kind"] for ours in judged} == {"confident", "unsure", "grayscale", "not_dermoscopic"}
    rules_of = [ALARM if i % 3 else None for i in range(len(cases))]  # a third from a model without an alarm
    alarms = call_js(tmp_path, *(("result", "melanomaAlarm", [p, dermoscopic, rule, settings_rules["tiny"]])
                                 for (p, dermoscopic, _), rule in zip(cases, rules_of)))
    for (p, dermoscopic, _), rule, ours in zip(cases, rules_of, alarms):
        theirs = verdict.melanoma_alarm(p, rule, dermoscopic=dermoscopic)
        assert (ours is None) == (theirs is None)
        if theirs is not None:
            assert ours["raised"] == theirs.raised and ours["odds"] == pytest.approx(theirs.odds, abs=1e-12)
    assert {alarm["raised"] for alarm in alarms if alarm} == {True, False}
    assert {alarm["raised"] for ours, alarm in zip(judged, alarms) if alarm and ours["kind"] == "grayscale"} == {True, False}
    headlines = call_js(tmp_path, *(("result", "headlineMarkdown", [ours, text[language], settings_rules, alarm])
                                    for ours, alarm in zip(judged, alarms) for language in i18n.LANGUAGES))
    expected = [app.headline(_prediction(p, dermoscopic, rule, grey), language)
                for (p, dermoscopic, grey), rule in zip(cases, rules_of) for language in i18n.LANGUAGES]
    assert headlines == expected


def test_the_one_answer_rule_is_the_servers_on_every_combination(tmp_path):
    """lesion.answer's rule (guard, grey, unsure, alarm none/quiet/raised: all 24) gives the browser's words too."""
    from tests.lesion.test_answer import COMBINATIONS
    from tests.lesion.test_answer import _prediction as combination

    predictions = [combination(*case) for case in COMBINATIONS]
    settings_rules, text = private_mode.rules(app.MAX_IMAGE_MB), private_mode.texts()
    calls = []
    for prediction in predictions:
        judged = prediction.verdict
        ours = {"kind": judged.kind, "leading": list(judged.leading), "probability": judged.probability,
                "malignantShare": judged.malignant_share}
        alarm = prediction.melanoma_alarm
        alarm = alarm and {"raised": alarm.raised, "sensitivity": alarm.sensitivity, "specificity": alarm.specificity}
        calls += [("result", "headlineMarkdown", [ours, text[language], settings_rules, alarm]) for language in i18n.LANGUAGES]
    expected = [app.headline(prediction, language) for prediction in predictions for language in i18n.LANGUAGES]
    assert call_js(tmp_path, *calls) == expected


ALARM = {"threshold": -1.2, "validation_sensitivity": 0.7183, "validation_specificity": 0.8005}
"""A melanoma alarm rule as a bundle's config holds it."""


def _prediction(probabilities: dict, dermoscopic: bool, alarm_rule: dict | None = None, grey: bool = False):
    from lesion.classifier import Prediction, Timings
    return Prediction(probabilities, Timings(0, 0, 0), dermoscopic=dermoscopic, grey=grey,
                      melanoma_alarm=verdict.melanoma_alarm(probabilities, alarm_rule, dermoscopic=dermoscopic))


def test_grey_is_told_from_the_pixels_as_on_the_server(tmp_path):
    fitted = [shades_of_gray(fit_to_input(Image.fromarray(_rgb(path)), SPEC)) for path, _ in app.load_examples()[:3]]
    fitted += [np.repeat(image.mean(axis=-1, keepdims=True).astype(np.uint8), 3, axis=-1) for image in fitted]
    fitted.append(np.random.default_rng(5).integers(0, 256, (150, 200, 3), dtype=np.uint8))
    ours = call_js(tmp_path, *(("preprocess", "colourSpread", [image]) for image in fitted))
    assert ours == [preprocess.colour_spread(image) for image in fitted]
    assert [preprocess.is_grey(image) for image in fitted] == [False] * 3 + [True] * 3 + [False]


def test_probabilities_maps_and_colours_are_the_servers(tmp_path):
    rng = np.random.default_rng(4)
    logits = rng.normal(0, 3, (5, len(CODES)))
    maps = rng.normal(0, 1, (4, 5, len(CODES))).astype(np.float32)
    bias = [-0.4, 0.0, -2.0, -1.8, 0.6, 0.2, 0.0]
    anchors = heatmap.colourise(np.linspace(0, 1, 5)).tolist()
    levels = np.linspace(0, 1, 257)
    results = call_js(tmp_path, *(("result", "calibratedProbabilities", [row.tolist(), 0.8, bias]) for row in logits),
                      *(("result", "classMap", [maps.ravel().tolist(), 4, 5, len(CODES), index]) for index in range(len(CODES))),
                      ("result", "classMap", [np.zeros(4 * 5 * len(CODES)).tolist(), 4, 5, len(CODES), 0]),
                      *(("result", "colourise", [float(level), anchors]) for level in levels))
    for row, ours in zip(logits, results[:5]):
        assert np.allclose(ours, calibrated_probabilities(row, 0.8, bias), rtol=0, atol=1e-15)
    for index, ours in enumerate(results[5:5 + len(CODES)]):
        assert np.allclose(np.reshape(ours, (4, 5)), heatmap.class_map(maps, index), atol=1e-12)
    assert results[5 + len(CODES)] == [0] * 20
    assert np.array_equal(np.array(results[6 + len(CODES):]), heatmap.colourise(levels))


def test_every_template_field_the_browser_fills_exists(tmp_path):
    """The browser formats these templates with exactly these fields; a renamed field would show as "undefined"."""
    fields = {"private_about": {"megabytes": 14}, "private_ran": {"total": 1, "decode": 1, "prepare": 1, "inference": 1},
              "private_ready": {},
              "private_runtime_failed": {"detail": "d"}, "private_model_failed": {"detail": "d"},
              "private_failed": {"detail": "d"}}
    for language in i18n.LANGUAGES:
        for key, values in fields.items():
            i18n.PRIVATE_MODE[language][key].format(**values)

