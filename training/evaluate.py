"""Stage 5, evaluate: any model bundle on a `datasets` source or an image folder, through the app's own path.

    python -m training.evaluate --model lesion/bundled_model --data ../shared/data/ham10000 --split test --json test.json
    python -m training.evaluate --model lesion/bundled_model --data ../shared/examples

Metrics are built on scikit-learn, whose functions the `evaluate` library's metric scripts wrap; `evaluate.load`
fetches those scripts from the Hub at run time, which an offline machine cannot do.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn import metrics as sk

from lesion.bundle import load_bundle
from lesion.classifier import Classifier
from lesion.labels import CODES, read_labelled_folder
from lesion.timing import LatencyStats
from training.data import image_sources, load_ham10000

log = logging.getLogger(__name__)

MELANOMA = CODES.index("mel")
CALIBRATION_BINS = 15


def compute_metrics(references, probabilities) -> dict:
    """Every reported number for integer labels (N,) and class probabilities (N, 7), in lesion.labels.CODES order.

    Returns:
        accuracy, balanced_accuracy (mean recall, the ISIC 2018 metric), top_2/top_3_accuracy, per_class
        precision/recall/f1/support/auc, macro_avg and weighted_avg, macro_auc_ovr, melanoma_sensitivity,
        melanoma_specificity, expected_calibration_error, confusion_matrix (rows: true, columns: predicted).
    """
    references = np.asarray(references)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predictions = probabilities.argmax(axis=1)
    labels = list(range(len(CODES)))
    precision, recall, f1, support = sk.precision_recall_fscore_support(references, predictions, labels=labels, zero_division=0)
    present = [c for c in labels if (references == c).any()]
    auc = {c: float(sk.roc_auc_score(references == c, probabilities[:, c])) for c in present if (references != c).any()}
    is_mel, said_mel = references == MELANOMA, predictions == MELANOMA
    result = {
        "n_images": int(len(references)),
        "accuracy": float(sk.accuracy_score(references, predictions)),
        "balanced_accuracy": float(recall[present].mean()),
        "top_2_accuracy": _top_k(references, probabilities, 2),
        "top_3_accuracy": _top_k(references, probabilities, 3),
        "per_class": {
            CODES[c]: {"precision": float(precision[c]), "recall": float(recall[c]), "f1": float(f1[c]),
                       "support": int(support[c]), "auc": auc.get(c)}
            for c in labels
        },
        "macro_avg": _average(precision, recall, f1, present, None),
        "weighted_avg": _average(precision, recall, f1, present, support),
        "macro_auc_ovr": float(np.mean(list(auc.values()))) if auc else None,
        "melanoma_sensitivity": float(said_mel[is_mel].mean()) if is_mel.any() else None,
        "melanoma_specificity": float((~said_mel[~is_mel]).mean()) if (~is_mel).any() else None,
        "expected_calibration_error": expected_calibration_error(references, probabilities),
        "confusion_matrix": sk.confusion_matrix(references, predictions, labels=labels).tolist(),
    }
    return result


def _top_k(references, probabilities, k: int) -> float:
    top = np.argsort(-probabilities, axis=1)[:, :k]
    return float((top == references[:, None]).any(axis=1).mean())


def _average(precision, recall, f1, present, weights) -> dict:
    w = None if weights is None else np.asarray(weights)[present]
    return {name: float(np.average(values[present], weights=w)) for name, values in
            (("precision", precision), ("recall", recall), ("f1", f1))}


def expected_calibration_error(references, probabilities, bins: int = CALIBRATION_BINS) -> float:
    """Top-label ECE: |accuracy - confidence| averaged over equal-width confidence bins, weighted by bin size."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == references
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            error += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(error)


def plot_confusion_matrix(matrix, path: Path, title: str) -> None:
    """Row-normalised confusion matrix (each row: what one true class was called), with counts."""
    matrix = np.asarray(matrix)
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    figure, axes = plt.subplots(figsize=(6.4, 5.6), dpi=120)
    axes.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (row, col), count in np.ndenumerate(matrix):
        axes.text(col, row, f"{rates[row, col]:.2f}\n({count})", ha="center", va="center", fontsize=7,
                  color="white" if rates[row, col] > 0.5 else "black")
    axes.set(xticks=range(len(CODES)), yticks=range(len(CODES)), xticklabels=CODES, yticklabels=CODES,
             xlabel="predicted", ylabel="true", title=title)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def load_image_folder(folder: Path) -> tuple[list[Path], np.ndarray]:
    """An imagefolder-layout folder: images plus labels.csv with `file_name,dx`."""
    rows = read_labelled_folder(folder)
    return [path for path, _ in rows], np.array([CODES.index(dx) for _, dx in rows])


def load_split(data: str, split: str, split_file: Path | None):
    """Images and labels of a `datasets` source, restricted to one side of a saved lesion split."""
    dataset = load_ham10000(data)
    if split != "all":
        if split_file is None or not split_file.is_file():
            raise FileNotFoundError(f"--split {split} needs the bundle's split.json; none at {split_file}")
        wanted = set(json.loads(split_file.read_text())[split])
        dataset = dataset.filter(lambda ids: [i in wanted for i in ids], input_columns="image_id", batched=True)
    return image_sources(dataset), np.array([CODES.index(dx) for dx in dataset["dx"]])


def predict_all(classifier: Classifier, sources) -> tuple[np.ndarray, dict]:
    """Probabilities (N, 7) for every source, and latency statistics of their classification (as the app shows)."""
    stats = LatencyStats()
    probabilities = []
    for source in sources:
        prediction = classifier.classify(source)
        stats.add(prediction.timings)
        probabilities.append(prediction.probabilities_array)
    return np.stack(probabilities), stats.snapshot()


def evaluate_bundle(model: Path, data: str, split: str = "test") -> dict:
    """Classify every image of `data` with the bundle at `model`, exactly as the app does, and score it.

    `data` is a folder with labels.csv (all its images are used) or a `datasets` source (one side of split.json).
    """
    bundle = load_bundle(model)
    if (Path(data) / "labels.csv").is_file():
        split = "all"
        sources, references = load_image_folder(Path(data))
    else:
        sources, references = load_split(data, split, model / "split.json")
    probabilities, latency = predict_all(Classifier(bundle), sources)
    return {"model": bundle.name, "version": bundle.version, "data": data, "split": split,
            **compute_metrics(references, probabilities), "latency_ms": latency}


def summary(result: dict) -> str:
    keys = ("n_images", "accuracy", "balanced_accuracy", "top_2_accuracy", "top_3_accuracy", "macro_auc_ovr",
            "melanoma_sensitivity", "melanoma_specificity", "expected_calibration_error")
    lines = [f"{key:28s} {result[key]:.4f}" if isinstance(result[key], float) else f"{key:28s} {result[key]}" for key in keys]
    lines.append(f"{'class':8s} {'precision':>9s} {'recall':>7s} {'f1':>6s} {'auc':>6s} {'support':>7s}")
    for code, row in result["per_class"].items():
        auc = f"{row['auc']:.3f}" if row["auc"] is not None else "  -  "
        lines.append(f"{code:8s} {row['precision']:9.3f} {row['recall']:7.3f} {row['f1']:6.3f} {auc:>6s} {row['support']:7d}")
    for name in ("macro_avg", "weighted_avg"):
        row = result[name]
        lines.append(f"{name:8s} {row['precision']:9.3f} {row['recall']:7.3f} {row['f1']:6.3f}")
    if "latency_ms" in result:
        lines.append(f"{'latency (ms)':14s} {'mean':>7s} {'std':>7s} {'min':>7s} {'max':>7s}")
        for step, row in result["latency_ms"].items():
            lines.append(f"{step:14s} {row['mean']:7.2f} {row['std']:7.2f} {row['min']:7.2f} {row['max']:7.2f}")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="A model bundle folder (model.tflite + config.json).")
    parser.add_argument("--data", required=True, help="A datasets source (Hub id or folder) or a folder with labels.csv.")
    parser.add_argument("--split", default="test", choices=("train", "validation", "test", "all"),
                        help="For a datasets source: which side of the bundle's split.json. Default: test.")
    parser.add_argument("--json", type=Path, help="Write every number here.")
    parser.add_argument("--confusion-matrix", type=Path, help="Write the confusion matrix plot here (PNG).")
    args = parser.parse_args(argv)
    result = evaluate_bundle(args.model, args.data, args.split)
    print(summary(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if args.confusion_matrix:
        plot_confusion_matrix(result["confusion_matrix"], args.confusion_matrix, f"{result['model']} on {args.data} ({result['split']})")
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
