"""Stage 5, bundle: write the chosen model with its decision rule and guard, and score it through the app's own path
everywhere.

Internal (validation, test, and test by site), the held-out site if any, every external folder, the guard on
dermoscopic and non-dermoscopic images, and calibration before and after; then plots and the model card.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np

from lesion.bundle import BROWSER_DIR, MODEL_FILE, sha256_of
from lesion.classifier import Classifier, calibrated_probabilities
from training import atomic, export, plots, rule
from training.card import write_card
from training.config import ARGS_FILE
from training.evaluate import load_image_folder, predict_all
from training.scores import compute_metrics
from training.guard import non_dermoscopic_photos

log = logging.getLogger(__name__)


def write_final_bundle(run, *, chosen: dict, config: dict, served, calibration: np.ndarray, images: dict,
                       references: dict, test_sites: list[str] | None) -> Path:
    """Write `run.output_dir/bundle` (atomically: a half-written bundle is never where the app looks) and score it.

    Args:
        run: the TrainConfig.
        chosen: the variant's row of the comparison table, with `table` (all rows) and `views` added.
        config: the bundle's config.json, with its temperature, class bias and guard threshold.
        served: the Keras serving model, for the browser variant.
        images, references: normalised images and labels of "validation", "test" and maybe "site_out".
        test_sites: the site of each test image, for the per-site breakdown of the test split, if known.
    """
    bundle_dir = run.output_dir / "bundle"
    model = (run.output_dir / "variants" / chosen["name"] / MODEL_FILE).read_bytes()
    with atomic.staged_directory(bundle_dir) as staging:
        export.write_bundle(staging, model, config)
        browser = export.write_bundle(staging / BROWSER_DIR, export.to_tflite(served, "int8", calibration, browser=True),
                                      {**config, "quantization": "int8, float32 input and outputs, batch 1"})
        for name in ("split.json", ARGS_FILE):
            (staging / name).write_text((run.output_dir / name).read_text())
        if run.comparison:
            shutil.copy(run.comparison, staging / "comparison.md")
            if run.comparison.with_suffix(".png").is_file():
                shutil.copy(run.comparison.with_suffix(".png"), staging / "comparison.png")
        results = score_bundle(staging, run, images, references, test_sites)
        results["variants"] = chosen["table"]
        results["run"] = {"command": run.command(), "training_minutes": run.training_minutes(), "cpu_count": os.cpu_count(),
                          "hold_out_site": run.hold_out_site}
        results["browser_model"] = {"sha256": sha256_of(browser / MODEL_FILE), "size_mb": (browser / MODEL_FILE).stat().st_size / 1e6}
        (staging / "eval_results.json").write_text(json.dumps(results, indent=1))
        plot_results(staging, results)
        plots.plot_history(run.output_dir, staging / "training_curves.png")
        write_card(staging, run=run, results=results, chosen=chosen, bundle_config=config)
    return bundle_dir


def score_bundle(bundle_dir: Path, run, images: dict, references: dict, test_sites: list[str] | None) -> dict:
    """Every figure of the card, through the bundle's LiteRT classifier; test_sites as for write_final_bundle."""
    runtime, outputs = export.litert_outputs(bundle_dir, images)
    results = {}
    for name in images:
        dermoscopic = np.array([runtime.is_dermoscopic(score) for score in outputs[name]["guard_score"]])
        results[name] = _scored(references[name], outputs[name]["probabilities"], dermoscopic, runtime)
    if test_sites:
        test_sites = np.array(test_sites)
        results["test_by_site"] = {
            site: compute_metrics(references["test"][test_sites == site], outputs["test"]["probabilities"][test_sites == site])
            for site in sorted(set(test_sites))
        }
    results["external"] = {}
    for folder in run.external:
        sources, labels = load_image_folder(folder)
        probabilities, dermoscopic, _ = predict_all(runtime, sources)
        external = {"data": str(folder), **_scored(labels, probabilities, dermoscopic, runtime)}
        log.info("%s: balanced accuracy %.3f, melanoma sensitivity %.3f, melanoma AUC %.3f", folder.name,
                 external["balanced_accuracy"], external["melanoma_sensitivity"] or 0, external["melanoma_auc"] or 0)
        results["external"][folder.name] = external
    results["guard_photos"] = guard_on_photos(runtime)
    return results


# What "uncalibrated" keeps of the network's own probabilities, before the whole decision rule (the class shift and
# the temperature): its calibration, and its rankings, which the rule changes too (a melanoma's probability is divided
# by the sum over all classes, so shifting the other classes against each other moves it).
UNCALIBRATED_KEYS = ("expected_calibration_error", "reliability", "melanoma_auc", "melanoma_sensitivity_at_specificity_80",
                     "macro_auc_ovr")


def _scored(references: np.ndarray, probabilities: np.ndarray, dermoscopic: np.ndarray, runtime: Classifier) -> dict:
    """Metrics of the served probabilities, UNCALIBRATED_KEYS of the network's own probabilities, the guard's false
    alarms (every image here is dermoscopic) and the melanoma alarm's figures."""
    before = calibrated_probabilities((np.log(probabilities + 1e-12) - runtime.class_bias) * runtime.temperature)
    uncalibrated = compute_metrics(references, before)
    alarm = {"melanoma_alarm": rule.alarm_figures(references, probabilities, runtime.melanoma_alarm)} if runtime.melanoma_alarm else {}
    return {**compute_metrics(references, probabilities),
            "uncalibrated": {key: uncalibrated[key] for key in UNCALIBRATED_KEYS},
            "guard_false_alarms": float(1 - np.mean(dermoscopic)), **alarm}


def guard_on_photos(runtime: Classifier) -> dict:
    """The guard's verdict on each picture that is not dermoscopy: the share detected, and the ones it let through."""
    verdicts = {name: runtime.classify(image) for name, image in non_dermoscopic_photos().items()}
    missed = sorted(name for name, prediction in verdicts.items() if prediction.dermoscopic)
    return {"n_images": len(verdicts), "detected": 1 - len(missed) / len(verdicts), "missed": missed,
            "scores": {name: prediction.guard_score for name, prediction in verdicts.items()}}


def plot_results(directory: Path, results: dict) -> None:
    """The plots of eval_results.json's figures: confusion matrices, variants, reliability before and after."""
    plots.plot_confusion_matrix(results["test"]["confusion_matrix"], directory / "confusion_matrix.png",
                                "lesion-grouped HAM10000 test split")
    for name, external in results["external"].items():
        plots.plot_confusion_matrix(external["confusion_matrix"], directory / f"confusion_matrix_{name}.png",
                                    f"{name} (external)")
    plots.plot_variants(results["variants"], directory / "variants.png")
    curves = {name: results[name] for name in ("test",)}
    curves.update(results["external"])
    plots.plot_reliability({name: {"before": r["uncalibrated"]["reliability"], "after": r["reliability"]}
                            for name, r in curves.items() if "uncalibrated" in r}, directory / "reliability.png")

