"""Would fitting a HAM10000-only bundle's decision rule on other clinics' images as well make its headline honest there?

    python -m training.experiments.rule_on_slice lesion/bundled_model --slice-split runs/X1-isic/split.json \\
        --extra ../shared/data/isic_archive --external ../shared/data/derm7pt

The bundle never saw the extra source, so a run's `validation_outside` slice of it (--slice-split) can join the
fitting, and the rest of that source is one more set to score. The rule (training/rule.py) is fitted twice: on the
bundle's validation split alone, as served, and on validation plus the slice. For each set, the table gives balanced
accuracy, ECE, and the answers whose headline names one class (lesion.verdict.UNSURE_BELOW, 60%, or more): their
share, how often they are right, and the probability they state on average.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lesion.verdict import UNSURE_BELOW
from training import config, data, rule
from training.evaluate import confident_answers, load_image_folder, network_classifier, predict_all, probabilities_of
from training.refit import split_images
from training.scores import compute_metrics

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
        print(f"| set | BA | ECE | answers at {UNSURE_BELOW:.0%}+ | right | stated |\n|---|---:|---:|---:|---:|---:|")
        for name, network in probabilities.items():
            served = rule.apply(network, fitted)
            stated = served.max(axis=1)
            confident = confident_answers(references[name], served)
            answers = (f"{1 - confident['sure_but_wrong']:.0%} | {stated[stated >= UNSURE_BELOW].mean():.0%}"
                       if confident["sure"] else "- | -")
            metrics = compute_metrics(references[name], served)
            print(f"| {name} | {metrics['balanced_accuracy']:.3f} | {metrics['expected_calibration_error']:.3f} | "
                  f"{confident['sure']:.0%} | {answers} |")


if __name__ == "__main__":
    main()
