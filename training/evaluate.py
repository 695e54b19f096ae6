"""Evaluate any model bundle on a `datasets` source or an image folder, through the app's own path (stage 5,
training/bundle.py, scores every new bundle with it).

    python -m training.evaluate --model lesion/bundled_model --split test --json test.json  # the run's --dataset
    python -m training.evaluate --model RUN/bundle --data ../shared/data/isic_archive --split validation_outside
    python -m training.evaluate --model lesion/bundled_model --data ../shared/examples
    python -m training.evaluate --model lesion/bundled_model --data examples --grey   # the examples without colour

Every figure comes from training/scores.py, the project's `evaluate` metric module.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
from pathlib import Path

import numpy as np

from lesion.bundle import load_bundle
from lesion.classifier import Classifier
from lesion.labels import CODES, read_labelled_folder
from lesion.preprocess import load_image
from lesion.timing import LatencyStats
from lesion.verdict import UNSURE_BELOW
from training import config
from training.data import OUTSIDE, SITE_OUT, image_sources, load_labelled
from training.plots import plot_confusion_matrix
from training.rule import melanoma_decision
from training.scores import compute_metrics

log = logging.getLogger(__name__)

def network_classifier(bundle_dir: Path) -> Classifier:
    """The bundle's classifier without its decision rule (temperature 1, no class shift): the network's own
    probabilities."""
    classifier = Classifier(load_bundle(bundle_dir))
    classifier.temperature, classifier.class_bias = 1.0, np.zeros(len(CODES))
    return classifier


def probabilities_of(classifier: Classifier, images: np.ndarray, chunk: int = 256) -> np.ndarray:
    """The classifier's probabilities (N, 7) for normalised images (N, height, width, 3), a chunk at a time."""
    return np.stack([inference.probabilities for start in range(0, len(images), chunk)
                     for inference in classifier.infer_batch(images[start:start + chunk])])


def load_image_folder(folder: Path) -> tuple[list[Path], np.ndarray]:
    """An imagefolder-layout folder: images plus labels.csv with `file_name,dx`."""
    rows = read_labelled_folder(folder)
    return [path for path, _ in rows], np.array([CODES.index(dx) for _, dx in rows])


def load_split(data: str, split: str, split_file: Path | None):
    """Images and labels of a `datasets` source, restricted to one side of a saved lesion split."""
    dataset = load_labelled(data)
    if split != "all":
        if split_file is None or not split_file.is_file():
            raise FileNotFoundError(f"--split {split} needs the bundle's split.json; none at {split_file}")
        sides = json.loads(split_file.read_text())
        if split not in sides:
            raise ValueError(f"{split_file} has no {split!r} side; it has {sorted(k for k, v in sides.items() if isinstance(v, list))}")
        wanted = set(sides[split])
        dataset = dataset.filter(lambda ids: [i in wanted for i in ids], input_columns="image_id", batched=True)
        if len(dataset) != len(wanted):
            raise ValueError(f"{data} holds {len(dataset)} of the {len(wanted)} images of {split!r}: give the source "
                             "that side was drawn from")
    return image_sources(dataset), np.array([CODES.index(dx) for dx in dataset["dx"]])


def predict_all(classifier: Classifier, sources) -> tuple[np.ndarray, np.ndarray, dict]:
    """Probabilities (N, 7) and the guard's verdicts (N,) for every source, and latency statistics of their
    classification (as the app shows)."""
    stats = LatencyStats()
    probabilities, dermoscopic = [], []
    for source in sources:
        prediction = classifier.classify(source)
        stats.add(prediction.timings)
        probabilities.append(prediction.probabilities_array)
        dermoscopic.append(prediction.dermoscopic)
    return np.stack(probabilities), np.array(dermoscopic), stats.snapshot()


def grey_copy(source) -> bytes:
    """The image as a grayscale PNG: what a visitor's photo without colour sends."""
    image, _ = load_image(source)
    buffer = io.BytesIO()
    image.convert("L").save(buffer, "PNG")
    return buffer.getvalue()


def evaluate_bundle(model: Path, data: str, split: str = "test", *, grey: bool = False, split_file: Path | None = None) -> dict:
    """Classify every image of `data` with the bundle at `model`, exactly as the app does, and score it.

    `data` is a folder with labels.csv (all its images are used) or a `datasets` source (one side of split.json);
    with `grey`, grey copies of its images. "sure" is the share of images whose top class reaches the headline's
    threshold for naming one diagnosis, and "sure_but_wrong" the share of those whose top class is wrong;
    "melanoma_decision" scores the page's decision for melanoma (training.rule.melanoma_decision) beside the bars'
    figures.
    """
    bundle = load_bundle(model)
    if (Path(data) / "labels.csv").is_file():
        split = "all"
        sources, references = load_image_folder(Path(data))
    else:
        sources, references = load_split(data, split, split_file or model / "split.json")
    if grey:
        sources = [grey_copy(source) for source in sources]
    probabilities, dermoscopic, latency = predict_all(Classifier(bundle), sources)

    return {"model": bundle.name, "version": bundle.version, "data": data, "split": split, "grey": grey,
            **compute_metrics(references, probabilities), "guard_false_alarms": float(1 - dermoscopic.mean()),
            **confident_answers(references, probabilities),
            "melanoma_decision": melanoma_decision(references, probabilities, bundle.config.get("melanoma_alarm")),
            "latency_ms": latency}


def confident_answers(references: np.ndarray, probabilities: np.ndarray) -> dict:
    """The answers whose headline names one class (top probability at least lesion.verdict.UNSURE_BELOW): their share
    ("sure"), and the share of them that are wrong ("sure_but_wrong", 0 where there are none)."""
    sure = probabilities.max(axis=1) >= UNSURE_BELOW
    wrong = probabilities.argmax(axis=1) != references
    return {"sure": float(sure.mean()), "sure_but_wrong": float(wrong[sure].mean()) if sure.any() else 0.0}


def summary(result: dict) -> str:
    keys = ("n_images", "accuracy", "balanced_accuracy", "top_2_accuracy", "top_3_accuracy", "macro_auc_ovr",
            "melanoma_sensitivity", "melanoma_specificity", "melanoma_auc", "expected_calibration_error",
            "guard_false_alarms", "sure", "sure_but_wrong")
    lines = [f"{key:28s} {result[key]:.4f}" if isinstance(result[key], float) else f"{key:28s} {result[key]}" for key in keys]
    lines.append(f"{'class':8s} {'precision':>9s} {'recall':>7s} {'f1':>6s} {'auc':>6s} {'support':>7s}")
    for code, row in result["per_class"].items():
        auc = f"{row['auc']:.3f}" if row["auc"] is not None else "  -  "
        lines.append(f"{code:8s} {row['precision']:9.3f} {row['recall']:7.3f} {row['f1']:6.3f} {auc:>6s} {row['support']:7d}")
    for name in ("macro_avg", "weighted_avg"):
        row = result[name]
        lines.append(f"{name:8s} {row['precision']:9.3f} {row['recall']:7.3f} {row['f1']:6.3f}")
    decision = result["melanoma_decision"]
    lines.append(f"melanoma decision ({decision['by']}): " + ", ".join(
        f"{key} {value:.4f}" if value is not None else f"{key} -" for key, value in decision.items() if key != "by"))
    if "latency_ms" in result:
        lines.append(f"{'latency (ms)':14s} {'mean':>7s} {'std':>7s} {'min':>7s} {'max':>7s}")
        for step, row in result["latency_ms"].items():
            lines.append(f"{step:14s} {row['mean']:7.2f} {row['std']:7.2f} {row['min']:7.2f} {row['max']:7.2f}")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="A model bundle folder (model.tflite + config.json).")
    parser.add_argument("--data", help="A datasets source (Hub id or folder) or a folder with labels.csv; default: the "
                        "dataset the bundle was trained on (its training_args.json).")
    parser.add_argument("--split", default="test", choices=("train", "validation", "test", SITE_OUT, OUTSIDE, "all"),
                        help=f"For a datasets source: which side of the bundle's split.json ({OUTSIDE}: give the extra "
                        "source as --data). Default: test.")
    parser.add_argument("--split-file", type=Path, help="The split.json whose --split to score; default the bundle's own "
                        "(another run's scores this bundle on that run's sides).")
    parser.add_argument("--grey", action="store_true", help="Classify grey copies of the images (as grayscale PNGs).")
    parser.add_argument("--json", type=Path, help="Write every number here.")
    parser.add_argument("--confusion-matrix", type=Path, help="Write the confusion matrix plot here (PNG).")
    args = parser.parse_args(argv)
    if args.data is None:
        args.data = config.load(args.model).dataset
    result = evaluate_bundle(args.model, args.data, args.split, grey=args.grey, split_file=args.split_file)
    print(summary(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if args.confusion_matrix:
        plot_confusion_matrix(result["confusion_matrix"], args.confusion_matrix, f"{result['model']} on {args.data} ({result['split']})")
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
