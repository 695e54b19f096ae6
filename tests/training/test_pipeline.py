"""The whole training pipeline on the tiny fixture: load, split, train, export, evaluate, bundle, publish dry run."""

import dataclasses
import io
import json

import numpy as np
import pytest
from PIL import Image

from lesion.bundle import BUNDLED_DIR, load_bundle
from lesion.classifier import Classifier, calibrated_probabilities
from tests.conftest import EXAMPLES, TINY_DATASET, TINY_TRAINING
from training import evaluate, export, model, publish
from training.guard import fit_guard


def test_run_writes_a_complete_bundle(tiny_run):
    bundle_dir = tiny_run / "bundle"
    bundle = load_bundle(bundle_dir)
    for name in ("README.md", "split.json", "eval_results.json", "confusion_matrix.png", "variants.png", "training_curves.png",
                 "reliability.png", "confusion_matrix_examples.png", "browser/model.tflite"):
        assert (bundle_dir / name).is_file(), name
    assert bundle.config["quantization"] in export.QUANTIZATIONS
    assert bundle.size_mb < 6
    assert bundle.config["temperature"] > 0 and bundle.config["guard"]["threshold"] > 0
    results = json.loads((bundle_dir / "eval_results.json").read_text())
    assert {row["name"] for row in results["variants"]} == {"keras", *export.QUANTIZATIONS}
    assert set(results["external"]) == {"examples"} and results["external"]["examples"]["n_images"] == 21
    assert results["guard_photos"]["n_images"] >= 40
    assert not list(tiny_run.glob("*.partial")) and not list(tiny_run.glob("*.old"))


def test_every_evaluated_set_reports_calibration_before_and_after(tiny_run):
    results = json.loads((tiny_run / "bundle" / "eval_results.json").read_text())
    for scores in (results["validation"], results["test"], results["external"]["examples"]):
        assert 0 <= scores["uncalibrated"]["expected_calibration_error"] <= 1
        assert 0 <= scores["guard_false_alarms"] <= 1 and scores["reliability"]["count"]


def test_figures_before_the_rule_are_the_networks_own(tiny_run):
    """The card's rule-free melanoma AUC is that of the bundle served with temperature 1 and no class shift."""
    sources, references = evaluate.load_image_folder(EXAMPLES)
    probabilities, _, _ = evaluate.predict_all(evaluate.network_classifier(tiny_run / "bundle"), sources)
    expected = evaluate.compute_metrics(references, probabilities)
    examples = json.loads((tiny_run / "bundle" / "eval_results.json").read_text())["external"]["examples"]
    for key in ("melanoma_auc", "melanoma_sensitivity_at_specificity_80", "macro_auc_ovr"):
        assert examples["uncalibrated"][key] == pytest.approx(expected[key], abs=1e-6), key
    row = next(line for line in (tiny_run / "bundle" / "README.md").read_text().splitlines() if line.startswith("| examples (external) |"))
    assert f"| {expected['melanoma_auc']:.3f} → {examples['melanoma_auc']:.3f} |" in row


def test_browser_variant_is_batch_one_with_float_input_and_outputs(tiny_run):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(tiny_run / "bundle" / "browser" / "model.tflite"))
    (image,) = interpreter.get_input_details()
    assert list(image["shape"]) == [1, 150, 200, 3] and image["dtype"] == np.float32
    assert all(output["dtype"] == np.float32 for output in interpreter.get_output_details())
    assert load_bundle(tiny_run / "bundle" / "browser").config["temperature"] == load_bundle(tiny_run / "bundle").config["temperature"]


def test_saved_split_keeps_lesions_apart(tiny_run):
    from training.data import load_labelled

    split = json.loads((tiny_run / "bundle" / "split.json").read_text())
    dataset = load_labelled(str(TINY_DATASET))
    lesion_of = dict(zip(dataset["image_id"], dataset["lesion_id"]))
    train, test = ({lesion_of[i] for i in split[name]} for name in ("train", "test"))
    assert not train & test


def test_model_card_has_hub_metadata(tiny_run):
    from huggingface_hub import ModelCard

    card = ModelCard.load(tiny_run / "bundle" / "README.md")
    assert card.data.license == "cc-by-nc-4.0"
    assert card.data.pipeline_tag == "image-classification"
    assert card.data.eval_results[0].metric_type == "balanced_accuracy"
    assert "Not a medical device" in card.text


def test_tflite_matches_keras(tiny_run, tmp_path):
    """Probabilities, class maps and guard score of the float32 TFLite model against the Keras serving model."""
    spec = model.BACKBONES["efficientnet_lite0"].input_spec()
    backbone = model.build_backbone("efficientnet_lite0", spec, weights=None)
    classifier = model.build_classifier(backbone)
    classifier.load_weights(tiny_run / "checkpoints" / "2-finetune" / "final.weights.h5")
    rng = np.random.default_rng(0)
    served = export.serving_model(classifier, fit_guard(rng.uniform(0, 6, (64, 512)), rng.integers(0, 7, 64)))  # 192 + 320 tapped channels
    images = rng.normal(0, 0.5, (3, spec.height, spec.width, 3)).astype(np.float32)
    logits, maps, scores = (np.asarray(output) for output in served.predict(images, verbose=0))
    bias = classifier.get_layer("diagnosis").get_weights()[1]
    assert np.allclose(maps.mean(axis=(1, 2)) + bias, logits, atol=1e-4)  # the maps add up to the logits
    config = {**load_bundle(tiny_run / "variants" / "float32").config, "test_time_views": ["identity"]}
    runtime = Classifier(load_bundle(export.write_bundle(tmp_path / "float32", export.to_tflite(served, "float32"), config)))
    for image, expected_logits, expected_maps, expected_score in zip(images, logits, maps, scores):
        got = runtime.infer(image)
        assert np.abs(got.probabilities - calibrated_probabilities(expected_logits, runtime.temperature)).max() < 1e-4
        assert np.abs(got.class_maps - expected_maps).max() < 1e-3
        assert got.guard_score == pytest.approx(float(expected_score[0]), rel=1e-3)


def test_int8_variant_stays_close_to_float(tiny_run):
    images = np.random.default_rng(1).normal(0, 0.5, (3, 150, 200, 3)).astype(np.float32)
    float32, int8 = (Classifier(load_bundle(tiny_run / "variants" / name)) for name in ("float32", "int8"))
    for image in images:
        assert np.abs(float32.infer(image).probabilities - int8.infer(image).probabilities).max() < 0.1


def test_evaluate_cli_on_the_test_split(tiny_run, tmp_path):
    out, plot = tmp_path / "test.json", tmp_path / "cm.png"
    result = evaluate.main(["--model", str(tiny_run / "bundle"), "--data", str(TINY_DATASET), "--split", "test",
                            "--json", str(out), "--confusion-matrix", str(plot)])
    split = json.loads((tiny_run / "bundle" / "split.json").read_text())
    assert result["n_images"] == len(split["test"])
    assert json.loads(out.read_text())["balanced_accuracy"] == result["balanced_accuracy"]
    assert plot.stat().st_size > 10_000


def test_evaluate_cli_on_an_image_folder(tiny_run):
    result = evaluate.main(["--model", str(tiny_run / "bundle"), "--data", str(EXAMPLES)])
    assert result["n_images"] == 21 and sum(map(sum, result["confusion_matrix"])) == 21


def test_evaluate_cli_on_grey_copies_of_a_folder():
    """The bundled model on the examples without colour: fewer right, and most of its sure answers wrong (README)."""
    colour = evaluate.main(["--model", str(BUNDLED_DIR), "--data", str(EXAMPLES)])
    grey = evaluate.main(["--model", str(BUNDLED_DIR), "--data", str(EXAMPLES), "--grey"])
    assert grey["grey"] and not colour["grey"] and grey["n_images"] == 21
    assert grey["accuracy"] < colour["accuracy"] and grey["sure_but_wrong"] > colour["sure_but_wrong"]
    assert Image.open(io.BytesIO(evaluate.grey_copy(EXAMPLES / "ISIC_0034529.jpg"))).mode == "L"


def test_publish_dry_run_lists_the_bundle(tiny_run, capsys):
    publish.main(["--bundle", str(tiny_run / "bundle"), "--repo-id", "someone/ham10000-test", "--dry-run"])
    printed = capsys.readouterr().out
    from training.config import ARGS_FILE

    for name in ("model.tflite", "config.json", "README.md", "split.json", ARGS_FILE, "confusion_matrix.png", "browser/model.tflite"):
        assert f"would upload {name}" in printed
    assert "checkpoints" not in printed


def test_publish_without_token_fails_in_one_sentence(tiny_run, monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(SystemExit, match="No Hugging Face token"):
        publish.main(["--bundle", str(tiny_run / "bundle"), "--repo-id", "someone/ham10000-test"])


def test_publish_without_network_fails_in_one_sentence(tiny_run, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    import importlib

    import huggingface_hub.constants

    importlib.reload(huggingface_hub.constants)
    try:
        with pytest.raises(SystemExit, match="Could not publish to the Hub"):
            publish.main(["--bundle", str(tiny_run / "bundle"), "--repo-id", "someone/ham10000-test", "--token", "hf_x"])
    finally:
        monkeypatch.delenv("HF_ENDPOINT")
        importlib.reload(huggingface_hub.constants)


def test_publish_refuses_a_tampered_bundle(tiny_run, tmp_path):
    import shutil

    broken = shutil.copytree(tiny_run / "bundle", tmp_path / "bundle")
    (broken / "model.tflite").write_bytes(b"not the model")
    with pytest.raises(SystemExit, match="sha256"):
        publish.main(["--bundle", str(broken), "--repo-id", "someone/x", "--dry-run"])


def test_training_resumes_instead_of_starting_over(tiny_run, caplog):
    from training import config, train

    with caplog.at_level("INFO"):
        train.train(config.parse_args([*TINY_TRAINING, "--output-dir", str(tiny_run), "--external", str(EXAMPLES)]))
    assert "phase 1-head already done" in caplog.text and "phase 2-finetune already done" in caplog.text


def test_the_same_command_retrains_the_same_weights(tiny_run, tmp_path):
    import h5py

    from training import config, train
    from training.checkpoints import FINE_TUNING, final_weights

    train.train(config.parse_args([*TINY_TRAINING, "--output-dir", str(tmp_path)]))

    def weights(run):
        found = {}
        with h5py.File(final_weights(run, FINE_TUNING)) as file:
            file.visititems(lambda name, item: found.update({name: item[()]}) if isinstance(item, h5py.Dataset) else None)
        return found

    first, second = weights(tiny_run), weights(tmp_path)
    assert first.keys() == second.keys() and all(np.array_equal(first[name], second[name]) for name in first)


def test_config_validation():
    from training import config

    with pytest.raises(ValueError, match="fraction"):
        config.parse_args(["--dataset", "x", "--validation-fraction", "0.6", "--test-fraction", "0.5"])
    with pytest.raises(ValueError, match="--hold-out-site needs --sources"):
        config.parse_args(["--dataset", "x", "--hold-out-site", "vidir"])
    for study in ("--low-pass", "--mixstyle", "--upsample", "--batch-mix", "--teacher", "--soup", "--wise-ft"):
        with pytest.raises(SystemExit):
            config.parse_args(["--dataset", "x", study, "1"])


def test_run_writes_its_resolved_options_and_everything_reads_them(tiny_run):
    """training_args.json lies in the run folder and in its bundle, holds every option, and loads back unchanged."""
    from training import config

    given = config.parse_args([*TINY_TRAINING, "--output-dir", str(tiny_run), "--external", str(EXAMPLES)])
    for folder in (tiny_run, tiny_run / "bundle"):
        assert config.load(folder) == given
    assert set(json.loads((tiny_run / "bundle" / config.ARGS_FILE).read_text())) == {f.name for f in dataclasses.fields(given)}
    # The served recipe's 21 options and issue 33's four for extra sources; 45 before issue 32.
    assert len(dataclasses.fields(given)) <= 25


def test_int8_guard_score_has_headroom_above_its_threshold(tiny_run):
    threshold = load_bundle(tiny_run / "bundle").config["guard"]["threshold"]
    assert export.guard_ceiling(tiny_run / "variants" / "int8") >= export.GUARD_HEADROOM * threshold
    assert export.guard_ceiling(tiny_run / "variants" / "float32") == float("inf")
