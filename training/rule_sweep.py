"""What the decision rule costs and buys: each pair of floors refitted on validation, scored on the held-out site and
external sets. The internal test split is never read.

    python -m training.rule_sweep runs/G-ema runs/G-seed7 runs/G-seed3 --data ../shared/data/ham10000 \\
        --external ../shared/data/derm7pt --markdown rules.md

For each finished run, the network's own probabilities (its bundle served with temperature 1 and no class shift) are
computed once per set. Each rule is then fitted on validation exactly as training/finalise.py fits the served one
(training/decision.py), and scored on every set; the table gives the mean over the runs. A melanoma's probability
depends on the other classes' shifted logits, so the rule moves melanoma AUC as well as balanced accuracy. One row,
"class weights undone", fits nothing: it shifts each class by power * log(its share of the training split), which
turns the class-weighted network's probabilities back into estimates under the training split's own class mix.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from lesion.bundle import load_bundle
from lesion.classifier import Classifier, calibrated_probabilities
from lesion.labels import CODES
from training.decision import fit_class_bias
from training.evaluate import compute_metrics, load_image_folder, load_split, predict_all

log = logging.getLogger(__name__)

FLOORS = ((0.8, 0.7), (0.75, 0.6), (0.7, 0.5), (0.0, 0.0))
"""(validation accuracy, validation melanoma recall) floors to fit; (0.8, 0.7) is training's default."""
FIGURES = (("BA", "balanced_accuracy"), ("melanoma AUC", "melanoma_auc"),
           ("best melanoma sensitivity at specificity 0.8", "melanoma_sensitivity_at_specificity_80"))


def own_probabilities(run_dir: Path, data: str, externals: list[Path]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(labels, probabilities) per set: validation and the held-out site of the run's split, then each external folder."""
    raw = Classifier(load_bundle(run_dir / "bundle"))
    raw.temperature, raw.class_bias = 1.0, np.zeros(len(CODES))
    split_file = run_dir / "bundle" / "split.json"
    sets = {name: load_split(data, name, split_file) for name in ("validation", "site_out")
            if json.loads(split_file.read_text()).get(name)}
    sets.update({folder.name: load_image_folder(folder) for folder in externals})
    result = {}
    for name, (sources, labels) in sets.items():
        log.info("%s: %s, %d images", run_dir.name, name, len(labels))
        result[name] = (labels, predict_all(raw, sources)[0])
    return result


def prior_shift(run_dir: Path, data: str, power: float) -> np.ndarray:
    """power * log(class share of the run's training split): undoes class weights of that power."""
    _, labels = load_split(data, "train", run_dir / "bundle" / "split.json")
    share = np.bincount(labels, minlength=len(CODES)) / len(labels)
    return power * np.log(np.maximum(share, 1e-6))


def score_rules(sets: dict, prior: np.ndarray) -> dict[str, dict[str, dict]]:
    """Metrics per rule and set; each rule's shift is fitted on sets["validation"] only."""
    labels, probabilities = sets["validation"]
    shifts = {"no shift": np.zeros(len(CODES)), "class weights undone": prior}
    for accuracy, recall in FLOORS:
        name = f"accuracy ≥ {accuracy}, melanoma recall ≥ {recall}" if accuracy or recall else "balanced accuracy alone"
        shifts[name] = np.array(fit_class_bias(labels, probabilities, min_accuracy=accuracy, min_melanoma_recall=recall))
    return {rule: {name: compute_metrics(y, calibrated_probabilities(np.log(p + 1e-12), 1.0, shift)) for name, (y, p) in sets.items()}
            for rule, shift in shifts.items()}


def markdown(per_run: list[dict]) -> str:
    """Mean over runs of each figure, a row per rule and a column per set and figure."""
    sets = list(per_run[0][next(iter(per_run[0]))])
    header = ["rule"] + [f"{name} {label}" for name in sets for label, _ in FIGURES]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rule in per_run[0]:
        cells = [rule]
        for name in sets:
            for _, key in FIGURES:
                values = [run[rule][name][key] for run in per_run if run[rule][name][key] is not None]
                cells.append(f"{np.mean(values):.3f}" if values else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\nMean over {len(per_run)} run(s); every rule is fitted on validation only.\n"


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="Finished training runs (output folders).")
    parser.add_argument("--data", required=True, help="The HAM10000 source the runs were trained on.")
    parser.add_argument("--external", type=Path, action="append", default=[], help="A labelled folder (repeatable).")
    parser.add_argument("--prior-power", type=float, default=0.5, help="The runs' --class-weight-power. Default: 0.5.")
    parser.add_argument("--markdown", type=Path, help="Write the table here.")
    args = parser.parse_args(argv)
    per_run = [score_rules(own_probabilities(run, args.data, args.external), prior_shift(run, args.data, args.prior_power))
               for run in args.runs]
    table = markdown(per_run)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)
    return table


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    main()
