"""Refit a finished bundle's decision rule on its validation split, and score it again everywhere.

    python -m training.refit lesion/bundled_model --data ../shared/data/ham10000 \\
        --sources ../shared/data/ham10000/sources.csv --external ../shared/data/derm7pt

The network stays as it is. Through the app's own classifier, the bundle's validation images give the network's own
probabilities, on which the class shift (with the floors given, training/decision.py), the temperature and the
melanoma alarm's threshold are fitted as training/finalise.py fits them. Both configs (the bundle's and its browser
variant's) get the new rule, and a new minor version if it differs from the old one; eval_results.json, the plots and the model card are then written anew from every set, as
training/report.py writes them, and the bundle is replaced only once all of it is written. Only validation chooses
anything; the other sets are reported.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shlex
import shutil
import sys
from pathlib import Path

import numpy as np

from lesion.bundle import BROWSER_DIR, CONFIG_FILE
from lesion.labels import CODES
from lesion.preprocess import normalise
from training import atomic, data, finalise, report, rule_sweep, train
from training.card import write_card
from training.evaluate import network_classifier, probabilities_of

log = logging.getLogger(__name__)

SETS = ("validation", "test", data.SITE_OUT)
RULE_TOLERANCE = 1e-3
"""How far a refitted temperature, shift or alarm threshold may lie from the bundle's before the rule counts as new."""


def next_version(config: dict, rule: dict) -> str:
    """The bundle's version, its minor number raised ("2.0.0" -> "2.1.0") if the rule differs from the one it serves:
    the same model file then answers differently, and API callers see the version."""
    old = {"class_bias": config["class_bias"], "temperature": config["temperature"],
           "melanoma_alarm": (config.get("melanoma_alarm") or {}).get("threshold")}
    new = {**rule, "melanoma_alarm": (rule["melanoma_alarm"] or {}).get("threshold")}

    def close(before, after) -> bool:
        return before is None and after is None or None not in (before, after) and np.allclose(before, after, atol=RULE_TOLERANCE)

    if all(close(old[key], new[key]) for key in old):
        return config["version"]
    major, minor, *_ = config["version"].split(".")
    return f"{major}.{int(minor) + 1}.0"


def split_images(split: dict, dataset: str, spec, cache_dir: Path | None, sides=SETS) -> tuple[dict, dict]:
    """Normalised images and labels of each of `sides` (by default those scored, SETS) that a run's split holds,
    decoded as in training.

    Raises:
        ValueError: `dataset` lacks images of the split (it is not the source the bundle was trained on).
    """
    ham = data.load_ham10000(dataset)
    rows = data.rows_of(ham, {name: split[name] for name in sides if split.get(name)}, dataset)
    pixels = data.decode_images(ham, spec, cache_dir)
    labels = np.array([CODES.index(dx) for dx in ham["dx"]])
    return ({name: normalise(pixels[r].astype(np.float32), spec) for name, r in rows.items()},
            {name: labels[r] for name, r in rows.items()})


def refit(bundle_dir: Path, dataset: str, *, externals: list[Path] | None = None, sources: Path | None = None,
          min_accuracy: float, min_melanoma_recall: float, command: str) -> dict:
    """Refit the bundle's class shift, temperature and melanoma alarm on validation, and write it with every figure,
    plot and the card anew; the bundle is replaced only when all of it is written. Returns the new config.

    externals and sources default to those the bundle's figures came from (its eval_results.json and command).
    """
    before = json.loads((bundle_dir / "eval_results.json").read_text())
    recorded = rule_sweep.run_config(bundle_dir)
    externals = externals or [Path(result["data"]) for result in before["external"].values()]
    for folder in externals:
        if not (folder / "labels.csv").is_file():
            raise FileNotFoundError(f"no labelled folder (with labels.csv) at {folder}: give it with --external")
    run = dataclasses.replace(recorded, min_accuracy=min_accuracy, min_melanoma_recall=min_melanoma_recall)
    sources = sources or run.sources
    split = json.loads((bundle_dir / "split.json").read_text())
    test_sites = list(data.read_sites(sources, split["test"]).values()) if sources else None
    images, references = split_images(split, dataset, run.input_spec, run.cache_dir)
    rule = finalise.fit_rule(references["validation"], probabilities_of(network_classifier(bundle_dir), images["validation"]), run)
    log.info("%s", rule)
    version = next_version(json.loads((bundle_dir / CONFIG_FILE).read_text()), rule)
    with atomic.staged_directory(bundle_dir) as staging:
        shutil.copytree(bundle_dir, staging, dirs_exist_ok=True)
        for config_file in (staging / CONFIG_FILE, staging / BROWSER_DIR / CONFIG_FILE):
            config = {key: value for key, value in json.loads(config_file.read_text()).items() if key != "melanoma_alarm"}
            config.update({key: value for key, value in rule.items() if value is not None}, version=version)
            config_file.write_text(json.dumps(config, indent=1) + "\n")
        config = json.loads((staging / CONFIG_FILE).read_text())
        results = report.score_bundle(staging, dataclasses.replace(run, external=externals), images, references, test_sites)
        results.update({key: before[key] for key in ("variants", "browser_model")})
        results["run"] = {**before["run"], "refit": {"command": command, "bundle": str(bundle_dir), "min_accuracy": min_accuracy,
                                                     "min_melanoma_recall": min_melanoma_recall}}
        (staging / "eval_results.json").write_text(json.dumps(results, indent=1))
        for plot in staging.glob("confusion_matrix_*.png"):  # an external set scored before may be gone
            plot.unlink()
        report.plot_results(staging, results)
        chosen = next(row for row in results["variants"] if row["name"] == config["quantization"])
        write_card(staging, run=run, results=results, bundle_config=config,
                   chosen={**chosen, "views": config["test_time_views"], "wise_ft": before["run"].get("wise_ft")})
    return config


def main(argv=None) -> dict:
    defaults = train.TrainConfig.__dataclass_fields__
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path, help="A bundle folder with split.json and eval_results.json.")
    parser.add_argument("--data", required=True, help="The HAM10000 source the bundle's split refers to.")
    parser.add_argument("--sources", type=Path, help="HAM10000's sources.csv, for the test split's figures by site; "
                        "default: the training command's.")
    parser.add_argument("--external", type=Path, action="append", default=[],
                        help="A labelled folder (repeatable); default: those the bundle was scored on.")
    parser.add_argument("--min-accuracy", type=float, default=defaults["min_accuracy"].default,
                        help="The rule keeps validation accuracy at least this (as training's option).")
    parser.add_argument("--min-melanoma-recall", type=float, default=defaults["min_melanoma_recall"].default,
                        help="The rule keeps validation melanoma recall at least this (as training's option).")
    args = parser.parse_args(argv)
    command = shlex.join(["python", "-m", "training.refit", *(sys.argv[1:] if argv is None else argv)])
    config = refit(args.bundle, args.data, externals=args.external, sources=args.sources, min_accuracy=args.min_accuracy,
                   min_melanoma_recall=args.min_melanoma_recall, command=command)
    print(json.dumps({key: config.get(key) for key in ("class_bias", "temperature", "melanoma_alarm")}, indent=1))
    return config


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    main()
