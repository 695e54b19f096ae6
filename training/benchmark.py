"""Benchmark the served model beside the published model's architecture, in one run on one machine.

    python -m training.benchmark --json benchmark.json
    python -m training.benchmark --variants runs/efficientnet_lite0/variants   # every export variant too

The reference is built like the published work's model: InceptionResNetV2 at 150x150 with a Flatten + Dense(7) head,
converted to TFLite with dynamic-range quantisation (random weights: only its speed and size matter here). Both
models run the same path the app uses, `lesion.hub.ModelServer` with the app's thread count: read a 600x450 JPEG,
decode, fit, normalise and classify. Each model is measured in fresh subprocesses, so its peak RSS is its own, in
rounds that take turns with the other models. Then the app itself is started as a subprocess, once serving our model
(as `python app.py` does) and once serving the reference from a local Hub cache, timed from process start to the first
answer, and, with both running, timed request by request in turn over raw HTTP and through `gradio_client`. Taking
turns means a change in the machine's load hits both sides alike. Every figure is set beside the reference's, measured
in the same run. Last, private mode: the same image classified in headless Chromium by the page itself, beside the
server path's figures of the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from lesion import heatmap
from lesion.bundle import BUNDLED_DIR, CONFIG_FILE, MODEL_FILE, load_bundle
from lesion.hub import INFERENCE_THREADS, REPO_ENV, ModelServer
from lesion.labels import CODES

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "examples" / "ISIC_0034529.jpg"
"""A 600x450 ISIC 2018 JPEG: the size of every HAM10000 photo."""
REFERENCE_SIDE = 150
"""The published work's input: 150x150 pixels."""
REFERENCE_MIN_MB = 50
"""The published TFLite file is 56 MB; a reference much smaller than that is not the same model."""
REFERENCE_DIR = Path.home() / ".cache" / "lesion-benchmark" / f"inception-resnet-v2-{REFERENCE_SIDE}-dynamic-range-three-outputs"
"""Built here once (about a minute), reused afterwards."""
REFERENCE_REPO = "benchmark/reference"
"""The Hub id under which the app finds the reference in a local cache, as it would find a downloaded model."""
API_NAME = "predict"
BATCH_API_NAME = "classify_batch"
WARMUP = 10
CALLERS = 8
"""Concurrent API callers when measuring throughput over HTTP."""
STARTUP_TIMEOUT = 120.0


class BenchmarkError(RuntimeError):
    """A benchmark step failed; the message says which and what to check."""


@dataclass(frozen=True)
class Settings:
    image: Path = IMAGE
    runs: int = 30
    percentile_runs: int = 200
    batch_images: int = 32
    requests: int = 200
    cold_starts: int = 3
    rounds: int = 3


# --- the reference model ---------------------------------------------------------------------------------------


def build_reference(directory: Path) -> Path:
    """The reference, converted and written as a bundle in directory."""
    return write_reference(directory, reference_model())


def reference_model():
    """InceptionResNetV2 at REFERENCE_SIDE x REFERENCE_SIDE, Flatten, Dense(7); random weights.

    It also gives the two small outputs the app's classifier reads (class maps and a guard score, see
    training/export.py), so that it runs through exactly the app's path; they add a few thousand weights to 55 MB.
    """
    # TensorFlow is imported here only: the measuring subprocesses import this module and must not load it.
    import keras

    from lesion.labels import CODES
    from training import model

    backbone = model.build_backbone("inception_resnet_v2", reference_spec(), weights=None)
    inputs = keras.Input(backbone.input_shape[1:], name="image")
    features = backbone(inputs)
    logits = keras.layers.Dense(len(CODES))(keras.layers.Flatten()(features))
    class_maps = keras.layers.Dense(len(CODES), use_bias=False)(features)
    guard_score = keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(features))
    return keras.Model(inputs, [logits, class_maps, guard_score], name="inception_resnet_v2_reference")


def reference_spec():
    from lesion.preprocess import InputSpec
    from training.model import BACKBONES

    backbone = BACKBONES["inception_resnet_v2"]
    return InputSpec(REFERENCE_SIDE, REFERENCE_SIDE, backbone.mean, backbone.std)


def write_reference(directory: Path, classifier) -> Path:
    """Convert a Keras classifier with dynamic-range quantisation and write it as a one-view bundle.

    Raises:
        BenchmarkError: the file is under REFERENCE_MIN_MB.
    """
    from training import export

    tflite = export.to_tflite(classifier, "dynamic_range")
    if len(tflite) / 1e6 < REFERENCE_MIN_MB:
        raise BenchmarkError(f"the reference TFLite file is {len(tflite) / 1e6:.1f} MB, not about 56 MB like the "
                             f"published model (at least {REFERENCE_MIN_MB} MB); check its backbone and head")
    config = export.bundle_config(name=f"inception-resnet-v2-{REFERENCE_SIDE}-reference", backbone="inception_resnet_v2",
                                  spec=reference_spec(), quantization="dynamic_range", views=["identity"])
    return export.write_bundle(directory, tflite, config)


# --- one model, in its own process -------------------------------------------------------------------------------


def _times_ms(function, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def interleaved_ms(calls: dict, runs: int) -> dict[str, list[float]]:
    """Time several calls in turn, run by run, so that a change in the machine's load hits them all alike."""
    for call in calls.values():
        _times_ms(call, WARMUP)
    times = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            times[name] += _times_ms(call, 1)
    return times


def percentiles(times: list[float]) -> dict:
    return {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95)), "n": len(times)}


def share(total: int, rounds: int, index: int) -> int:
    """Round `index`'s part of `total` runs; the rounds add up to it exactly."""
    return total // rounds + (index < total % rounds)


def measure_model(bundle_dir: Path, settings: Settings) -> dict:
    """One round of raw timings of one bundle through the app's own path, with settings.runs and percentile_runs
    counted for this round. Run it in a fresh process: the peak RSS is that process's."""
    started = time.perf_counter()
    source = ModelServer.start(repo_id="", bundled_dir=bundle_dir).current  # what app.py does with no Hub repo set
    load_ms = (time.perf_counter() - started) * 1e3
    classifier, image = source.classifier, str(settings.image)
    _times_ms(lambda: classifier.classify(image), WARMUP)
    paper = _times_ms(lambda: classifier.classify(image), settings.runs)
    predictions = []
    series = _times_ms(lambda: predictions.append(classifier.classify(image)), settings.percentile_runs)
    heatmap_ms = _times_ms(lambda: draw_heatmaps(predictions[-1]), settings.percentile_runs)
    drawn = draw_heatmaps(predictions[-1])
    heatmap_png_ms = _times_ms(lambda: [heatmap.png_bytes(image) for image in drawn], settings.percentile_runs)
    single_rss_mb = process_memory_mb(os.getpid())  # before a batch enlarges the interpreter
    classifier.classify_batch([image] * settings.batch_images)  # sizes the interpreter for the batch once
    batch_ms = _times_ms(lambda: classifier.classify_batch([image] * settings.batch_images), 1)
    bundle = source.bundle
    return {
        "name": bundle.name, "quantization": bundle.config["quantization"], "views": len(classifier.views),
        "threads": INFERENCE_THREADS, "file_mb": bundle.size_mb, "load_ms": load_ms,
        "paper_ms": paper, "classify_ms": series,
        "inference_ms": [p.timings.inference_ms for p in predictions],
        "preprocess_ms": [p.timings.preprocess_ms for p in predictions],
        "decode_ms": [p.timings.decode_ms for p in predictions], "heatmap_ms": heatmap_ms,
        "heatmap_png_ms": heatmap_png_ms,
        "batch_images_per_s": [settings.batch_images / (ms / 1e3) for ms in batch_ms],
        "peak_rss_mb": single_rss_mb, "peak_rss_with_batch_mb": process_memory_mb(os.getpid()),
    }


def draw_heatmaps(prediction):
    """What the app adds for "where the model looks": the image the model saw and the top class's map over it. The
    map itself is an output of the same inference (timed with it)."""
    return heatmap.before_and_after(prediction.pixels, prediction.class_maps, CODES.index(prediction.top))


def summarise_model(rounds: list[dict]) -> dict:
    """One model's figures from the raw timings of its rounds."""
    joined = {key: [value for one in rounds for value in one[key]]
              for key in ("paper_ms", "classify_ms", "inference_ms", "preprocess_ms", "decode_ms", "heatmap_ms",
                        "heatmap_png_ms", "batch_images_per_s")}
    paper = joined["paper_ms"]

    def peak(key):
        return max((one[key] for one in rounds if one[key] is not None), default=None)

    return {
        **{key: rounds[0][key] for key in ("name", "quantization", "views", "threads", "file_mb")},
        "load_ms": statistics.median(one["load_ms"] for one in rounds),
        "classification_ms": {"mean": statistics.mean(paper), "sd": statistics.stdev(paper) if len(paper) > 1 else 0.0,
                              "min": min(paper), "max": max(paper), "n": len(paper)},
        "classification_percentiles_ms": percentiles(joined["classify_ms"]),
        "inference_percentiles_ms": percentiles(joined["inference_ms"]),
        "preprocess_percentiles_ms": percentiles(joined["preprocess_ms"]),
        "decode_percentiles_ms": percentiles(joined["decode_ms"]),
        "heatmap_percentiles_ms": percentiles(joined["heatmap_ms"]),
        "heatmap_png_percentiles_ms": percentiles(joined["heatmap_png_ms"]),
        "batch_images_per_s": statistics.median(joined["batch_images_per_s"]),
        "peak_rss_mb": peak("peak_rss_mb"),
        "peak_rss_with_batch_mb": peak("peak_rss_with_batch_mb"),
    }


def measure_models(bundles: dict[str, Path], settings: Settings) -> dict[str, dict]:
    """Each bundle in settings.rounds fresh processes, taking turns, so that a change in load hits every model alike."""
    rounds = {name: [] for name in bundles}
    for index in range(settings.rounds):
        this_round = dataclasses.replace(settings, runs=share(settings.runs, settings.rounds, index),
                                         percentile_runs=share(settings.percentile_runs, settings.rounds, index))
        for name, directory in bundles.items():
            log.info("measuring %s (%s), round %d of %d", name, directory, index + 1, settings.rounds)
            rounds[name].append(measure_in_subprocess(directory, this_round))
    return {name: {"bundle": str(bundles[name]), **summarise_model(raw)} for name, raw in rounds.items()}


def measure_in_subprocess(bundle_dir: Path, settings: Settings) -> dict:
    command = [sys.executable, "-m", "training.benchmark", "--measure", str(bundle_dir), *_settings_args(settings)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise BenchmarkError(f"measuring {bundle_dir} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the app, over HTTP ------------------------------------------------------------------------------------------


def call_over_http(client: httpx.Client, api_name: str, image: bytes) -> list:
    """Gradio's REST protocol: upload the file, then call_api with it."""
    upload = client.post("/gradio_api/upload", files={"files": ("lesion.jpg", image, "image/jpeg")})
    upload.raise_for_status()
    event, data = call_api(client, api_name, {"path": upload.json()[0], "meta": {"_type": "gradio.FileData"}})
    if event == "error":
        raise BenchmarkError(f"/{api_name} answered with an error: {json.dumps(data)}")
    return data


def call_api(client: httpx.Client, api_name: str, item) -> tuple[str, object]:
    """POST /gradio_api/call/<api_name> with one input, then read its event stream: ("complete" or "error", data)."""
    call = client.post(f"/gradio_api/call/{api_name}", json={"data": [item]})
    call.raise_for_status()
    event = None
    with client.stream("GET", f"/gradio_api/call/{api_name}/{call.json()['event_id']}") as stream:
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event in ("complete", "error"):
                return event, json.loads(line.removeprefix("data: "))
    raise BenchmarkError(f"/{api_name}'s event stream ended without a result")


@dataclass
class RunningApp:
    url: str
    process: subprocess.Popen
    started: float
    client: httpx.Client
    log_path: Path

    def first_answer(self, image: bytes) -> float:
        """Retry one request until the app answers it; returns the seconds since the process started."""
        deadline = self.started + STARTUP_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise BenchmarkError(f"the app exited with code {self.process.returncode}; its log:\n"
                                     f"{self.log_path.read_text()[-2000:]}")
            try:
                call_over_http(self.client, API_NAME, image)
                return time.perf_counter() - self.started
            except (httpx.TransportError, httpx.HTTPStatusError):
                if time.perf_counter() > deadline:
                    raise BenchmarkError(f"the app did not answer within {STARTUP_TIMEOUT:.0f} s; see {self.log_path}") from None
                time.sleep(0.01)


@contextmanager
def app_process(env: dict[str, str], log_path: Path):
    """`python app.py` on a free port, as a RunningApp; stopped afterwards."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log_file, httpx.Client(base_url=url, timeout=60) as client:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT,
                                   env={**os.environ, **env, "PORT": str(port)})
        try:
            yield RunningApp(url, process, started, client, log_path)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def process_memory_mb(pid: int, field: str = "VmHWM") -> float | None:
    """A running process's resident memory in MB from /proc (Linux): its peak (VmHWM) or its current size (VmRSS);
    None where /proc is missing.

    Not getrusage: its maximum survives fork and exec, so a child would report its parent's peak."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def throughput(url: str, api_name: str, image: bytes, requests: int) -> float:
    """Images per second when CALLERS clients each send single images at once."""
    with httpx.Client(base_url=url, timeout=60) as client:
        started = time.perf_counter()
        with ThreadPoolExecutor(CALLERS) as pool:
            list(pool.map(lambda _: call_over_http(client, api_name, image), range(requests)))
        return requests / (time.perf_counter() - started)


def measure_apps(envs: dict[str, dict[str, str]], settings: Settings, work_dir: Path) -> dict[str, dict]:
    """Cold starts, the apps taking turns; then, with all of them running, whole requests interleaved request by
    request over raw HTTP and through gradio_client, and throughput with CALLERS callers, one app after the other."""
    # gradio_client is imported here only: the measuring subprocesses import this module and must not load it.
    from gradio_client import Client, handle_file

    image = settings.image.read_bytes()
    cold_starts = {name: [] for name in envs}
    for attempt in range(settings.cold_starts - 1):
        for name, env in envs.items():
            with app_process(env, work_dir / f"app-{name}-{attempt}.log") as app:
                cold_starts[name].append(app.first_answer(image))
    with ExitStack() as stack:
        apps = {}
        for name, env in envs.items():
            apps[name] = stack.enter_context(app_process(env, work_dir / f"app-{name}.log"))
            cold_starts[name].append(apps[name].first_answer(image))
        log.info("timing whole requests to %s, taking turns", " and ".join(apps))
        http = interleaved_ms({name: partial(call_over_http, app.client, API_NAME, image) for name, app in apps.items()},
                              settings.requests)
        clients = {name: Client(app.url, verbose=False) for name, app in apps.items()}
        path = handle_file(str(settings.image))
        via_client = interleaved_ms({name: partial(client.predict, path, api_name=f"/{API_NAME}")
                                     for name, client in clients.items()}, settings.requests)
        rates = {name: {} for name in apps}
        for api in (API_NAME, BATCH_API_NAME):
            for name, app in apps.items():
                rates[name][api] = throughput(app.url, api, image, settings.batch_images)
        return {
            name: {"http_ms": percentiles(http[name]), "gradio_client_ms": percentiles(via_client[name]),
                   "cold_start_s": {"median": statistics.median(cold_starts[name]), "all": cold_starts[name]},
                   f"http_images_per_s_{CALLERS}_callers": rates[name], "app_peak_rss_mb": process_memory_mb(app.process.pid)}
            for name, app in apps.items()
        }


def hub_cache_with(bundle_dir: Path, cache_dir: Path) -> dict[str, str]:
    """A Hub cache holding bundle_dir as REFERENCE_REPO; returns the environment that makes the app serve it offline."""
    commit = "0" * 40
    repo = cache_dir / ("models--" + REFERENCE_REPO.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    for name in (CONFIG_FILE, MODEL_FILE):
        target = snapshot / name
        target.unlink(missing_ok=True)
        target.symlink_to((bundle_dir / name).resolve())
    return {REPO_ENV: REFERENCE_REPO, "HF_HUB_CACHE": str(cache_dir), "HF_HUB_OFFLINE": "1"}


# --- private mode, in the browser ---------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
BROWSER_COLD_LOADS = 3
"""First loads, each in a fresh browser profile, so that nothing is cached."""
BROWSER_STEPS = ("decode", "prepare", "inference", "total")
PER_IMAGE_TARGET_MS = 100
"""Issue 14's targets for private mode: per image, single-threaded (p95), and the first load from localhost (median)."""
FIRST_LOAD_TARGET_S = 2


def cross_origin_isolated(page, url: str) -> None:
    """Serve the page at url with COOP and COEP, as a server sending these headers would: it is then cross-origin
    isolated, and private mode runs LiteRT.js's threaded build."""
    def with_isolation(route):
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "cross-origin-opener-policy": "same-origin",
                                                  "cross-origin-embedder-policy": "require-corp"})
    page.route(lambda address: address.rstrip("/") == url.rstrip("/"), with_isolation)


def classify_in_page(page, image: Path, timeout_ms: float = 120_000) -> dict:
    """Private mode's result for one image chosen through the page's own file input (data-result of its panel)."""
    page.evaluate("document.querySelector('#private-mode-result')?.removeAttribute('data-result')")
    page.locator("#private-mode-file").set_input_files(str(image))
    page.locator("#private-mode-result[data-result]").wait_for(timeout=timeout_ms)
    return json.loads(page.locator("#private-mode-result").get_attribute("data-result"))


@contextmanager
def _private_page(context, url: str, isolated: bool):
    """A page of a browser context with private mode switched on."""
    page = context.new_page()
    if isolated:
        cross_origin_isolated(page, url)
    try:
        page.goto(url)
        page.locator("#private-mode-toggle").check(timeout=120_000)
        yield page
    finally:
        page.close()


def _browser_figures(browser, url: str, settings: Settings, isolated: bool, profile: Path) -> dict:
    """First loads in fresh incognito contexts (an empty cache), loads from the cache of a browser profile (as a
    visitor's browser keeps the files; an incognito cache is too small for the WebAssembly), then per-image times."""
    cold = []
    for _ in range(BROWSER_COLD_LOADS):
        context = browser.new_context()
        with _private_page(context, url, isolated) as page:
            cold.append(classify_in_page(page, settings.image))
        context.close()
    context = browser.browser_type.launch_persistent_context(profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        with _private_page(context, url, isolated) as page:
            classify_in_page(page, settings.image)
            cached = []
            for _ in range(BROWSER_COLD_LOADS):
                page.reload()
                page.locator("#private-mode-toggle").check(timeout=120_000)
                cached.append(classify_in_page(page, settings.image)["load_ms"])
            for _ in range(WARMUP):
                classify_in_page(page, settings.image)
            results = [classify_in_page(page, settings.image) for _ in range(settings.percentile_runs)]
    finally:
        context.close()
    return {
        "threads": results[0]["threads"], "cross_origin_isolated": isolated,
        "first_load_ms": {key: statistics.median(one[key] for one in cold) for key in ("runtime_load_ms", "model_load_ms", "load_ms")},
        "first_loads_ms": [one["load_ms"] for one in cold],
        "cached_load_ms": statistics.median(cached),
        **{f"{step}_ms": percentiles([one["timings_ms"][f"{step}_ms"] for one in results]) for step in BROWSER_STEPS},
    }


def measure_browser(settings: Settings, work_dir: Path) -> dict:
    """Private mode in headless Chromium against `python app.py` serving the bundled model on this machine: the first
    load of the runtime and the model with an empty cache (BROWSER_COLD_LOADS fresh contexts) and from the cache of a
    browser profile, then settings.percentile_runs classifications of settings.image through the page's own file
    input; on one thread, then again where the page is cross-origin isolated (threads). Every figure is the page's
    own clock."""
    if CHROMIUM is None:
        return {"skipped": "Chromium is not installed (apt-get install chromium)"}
    from playwright.sync_api import sync_playwright  # a development dependency, needed here only

    figures = {}
    with app_process({"HF_HUB_OFFLINE": "1", REPO_ENV: ""}, work_dir / "app-private-mode.log") as app, \
            sync_playwright() as playwright:
        app.first_answer(settings.image.read_bytes())
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name, isolated in (("one_thread", False), ("threads", True)):
                log.info("timing private mode in Chromium (%s)", name.replace("_", " "))
                figures[name] = _browser_figures(browser, app.url, settings, isolated, work_dir / f"profile-{name}")
        finally:
            browser.close()
    return figures


def browser_table(result: dict) -> str:
    """Private mode in the browser beside the server path (the served model, through the app's own code)."""
    browser = result["browser"]
    if "skipped" in browser:
        return f"Private mode in the browser was not measured: {browser['skipped']}."
    server, settings = result["models"]["served"], result["settings"]
    modes = [browser["one_thread"], browser["threads"]]

    def pair(figure):
        return f"{_ms(figure['p50'])} / {_ms(figure['p95'])} ms"

    def seconds(ms):
        return f"{ms / 1e3:.2f} s"

    rows = [
        ("| | private mode: browser, 1 thread | private mode: browser, "
         f"{browser['threads']['threads']} threads (cross-origin isolated) | server path: {server['name']}, "
         f"{server['threads']} LiteRT threads |"),
        "|---|---:|---:|---:|",
        f"| first load with an empty cache: runtime + model, median of {BROWSER_COLD_LOADS} | "
        + " | ".join(f"{seconds(m['first_load_ms']['runtime_load_ms'])} + {seconds(m['first_load_ms']['model_load_ms'])} = "
                     f"{seconds(m['first_load_ms']['load_ms'])}" for m in modes) + f" | model: {seconds(server['load_ms'])} |",
        f"| load again from the browser's cache (a reload), median of {BROWSER_COLD_LOADS} | "
        + " | ".join(seconds(m["cached_load_ms"]) for m in modes) + " | - |",
        "| decode p50 / p95 | " + " | ".join(pair(m["decode_ms"]) for m in modes) + f" | {pair(server['decode_percentiles_ms'])} |",
        "| prepare (fit, colour, normalise) p50 / p95 | " + " | ".join(pair(m["prepare_ms"]) for m in modes)
        + f" | {pair(server['preprocess_percentiles_ms'])} |",
        "| inference p50 / p95 | " + " | ".join(pair(m["inference_ms"]) for m in modes)
        + f" | {pair(server['inference_percentiles_ms'])} |",
        f"| per image (decode, prepare, infer) p50 / p95, {settings['percentile_runs']} runs | "
        + " | ".join(pair(m["total_ms"]) for m in modes)
        + f" | {pair(server['classification_percentiles_ms'])} (reading the file too) |",
    ]
    one = browser["one_thread"]
    first_load = one["first_load_ms"]["load_ms"] / 1e3

    def verdict(value, target):
        return "met" if value <= target else "missed"

    per_image = " and ".join(f"{_ms(one['total_ms'][key])} ms at {key} ({verdict(one['total_ms'][key], PER_IMAGE_TARGET_MS)})"
                             for key in ("p50", "p95"))
    return "\n".join([
        *rows, "",
        (f"Targets, single-threaded: per image at most {PER_IMAGE_TARGET_MS} ms: {per_image}; first load at most "
         f"{FIRST_LOAD_TARGET_S} s from localhost: {first_load:.2f} s ({verdict(first_load, FIRST_LOAD_TARGET_S)}). "
         "Headless Chromium against `python app.py` on this machine, timed by the page itself; the server path is the "
         "served model's row of the table above, measured in the same run."),
    ])


# --- the whole run -----------------------------------------------------------------------------------------------


def run(settings: Settings, reference_dir: Path, variants_dir: Path | None, work_dir: Path, command: str) -> dict:
    """Every measurement, in one run: the models, then the apps, then private mode in the browser."""
    if not (reference_dir / MODEL_FILE).exists():
        log.info("building the reference in %s", reference_dir)
        build_reference(reference_dir)
    load_bundle(reference_dir)
    with Image.open(settings.image) as image:
        image_size = image.size
    bundles = {"reference": reference_dir, "served": BUNDLED_DIR}
    if variants_dir is not None:
        found = sorted(path.parent for path in Path(variants_dir).glob(f"*/{MODEL_FILE}"))
        if not found:
            raise BenchmarkError(f"{variants_dir} holds no variant bundles (*/{MODEL_FILE}); pass a training run's variants folder")
        bundles.update({f"variant {path.name}": path for path in found})
    load = os.getloadavg()
    models = measure_models(bundles, settings)
    apps = measure_apps({"reference": hub_cache_with(reference_dir, work_dir / "hub-cache"),
                         "served": {"HF_HUB_OFFLINE": "1", REPO_ENV: ""}}, settings, work_dir)
    browser = measure_browser(settings, work_dir)
    return {
        "command": command,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_at_start": load, "load_average_at_end": os.getloadavg()},
        "image": {"path": str(settings.image.relative_to(ROOT) if settings.image.is_relative_to(ROOT) else settings.image),
                  "size": list(image_size), "bytes": settings.image.stat().st_size},
        "settings": {**{key: value for key, value in dataclasses.asdict(settings).items() if key != "image"},
                     "threads": INFERENCE_THREADS, "callers": CALLERS},
        "models": models,
        "apps": apps,
        "browser": browser,
    }


# --- the table ---------------------------------------------------------------------------------------------------

KINDS = {"time": (True, "faster", "slower"), "size": (True, "smaller", "larger"), "rate": (False, "more", "fewer")}
"""For each kind of figure: whether lower is better, and the words for better and worse than the reference."""


def compare(value: float, reference: float, kind: str) -> str:
    """The figure against the reference's, in words: "3.1x faster", "1.2x larger"."""
    lower_is_better, better, worse = KINDS[kind]
    if not value or not reference:
        return "-"
    times = reference / value if lower_is_better else value / reference
    return f"{times:.1f}x {better}" if times >= 1 else f"{1 / times:.1f}x {worse}"


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} MB"


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _row(label: str, names: list[str], source: dict, figure, text, kind: str) -> str:
    """A table row: text(entry) for each model, then its figure(entry) (a number or a pair) against the reference's."""
    cells = []
    for name in names:
        if name not in source:
            cells.append("-")
            continue
        cell = text(source[name])
        if name != "reference":
            value, reference = figure(source[name]), figure(source["reference"])
            pairs = zip(value, reference) if isinstance(value, tuple) else [(value, reference)]
            cell += " (" + " / ".join(compare(v, r, kind) for v, r in pairs) + ")"
        cells.append(cell)
    return f"| {label} | " + " | ".join(cells) + " |"


def markdown_table(result: dict) -> str:
    """One row per figure; one column per model, each figure with its ratio to the reference's."""
    models, apps, settings, image, machine = (result[key] for key in ("models", "apps", "settings", "image", "machine"))
    names = list(models)

    def p50_p95(key):
        return lambda entry: (entry[key]["p50"], entry[key]["p95"])

    def ms_pair(key):
        return lambda entry: f"{_ms(entry[key]['p50'])} / {_ms(entry[key]['p95'])} ms"

    def heading(name):
        model = models[name]
        return f"{name}: {model['name']} ({model['quantization']}, {model['views']} view{'s' * (model['views'] > 1)})"

    callers = f"http_images_per_s_{settings['callers']}_callers"
    rows = [
        "| | " + " | ".join(heading(name) for name in names) + " |",
        "|---|" + "---:|" * len(names),
        _row("file size", names, models, lambda m: m["file_mb"], lambda m: f"{m['file_mb']:.1f} MB", "size"),
        _row(f"classification (read, decode, fit, infer), {settings['runs']} runs: mean ± sd (min-max)", names, models,
             lambda m: m["classification_ms"]["mean"],
             lambda m: "{mean:.1f} ± {sd:.1f} ({min:.1f}-{max:.1f}) ms".format(**m["classification_ms"]), "time"),
        _row(f"classification p50 / p95, {settings['percentile_runs']} runs", names, models,
             p50_p95("classification_percentiles_ms"), ms_pair("classification_percentiles_ms"), "time"),
        _row("of which reading, decoding, resizing p50 / p95", names, models, p50_p95("preprocess_percentiles_ms"),
             ms_pair("preprocess_percentiles_ms"), "time"),
        _row("of which inference p50 / p95", names, models, p50_p95("inference_percentiles_ms"),
             ms_pair("inference_percentiles_ms"), "time"),
        _row("heatmap: the top class's map drawn over the image, p50 / p95", names, models,
             p50_p95("heatmap_percentiles_ms"), ms_pair("heatmap_percentiles_ms"), "time"),
        _row("heatmap: the page's two pictures as PNG files, p50 / p95", names, models,
             p50_p95("heatmap_png_percentiles_ms"), ms_pair("heatmap_png_percentiles_ms"), "time"),
        _row("peak RSS of a process classifying", names, models, lambda m: m["peak_rss_mb"],
             lambda m: _mb(m["peak_rss_mb"]), "size"),
        _row(f"batch: {settings['batch_images']} images to classify_batch", names, models, lambda m: m["batch_images_per_s"],
             lambda m: f"{m['batch_images_per_s']:.0f} images/s", "rate"),
        _row(f"whole request over HTTP (/{API_NAME}) p50 / p95, {settings['requests']} requests", names, apps,
             p50_p95("http_ms"), ms_pair("http_ms"), "time"),
        _row("whole request through gradio_client p50 / p95", names, apps, p50_p95("gradio_client_ms"),
             ms_pair("gradio_client_ms"), "time"),
        _row(f"cold start: process start to first answer, median of {settings['cold_starts']}", names, apps,
             lambda a: a["cold_start_s"]["median"], lambda a: f"{a['cold_start_s']['median']:.1f} s", "time"),
        *(_row(f"over HTTP, {settings['callers']} callers sending single images to /{api}", names, apps,
               lambda a, api=api: a[callers][api], lambda a, api=api: f"{a[callers][api]:.0f} images/s", "rate")
          for api in (API_NAME, BATCH_API_NAME)),
        _row("peak RSS of the app", names, apps, lambda a: a["app_peak_rss_mb"], lambda a: _mb(a["app_peak_rss_mb"]), "size"),
    ]
    return "\n".join([
        *rows, "",
        f"One run of `{result['command']}` on {machine['cpus']} CPUs ({machine['platform']}), load average "
        f"{machine['load_average_at_start'][0]:.1f} at the start and {machine['load_average_at_end'][0]:.1f} at the end; "
        f"a {image['size'][0]}x{image['size'][1]} JPEG ({image['bytes'] / 1e3:.0f} kB); {settings['threads']} LiteRT threads; "
        f"each model in {settings['rounds']} rounds taking turns, the apps request by request in turn.",
    ])


# --- command line ------------------------------------------------------------------------------------------------


def _settings_args(settings: Settings) -> list[str]:
    return ["--image", str(settings.image), "--runs", str(settings.runs), "--percentile-runs", str(settings.percentile_runs),
            "--batch-images", str(settings.batch_images), "--requests", str(settings.requests),
            "--cold-starts", str(settings.cold_starts), "--rounds", str(settings.rounds)]


def parse_args(argv=None) -> argparse.Namespace:
    defaults = Settings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="Also write every figure to this JSON file.")
    parser.add_argument("--variants", type=Path, help="A training run's variants folder: measure each export variant too.")
    parser.add_argument("--reference", type=Path, default=REFERENCE_DIR,
                        help=f"The reference bundle; built there when missing. Default: {REFERENCE_DIR}.")
    parser.add_argument("--image", type=Path, default=defaults.image, help=f"The JPEG to classify. Default: {defaults.image.name}.")
    parser.add_argument("--runs", type=int, default=defaults.runs, help="Runs for mean ± sd, as the published work measured.")
    parser.add_argument("--percentile-runs", type=int, default=defaults.percentile_runs, help="Runs for p50/p95.")
    parser.add_argument("--batch-images", type=int, default=defaults.batch_images, help="Images per batch and per throughput test.")
    parser.add_argument("--requests", type=int, default=defaults.requests, help="Requests for each whole-request p50/p95.")
    parser.add_argument("--cold-starts", type=int, default=defaults.cold_starts, help="App starts for the cold-start median.")
    parser.add_argument("--rounds", type=int, default=defaults.rounds,
                        help="Fresh processes per model, taking turns with the other models; the runs are shared among them.")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # one model in this process, JSON on stdout
    args = parser.parse_args(argv)
    for name in ("runs", "percentile_runs", "batch_images", "requests", "cold_starts", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not args.image.is_file():
        parser.error(f"--image {args.image} is not a file")
    return args


def main(argv=None) -> dict | None:
    """Run the benchmark, print the table, write the JSON; returns the result."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    settings = Settings(args.image.resolve(), args.runs, args.percentile_runs, args.batch_images, args.requests, args.cold_starts,
                        args.rounds)
    if args.measure:
        print(json.dumps(measure_model(args.measure, settings)))
        return None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per HTTP request otherwise
    with tempfile.TemporaryDirectory(prefix="lesion-benchmark-") as work_dir:
        result = run(settings, args.reference, args.variants, Path(work_dir), " ".join(["python -m training.benchmark", *argv]))
    result["table"] = markdown_table(result)
    result["browser_table"] = browser_table(result)
    print(result["table"], result["browser_table"], sep="\n\n")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
