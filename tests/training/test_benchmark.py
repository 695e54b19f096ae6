"""training.benchmark at a tiny size, so that it cannot rot. Structure only: speed is for the benchmark to measure."""

from __future__ import annotations

import json
import os

import keras
import pytest

from lesion.bundle import BUNDLED_DIR
from lesion.labels import CODES
from training import benchmark

pytestmark = pytest.mark.slow

MODEL_FIGURES = {"file_mb", "load_ms", "batch_images_per_s", "peak_rss_mb", "peak_rss_with_batch_mb"}
APP_FIGURES = {"http_ms", "gradio_client_ms", "cold_start_s", "app_peak_rss_mb"}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    """One whole run with the bundled model standing in for the reference, so that nothing is built."""
    out = tmp_path_factory.mktemp("benchmark") / "benchmark.json"
    returned = benchmark.main(["--reference", str(BUNDLED_DIR), "--runs", "3", "--percentile-runs", "4",
                               "--batch-images", "3", "--requests", "3", "--cold-starts", "1", "--rounds", "2", "--json", str(out)])
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(returned))
    return written


def test_every_model_figure_is_measured(result):
    assert list(result["models"]) == ["reference", "served"]
    for figures in result["models"].values():
        assert MODEL_FIGURES <= set(figures)
        assert all(figures[key] > 0 for key in MODEL_FIGURES)
        assert figures["peak_rss_mb"] < 400, "the process measuring a model loads no TensorFlow"
        assert figures["threads"] == benchmark.INFERENCE_THREADS
        paper = figures["classification_ms"]
        assert paper["n"] == 3 and paper["min"] <= paper["mean"] <= paper["max"] and paper["sd"] >= 0
        for key in ("classification_percentiles_ms", "inference_percentiles_ms", "preprocess_percentiles_ms",
                    "heatmap_percentiles_ms", "heatmap_png_percentiles_ms"):
            assert figures[key]["n"] == 4 and 0 < figures[key]["p50"] <= figures[key]["p95"]
        inference, total = figures["inference_percentiles_ms"]["p50"], figures["classification_percentiles_ms"]["p50"]
        assert inference < total


def test_every_app_figure_is_measured(result):
    assert set(result["apps"]) == {"reference", "served"}
    for figures in result["apps"].values():
        assert APP_FIGURES <= set(figures)
        for key in ("http_ms", "gradio_client_ms"):
            assert figures[key]["n"] == 3 and 0 < figures[key]["p50"] <= figures[key]["p95"]
        assert len(figures["cold_start_s"]["all"]) == 1 and figures["cold_start_s"]["median"] > 0
        rates = figures[f"http_images_per_s_{benchmark.CALLERS}_callers"]
        assert set(rates) == {benchmark.API_NAME, benchmark.BATCH_API_NAME} and all(rate > 0 for rate in rates.values())


def test_table_sets_every_figure_beside_the_reference(result):
    lines = result["table"].splitlines()
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| |")]
    assert len(rows) == 15
    assert all(line.count("|") == 4 for line in rows), "one label column and two model columns"
    for line in rows:
        served = line.split("|")[3]
        assert "x " in served, f"no ratio to the reference in {line!r}"
    assert "load average" in result["table"] and result["command"].startswith("python -m training.benchmark")
    assert result["image"]["size"] == [600, 450]


def test_comparison_words_point_the_right_way():
    assert benchmark.compare(2.0, 10.0, "time") == "5.0x faster"
    assert benchmark.compare(10.0, 2.0, "size") == "5.0x larger"
    assert benchmark.compare(200.0, 100.0, "rate") == "2.0x more"


def test_reference_is_built_like_the_published_model():
    model = benchmark.reference_model()
    assert model.input_shape == (None, benchmark.REFERENCE_SIDE, benchmark.REFERENCE_SIDE, 3)
    logits = model.outputs[0]
    head = logits._keras_history.operation
    assert isinstance(head, keras.layers.Dense) and head.units == len(CODES)
    assert isinstance(head.input._keras_history.operation, keras.layers.Flatten)
    assert model.output_shape[0] == (None, len(CODES))
    assert model.count_params() >= benchmark.REFERENCE_MIN_MB * 1e6, "dynamic range stores about one byte a weight"


def test_a_reference_far_smaller_than_the_published_file_is_refused(tmp_path):
    inputs = keras.Input((benchmark.REFERENCE_SIDE, benchmark.REFERENCE_SIDE, 3))
    tiny = keras.Model(inputs, keras.layers.Dense(len(CODES), activation="softmax")(keras.layers.GlobalAveragePooling2D()(inputs)))
    with pytest.raises(benchmark.BenchmarkError, match="56 MB"):
        benchmark.write_reference(tmp_path / "reference", tiny)


def test_private_mode_is_measured_in_the_browser_beside_the_server_path(result):
    browser = result["browser"]
    assert "skipped" not in browser or not os.environ.get("CI"), browser.get("skipped")
    if "skipped" in browser:
        pytest.skip(browser["skipped"])
    for mode in ("one_thread", "threads"):
        figures = browser[mode]
        assert len(figures["first_loads_ms"]) == benchmark.BROWSER_COLD_LOADS and figures["cached_load_ms"] > 0
        load = figures["first_load_ms"]
        assert load["runtime_load_ms"] > 0 and load["model_load_ms"] > 0 and load["load_ms"] > 0
        for step in benchmark.BROWSER_STEPS:
            assert figures[f"{step}_ms"]["n"] == 4 and 0 < figures[f"{step}_ms"]["p50"] <= figures[f"{step}_ms"]["p95"]
    assert browser["one_thread"]["threads"] == 1 and browser["threads"]["threads"] > 1
    assert result["models"]["served"]["decode_percentiles_ms"]["n"] == 4
    rows = [line for line in result["browser_table"].splitlines() if line.startswith("| ") and not line.startswith("| |")]
    assert len(rows) == 6 and all(line.count("|") == 5 for line in rows), "a label and three columns"
    assert "Targets, single-threaded" in result["browser_table"] and " at p95 (" in result["browser_table"]

