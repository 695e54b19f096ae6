"""Private mode: the page classifies in the visitor's browser with LiteRT.js, so the photo never leaves the device.

The app serves everything the browser needs from its own origin, under PREFIX, and no CDN is involved:
- `settings.json`: where the files below are, their sha256, the model's config, the constants of the server's
  preprocessing and result rules, and the page's text in every language;
- `web/<tag>/*.js`: this project's own code (lesion/web), which reproduces lesion.preprocess, lesion.classifier's
  decision rule, lesion.verdict and lesion.heatmap in JavaScript;
- `litertjs/<version>/...`: LiteRT.js (npm's @litertjs/core and @litertjs/wasm-utils, Apache-2.0), pinned in
  package.json and installed by `npm ci` into node_modules/; each file is checked against RUNTIME_FILES before it is
  served, and the browser checks the WebAssembly binary again (Subresource Integrity) before running it;
- `models/<sha256>/model.tflite`: the browser variant of the model serving now (its bundle's browser/ folder), checked
  against its own config.json like any bundle, and by the browser against the same sha256.

Every URL but settings.json holds a version or a checksum, so browsers cache the files for good and fetch them once.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from urllib.parse import quote
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route

from lesion import heatmap, i18n, preprocess, verdict
from lesion.bundle import BROWSER_DIR, CONFIG_FILE, MODEL_FILE, InvalidBundleError, ModelBundle, load_bundle, sha256_of
from lesion.labels import BY_CODE, CODES

log = logging.getLogger(__name__)

PREFIX = "/private-mode"
ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "node_modules"
"""Where `npm ci` installs LiteRT.js in a checkout; the Space build copies RUNTIME_FILES to the same place."""
WEB_DIR = Path(__file__).parent / "web"
RUNTIME_VERSION = "2.5.3"
"""@litertjs/core and @litertjs/wasm-utils, pinned in package.json; RUNTIME_FILES are that release's files."""
RUNTIME_FILES = {
    "@litertjs/core/dist/index.js": "e7daccc3a31eef890848a737ccb863ded5f046a6b40c3fdc0556495adeb5d9b3",
    "@litertjs/wasm-utils/dist/index.js": "e0e20bc28ab001ac732cf40d15b6eebd24fb0deaeb95eeba5100f51eebf015f2",
    "@litertjs/core/wasm/litert_wasm_internal.js": "68efb69f770e3f76aff36a377de629ca496c131b86ac0f0f4b592a1543a898eb",
    "@litertjs/core/wasm/litert_wasm_internal.wasm": "7280cf4471774867e385e6c3cd53e2b45e2975b80fea338fff4ef359b0865614",
    "@litertjs/core/wasm/litert_wasm_compat_internal.js": "4d8f894b7883654fd6e8439730aa41e79ceaab7d19184fc4f1f0b0f1a2a2c8a5",
    "@litertjs/core/wasm/litert_wasm_compat_internal.wasm": "5255c8ad06eabdbd2522cdebf6b22fc10faf74625c23a49b9e072570cd1fa41c",
    "@litertjs/core/wasm/litert_wasm_threaded_internal.js": "92fe7a720c6deedaa1194c011c79a005ea4f6fc98f533b661cf7900760ab4849",
    "@litertjs/core/wasm/litert_wasm_threaded_internal.wasm": "b5e54eca10f043497edf9a02186332707cae260c550d7ea22b2cae55669596cf",
}
"""The LiteRT.js files private mode uses, by path under node_modules, with their sha256. Of the runtime's four
WebAssembly builds, three: relaxed SIMD (most browsers), compat (browsers without relaxed SIMD) and threaded (pages
that are cross-origin isolated); not JSPI, which only WebGPU and WebNN need."""
RUNTIME_VARIANTS = {"simd": "litert_wasm_internal", "compat": "litert_wasm_compat_internal",
                    "threaded": "litert_wasm_threaded_internal"}
BARE_IMPORT = 'from "@litertjs/wasm-utils";'
"""@litertjs/core's one import by package name, which a browser cannot resolve without an import map: it is served
pointing at the served copy of @litertjs/wasm-utils instead, the only change made to any file."""
SERVED_IMPORT = 'from "./wasm-utils.js";'
CACHE_FOREVER = {"Cache-Control": "public, max-age=31536000, immutable"}
ISOLATION_FRIENDLY = {"Cross-Origin-Resource-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}
"""Lets the runtime's threads start where the page is cross-origin isolated; changes nothing where it is not."""
RESULT_MESSAGES = ("headline_not_dermoscopic", "headline_unsure", "headline_confident", "headline_grayscale", "or",
                   "headline_alarm", "headline_alarm_grey", "bars_reading", "malignant_share", "see_a_doctor",
                   "melanoma_alarm_quiet", "melanoma_alarm_quiet_grey", "heatmap_class")
"""The server's own result text (lesion.i18n.MESSAGES), which the browser fills in the same way."""
RESULT_PAGE_TEXT = ("probabilities_label", "heatmap_toggle", "heatmap_label", "heatmap_legend")
REFUSAL_MESSAGES = ("title_empty", "empty", "title_not_image", "not_image", "title_too_large", "too_large",
                    "file_too_large", "title_too_small", "too_small")


class PrivateModeUnavailable(RuntimeError):
    """Private mode cannot be offered; the message says why and what to do, for the log and the page."""


def check_runtime(node_modules: Path = NODE_MODULES) -> dict[str, Path]:
    """{path under node_modules: file} for RUNTIME_FILES, each checked against its sha256.

    Raises:
        PrivateModeUnavailable: a file is missing or differs from the pinned release.
    """
    found = {}
    for name, expected in RUNTIME_FILES.items():
        path = node_modules / name
        if not path.is_file():
            raise PrivateModeUnavailable(f"LiteRT.js is not installed ({path} is missing); run `npm ci` in {ROOT}")
        actual = sha256_of(path)
        if actual != expected:
            raise PrivateModeUnavailable(f"{path} has sha256 {actual[:12]}…, not {expected[:12]}… of LiteRT.js "
                                         f"{RUNTIME_VERSION}; run `npm ci` in {ROOT} to reinstall the pinned release")
        found[name] = path
    return found


def browser_bundle(bundle: ModelBundle) -> ModelBundle:
    """The browser variant of a bundle, checked like any bundle and against the served model's config.

    Raises:
        PrivateModeUnavailable: the bundle has no valid browser variant.
    """
    directory = bundle.directory / BROWSER_DIR
    try:
        browser = load_bundle(directory)
    except InvalidBundleError as error:
        raise PrivateModeUnavailable(f"the model serving now has no usable browser variant: {error}") from None
    for key in ("labels", "input", "test_time_views", "temperature", "class_bias", "guard", "melanoma_alarm"):
        if browser.config.get(key) != bundle.config.get(key):
            raise PrivateModeUnavailable(f"{directory / CONFIG_FILE} differs from {bundle.directory / CONFIG_FILE} in "
                                         f"{key!r}; export both from the same run (training.bundle)")
    return browser


def integrity(sha256: str) -> str:
    """A hex sha256 as Subresource Integrity metadata, which browsers check a fetched file against."""
    return "sha256-" + base64.b64encode(bytes.fromhex(sha256)).decode()


def rules(max_file_mb: float, max_pixels: int = preprocess.MAX_PIXELS) -> dict:
    """The constants of the server's preprocessing, decision and result rules that the browser's copy follows."""
    return {
        "reducing_gap": preprocess.REDUCING_GAP,
        "shades_of_gray_power": preprocess.SHADES_OF_GRAY_POWER,
        "min_side": preprocess.MIN_SIDE,
        "max_pixels": max_pixels,
        "max_file_mb": max_file_mb,
        "grey_below": preprocess.GREY_BELOW,
        "unsure_below": verdict.UNSURE_BELOW,
        "leading_share": verdict.LEADING_SHARE,
        "see_a_doctor_from": verdict.SEE_A_DOCTOR_FROM,
        "tiny": verdict.TINY,
        "malignant": [code for code in CODES if BY_CODE[code].malignant],
        "heatmap": {"opacity": heatmap.OPACITY, "scale": heatmap.SCALE,
                    "anchors": heatmap.colourise(np.linspace(0, 1, 5)).tolist()},
    }


def texts() -> dict[str, dict[str, str]]:
    """{language: {key: text}}: private mode's own text, the server's result text and refusals, diagnosis names."""
    return {language: {**i18n.PRIVATE_MODE[language],
                       **{key: i18n.MESSAGES[language][key] for key in RESULT_MESSAGES + REFUSAL_MESSAGES},
                       **{key: i18n.PAGE[language][key] for key in RESULT_PAGE_TEXT},
                       **{f"name_{code}": i18n.diagnosis_name(code, language) for code in CODES}}
            for language in i18n.LANGUAGES}


def _web_tag() -> str:
    """A checksum of this project's browser code, so that its URLs change whenever it does."""
    digest = hashlib.sha256()
    for path in sorted(WEB_DIR.glob("*.js")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


class PrivateMode:
    """The routes that serve private mode, for the model that `current_bundle()` names at each request."""

    def __init__(self, current_bundle: Callable[[], ModelBundle], *, max_file_mb: float,
                 max_pixels: int = preprocess.MAX_PIXELS, node_modules: Path = NODE_MODULES,
                 examples: tuple[str, ...] = ()):
        self.current_bundle = current_bundle
        self.examples = tuple(examples)
        """The example gallery's full images, in its order (the gallery shows thumbnails; a click classifies these)."""
        self.max_file_mb = max_file_mb
        self.max_pixels = max_pixels
        self.node_modules = node_modules
        self._checked: dict[Path, ModelBundle | PrivateModeUnavailable] = {}
        """Served bundle's folder -> its checked browser variant or why it has none (bundles do not change once loaded)."""
        self._models: dict[str, Path] = {}
        """sha256 -> browser model file, for every browser variant offered since startup."""
        self._lock = threading.Lock()

    @cached_property
    def runtime(self) -> dict[str, Path] | PrivateModeUnavailable:
        """The checked runtime files, or why there are none (checked once: the files do not change while serving)."""
        try:
            return check_runtime(self.node_modules)
        except PrivateModeUnavailable as error:
            log.warning("Private mode is not available: %s", error)
            return error

    @cached_property
    def web_tag(self) -> str:
        return _web_tag()

    def settings(self) -> dict:
        """What the browser needs. URLs are relative to settings.json's, so they hold behind any proxy."""
        base = {"app": f"web/{self.web_tag}/private-mode.js", "languages": list(i18n.LANGUAGES), "text": texts(),
                "examples": [f"../gradio_api/file={quote(str(path))}" for path in self.examples]}
        runtime = self.runtime
        if isinstance(runtime, PrivateModeUnavailable):
            return {**base, "available": False, "reason": "unavailable_runtime"}
        browser = self._browser_model(self.current_bundle())
        if isinstance(browser, PrivateModeUnavailable):
            return {**base, "available": False, "reason": "unavailable_model"}
        config = browser.config
        litert = f"litertjs/{RUNTIME_VERSION}/"
        return {
            **base,
            "available": True,
            "runtime": {
                "version": RUNTIME_VERSION,
                "module": f"{litert}index.js",
                "variants": {variant: {"script": f"{litert}wasm/{stem}.js", "wasm": f"{litert}wasm/{stem}.wasm",
                                       "sha256": RUNTIME_FILES[f"@litertjs/core/wasm/{stem}.wasm"],
                                       "integrity": integrity(RUNTIME_FILES[f"@litertjs/core/wasm/{stem}.wasm"]),
                                       "bytes": sum(runtime[f"@litertjs/core/wasm/{stem}.{kind}"].stat().st_size
                                                    for kind in ("js", "wasm"))}
                             for variant, stem in RUNTIME_VARIANTS.items()},
            },
            "model": {"url": f"models/{config['sha256']}/{MODEL_FILE}", "sha256": config["sha256"],
                      "integrity": integrity(config["sha256"]),
                      "bytes": browser.model_path.stat().st_size, "name": browser.name, "version": browser.version,
                      "labels": config["labels"], "input": config["input"],
                      "test_time_views": config.get("test_time_views", ["identity"]),
                      "temperature": config.get("temperature", 1.0),
                      "class_bias": config.get("class_bias", [0.0] * len(CODES)),
                      "guard_threshold": config.get("guard", {}).get("threshold"),
                      "melanoma_alarm": config.get("melanoma_alarm")},
            "rules": rules(self.max_file_mb, self.max_pixels),
        }

    def _browser_model(self, bundle: ModelBundle) -> ModelBundle | PrivateModeUnavailable:
        """The served bundle's checked browser variant, or why there is none (checked and logged once a bundle)."""
        with self._lock:
            browser = self._checked.get(bundle.directory)
        if browser is None:
            try:
                browser = browser_bundle(bundle)
            except PrivateModeUnavailable as error:
                log.warning("Private mode is not available: %s", error)
                browser = error
            with self._lock:
                self._checked[bundle.directory] = browser
                if isinstance(browser, ModelBundle):
                    self._models[browser.config["sha256"]] = browser.model_path
        return browser

    # --- routes ----------------------------------------------------------------------------------------------

    def routes(self) -> list[Mount]:
        """Starlette routes for FastAPI(routes=...): Gradio's app takes them through launch(app_kwargs=...)."""
        return [Mount(PREFIX, routes=[
            Route("/settings.json", self._settings_route),
            Route("/web/{tag}/{name}", self._web_route),
            Route("/litertjs/{version}/{path:path}", self._runtime_route),
            Route("/models/{sha256}/" + MODEL_FILE, self._model_route),
        ])]

    async def _settings_route(self, request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(self.settings), headers={"Cache-Control": "no-store"})

    async def _web_route(self, request: Request) -> Response:
        tag, name = request.path_params["tag"], request.path_params["name"]
        path = WEB_DIR / name
        if tag != self.web_tag or not name.endswith(".js") or path.parent != WEB_DIR or not path.is_file():
            return Response(status_code=404)
        return FileResponse(path, media_type="text/javascript", headers={**CACHE_FOREVER, **ISOLATION_FRIENDLY})

    async def _runtime_route(self, request: Request) -> Response:
        runtime = self.runtime
        if request.path_params["version"] != RUNTIME_VERSION or isinstance(runtime, PrivateModeUnavailable):
            return Response(status_code=404)
        path = request.path_params["path"]
        headers = {**CACHE_FOREVER, **ISOLATION_FRIENDLY}
        if path == "index.js":
            source = runtime["@litertjs/core/dist/index.js"].read_text()
            return Response(source.replace(BARE_IMPORT, SERVED_IMPORT), media_type="text/javascript", headers=headers)
        if path == "wasm-utils.js":
            return FileResponse(runtime["@litertjs/wasm-utils/dist/index.js"], media_type="text/javascript", headers=headers)
        file = runtime.get(f"@litertjs/core/{path}")
        if file is None or not path.startswith("wasm/"):
            return Response(status_code=404)
        media_type = "application/wasm" if path.endswith(".wasm") else "text/javascript"
        return FileResponse(file, media_type=media_type, headers=headers)

    async def _model_route(self, request: Request) -> Response:
        with self._lock:
            path = self._models.get(request.path_params["sha256"])
        if path is None:
            return Response(status_code=404)
        return FileResponse(path, media_type="application/octet-stream", headers={**CACHE_FOREVER, **ISOLATION_FRIENDLY})



LOADER = f"""
const settingsUrl = new URL("{PREFIX.lstrip("/")}/settings.json", document.baseURI);
fetch(settingsUrl)
  .then((response) => response.json())
  .then((settings) => import(new URL(settings.app, settingsUrl).href)
    .then((module) => module.start(element, settings, settingsUrl)))
  .catch((error) => console.error("Private mode could not start:", error));
"""
"""gr.HTML's js_on_load for private mode's container: fetch the settings, import the module they name, start it.
Where the page is not the app's own (Gradio's web component on another site), the settings are not found and the
page simply offers no private mode."""
