"""What the decision rule costs and buys: each pair of floors refitted on validation, scored on the held-out site and
external sets. The internal test split is never read.

    python -m training.rule_sweep runs/G-ema runs/G-seed7 runs/G-seed3 --data ../shared/data/ham10000 \\
        --external ../shared/data/derm7pt --markdown rules.md

For each finished run, the network's own probabilities (its bundle without the decision rule) are computed once per
set. Each rule's class shift is then fitted on validation as training/finalise.py fits the served one, with its
temperature (training/decision.py), and scored on every set; the table gives the mean over the runs. A melanoma's
probability is divided by the sum over all classes, so the shift of the other classes against each other moves
melanoma AUC as well as balanced accuracy. One row, "class weights undone", fits no shift: it takes -log of the
run's own training class weights (--class-weight-power), which turns the class-weighted network's probabilities
back into estimates under the training split's own class mix. Another, "melanoma against nevus alone", is no rule for
the bars but a melanoma score apart from them: log p(mel) - log p(nv) of the network's own probabilities, which ranks
melanomas without the other five classes in the sum; it has melanoma figures only.

A run is a training output folder, or a bundle with split.json and eval_results.json (the app's own:
lesion/bundled_model).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
from pathlib import Path

import numpy as np

from lesion.classifier import calibrated_probabilities
from lesion.labels import CODES
from training import batches, decision, melanoma_alarm, train
from training.evaluate import compute_metrics, load_image_folder, load_split, network_classifier, predict_all

log = logging.getLogger(__name__)

FLOORS = ((0.8, 0.7), (0.75, 0.6), (0.7, 0.5), (0.0, 0.0))
"""(validation accuracy, validation melanoma recall) floors to fit; (0.0, 0.0), balanced accuracy alone, is training's
default, and (0.8, 0.7) was until the melanoma alarm carried melanoma."""
NETWORK = "the network's own (no shift, temperature 1)"
MELANOMA_AGAINST_NEVUS = "melanoma against nevus alone (a melanoma score, no bars: log p(mel) - log p(nv))"
FIGURES = (("BA", "balanced_accuracy"), ("melanoma AUC", "melanoma_auc"),
           ("best melanoma sensitivity at specificity 0.8", "melanoma_sensitivity_at_specificity_80"))


def bundle_of(run_dir: Path) -> Path:
    """The run's bundle: its bundle/ folder, or the folder itself when it is a bundle."""
    return run_dir / "bundle" if (run_dir / "bundle").is_dir() else run_dir


def run_config(run_dir: Path) -> train.TrainConfig:
    """The run's training configuration, parsed from the command its eval_results.json records."""
    command = json.loads((bundle_of(run_dir) / "eval_results.json").read_text())["run"]["command"]
    return train.parse_args(shlex.split(command)[3:])  # after "python -m training.train"


def own_probabilities(run_dir: Path, data: str, externals: list[Path]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(labels, probabilities) per set: validation and the held-out site of the run's split, then each external folder."""
    classifier = network_classifier(bundle_of(run_dir))
    split_file = bundle_of(run_dir) / "split.json"
    split = json.loads(split_file.read_text())
    sets = {name: load_split(data, name, split_file) for name in ("validation", "site_out") if split.get(name)}
    sets.update({folder.name: load_image_folder(folder) for folder in externals})
    result = {}
    for name, (sources, labels) in sets.items():
        log.info("%s: %s, %d images", run_dir.name, name, len(labels))
        result[name] = (labels, predict_all(classifier, sources)[0])
    return result


def class_weights_undone(run_dir: Path, data: str) -> np.ndarray:
    """-log of the class weights the run trained with (training/batches.py, its own power): a shift that undoes them."""
    _, labels = load_split(data, "train", bundle_of(run_dir) / "split.json")
    return -np.log(batches.class_weights(labels, run_config(run_dir).class_weight_power))


def score_rules(sets: dict, undo_weights: np.ndarray) -> dict[str, dict[str, dict]]:
    """Metrics per rule and set. Each shift and its temperature are fitted on sets["validation"] only."""
    references, probabilities = sets["validation"]
    shifts = {"class weights undone": undo_weights}
    for accuracy, recall in FLOORS:
        name = f"accuracy ≥ {accuracy}, melanoma recall ≥ {recall}" if accuracy or recall else "balanced accuracy alone"
        shifts[name] = np.array(decision.fit_class_bias(references, probabilities, min_accuracy=accuracy, min_melanoma_recall=recall))
    served = {NETWORK: ([0.0] * len(CODES), 1.0)}
    served.update({rule: decision.served_rule(references, probabilities, shift) for rule, shift in shifts.items()})
    rules = {rule: {name: compute_metrics(y, calibrated_probabilities(np.log(p + 1e-12), temperature, bias)) for name, (y, p) in sets.items()}
             for rule, (bias, temperature) in served.items()}
    rules[MELANOMA_AGAINST_NEVUS] = {name: melanoma_alarm.ranking(y, p) for name, (y, p) in sets.items()}
    return rules


def markdown(per_run: list[dict]) -> str:
    """Mean over runs of each figure, a row per rule and a column per set (those of the first run) and figure."""
    rules = list(per_run[0])
    sets = list(per_run[0][rules[0]])
    header = ["rule"] + [f"{name} {label}" for name in sets for label, _ in FIGURES]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rule in rules:
        cells = [rule]
        for name in sets:
            for _, key in FIGURES:
                values = [run[rule][name][key] for run in per_run if run[rule].get(name, {}).get(key) is not None]
                cells.append(f"{np.mean(values):.3f}" if values else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\nMean over {len(per_run)} run(s); every rule is fitted on validation only.\n"


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="Finished training runs (output folders).")
    parser.add_argument("--data", required=True, help="The HAM10000 source the runs were trained on.")
    parser.add_argument("--external", type=Path, action="append", default=[], help="A labelled folder (repeatable).")
    parser.add_argument("--markdown", type=Path, help="Write the table here.")
    args = parser.parse_args(argv)
    per_run = [score_rules(own_probabilities(run, args.data, args.external), class_weights_undone(run, args.data))
               for run in args.runs]
    table = markdown(per_run)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)
    return table


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    main()
