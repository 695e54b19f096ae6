"""Would fitting a HAM10000-only bundle's decision rule on other clinics' images as well make its headline honest there?

    python -m training.experiments.rule_on_slice lesion/bundled_model --slice-split runs/X1-isic/split.json \\
        --extra ../shared/data/isic_archive --external ../shared/data/derm7pt

The bundle never saw the extra source, so a run's `validation_outside` slice of it (--slice-split) can join the
fitting, and the rest of that source is one more set to score. The rule (training/rule.py) is fitted twice: on the
bundle's validation split alone, as served, and on validation plus the slice. For each set, the table gives balanced
accuracy, ECE, and the answers that name one class at 60% or more: their share, how often they are right, and the
probability they state on average.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from training import config, data, rule
from training.evaluate import load_image_folder, network_classifier, predict_all, probabilities_of
from training.refit import split_images
from training.scores import compute_metrics

SURE = 0.6
"""An answer that names one class at this probability or more is a confident headline."""


def network_probabilities(bundle_dir: Path, slice_split: Path, extra: str, externals: list[Path]) -> tuple[dict, dict]:
    """The network's own probabilities and the labels of each set: the bundle's validation, test and held-out site,
    the slice, the rest of the extra source, and each external folder."""
    run = config.load(bundle_dir)
    own, other = (json.loads(path.read_text()) for path in (bundle_dir / "split.json", slice_split))
    seen = {image for side in data.SPLITS for image in own[side]}
    split = {**own, data.OUTSIDE: other[data.OUTSIDE], "extra_rest": [i for i in other["train"] if i not in seen]}
    sides = ("validation", data.OUTSIDE, "extra_rest", data.SITE_OUT, "test")
    images, references = split_images(split, run.dataset, [extra], run.input_spec, run.cache_dir, sides=sides)
    network = network_classifier(bundle_dir)
    probabilities = {name: probabilities_of(network, pixels) for name, pixels in images.items()}
    for folder in externals:
        sources, references[folder.name] = load_image_folder(folder)
        probabilities[folder.name] = predict_all(network, sources)[0]
    return probabilities, references


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path, help="A bundle trained on HAM10000 alone.")
    parser.add_argument("--slice-split", type=Path, required=True, help="A run's split.json with a validation_outside slice.")
    parser.add_argument("--extra", required=True, help="The source that slice was drawn from.")
    parser.add_argument("--external", type=Path, action="append", default=[], help="A labelled folder to score (repeatable).")
    args = parser.parse_args(argv)
    probabilities, references = network_probabilities(args.bundle, args.slice_split, args.extra, args.external)
    for fitting in (["validation"], ["validation", data.OUTSIDE]):
        fitted = rule.fit(np.concatenate([references[name] for name in fitting]),
                          np.concatenate([probabilities[name] for name in fitting]))
        print(f"\nrule fitted on {' + '.join(fitting)}: temperature {fitted['temperature']}")
        print("| set | BA | ECE | answers at 60%+ | right | stated |\n|---|---:|---:|---:|---:|---:|")
        for name, network in probabilities.items():
            served = rule.apply(network, fitted)
            sure = served.max(axis=1) >= SURE
            right = served.argmax(axis=1)[sure] == references[name][sure]
            metrics = compute_metrics(references[name], served)
            answers = f"{right.mean():.0%} | {served.max(axis=1)[sure].mean():.0%}" if sure.any() else "- | -"
            print(f"| {name} | {metrics['balanced_accuracy']:.3f} | {metrics['expected_calibration_error']:.3f} | "
                  f"{sure.mean():.0%} | {answers} |")


if __name__ == "__main__":
    main()
