"""How much fine detail the model's inputs carry, by source, before and after the input low-pass filter.

    python -m training.sharpness --dataset ../shared/data/ham10000 --sources ../shared/data/ham10000/sources.csv \\
        --folder examples --folder ../shared/data/derm7pt --sigma 0 0.5 0.7 1.0 1.3 [--model lesion/bundled_model]

Detail is the mean absolute Laplacian of the grey image over its standard deviation, measured on exactly what the
network sees (lesion.preprocess, then training/low_pass.py). It needs no labels. Unfiltered, Derm7pt and the
examples carry 1.3-1.8 times the detail of HAM10000's sites; at sigma 1.0 they come down to about HAM10000's
sharpest site, which is how --low-pass 1.0 was chosen. With --model, each labelled folder is also classified by
that bundle with its inputs blurred by each sigma: how much the model's figures depend on fine detail.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from lesion.bundle import load_bundle
from lesion.classifier import Classifier
from lesion.labels import read_labelled_folder
from lesion.preprocess import InputSpec, normalise, prepare_pixels
from training.data import image_sources, load_ham10000, read_sites
from training.low_pass import GaussianLowPass


def detail(pixels: np.ndarray) -> np.ndarray:
    """Mean |Laplacian| / standard deviation of the grey image, for a batch (n, height, width, 3)."""
    grey = pixels.astype(np.float32).mean(axis=3)
    centre = grey[:, 1:-1, 1:-1]
    laplacian = 4 * centre - grey[:, :-2, 1:-1] - grey[:, 2:, 1:-1] - grey[:, 1:-1, :-2] - grey[:, 1:-1, 2:]
    return np.abs(laplacian).mean(axis=(1, 2)) / (grey.std(axis=(1, 2)) + 1e-6)


def blurred(pixels: np.ndarray, sigma: float) -> np.ndarray:
    """float32 pixels through GaussianLowPass(sigma); sigma 0 leaves them as they are."""
    pixels = pixels.astype(np.float32)
    return np.asarray(GaussianLowPass(sigma)(pixels)) if sigma else pixels


def mean_detail(pixels: np.ndarray, sigma: float) -> float:
    return float(detail(blurred(pixels, sigma)).mean())


def scores_by_sigma(bundle_dir: Path, folder: Path, sigmas) -> list[dict]:
    """Balanced accuracy and melanoma AUC of a bundle on a labelled folder, its inputs blurred by each sigma."""
    from training.evaluate import compute_metrics, load_image_folder, probabilities_of  # imports the evaluate library; only --model needs it

    classifier = Classifier(load_bundle(bundle_dir))
    paths, references = load_image_folder(folder)
    pixels = np.stack([prepare_pixels(path, classifier.spec)[0] for path in paths])
    results = []
    for sigma in sigmas:
        inputs = normalise(blurred(pixels, sigma), classifier.spec)
        metrics = compute_metrics(references, probabilities_of(classifier, inputs))
        results.append({key: metrics[key] for key in ("balanced_accuracy", "melanoma_auc", "melanoma_sensitivity_at_specificity_80")})
    return results


def sources_by_name(args) -> dict[str, list]:
    """Up to --per-source images of each HAM10000 site and each labelled folder."""
    rng = np.random.default_rng(0)
    groups: dict[str, list] = {}
    dataset = load_ham10000(args.dataset)
    rows = rng.choice(len(dataset), min(len(dataset), 4 * args.per_source), replace=False)
    sample = dataset.select(rows)
    site_of = read_sites(args.sources, sample["image_id"])
    for source, image_id in zip(image_sources(sample), sample["image_id"]):
        groups.setdefault(f"HAM10000 {site_of[image_id]}", []).append(source)
    for folder in args.folder:
        paths = [path for path, _ in read_labelled_folder(folder)]
        groups[folder.name] = [paths[i] for i in sorted(rng.choice(len(paths), min(len(paths), args.per_source), replace=False))]
    return groups


def main(argv=None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="HAM10000 for datasets.load_dataset.")
    parser.add_argument("--sources", type=Path, required=True, help="HAM10000's sources.csv (image_id,dataset).")
    parser.add_argument("--folder", type=Path, action="append", default=[], help="A labelled folder (labels.csv); repeatable.")
    parser.add_argument("--sigma", type=float, nargs="+", default=[0.0, 0.5, 0.7, 1.0, 1.3])
    parser.add_argument("--per-source", type=int, default=150, help="Images measured per source. Default: 150.")
    parser.add_argument("--model", type=Path, help="A model bundle to score on each --folder at each sigma.")
    args = parser.parse_args(argv)
    spec = InputSpec()
    table, counts = {}, {}
    for name, sources in sources_by_name(args).items():
        pixels = np.stack([prepare_pixels(source, spec)[0] for source in sources])
        table[name], counts[name] = [mean_detail(pixels, sigma) for sigma in args.sigma], len(sources)
    print(f"{'source':28s} {'images':>6s} " + " ".join(f"{'sigma ' + str(s):>10s}" for s in args.sigma))
    for name, row in sorted(table.items()):
        print(f"{name:28s} {counts[name]:6d} " + " ".join(f"{value:10.3f}" for value in row))
    for folder in args.folder if args.model else []:
        for sigma, scores in zip(args.sigma, scores_by_sigma(args.model, folder, args.sigma)):
            print(f"{args.model.name} on {folder.name}, sigma {sigma}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
    return table


if __name__ == "__main__":
    main()
