"""Refit a finished bundle's decision rule on its validation split (and its extra sources' slice), and score it again
everywhere.

    python -m training.refit lesion/bundled_model --data ../shared/data/ham10000 \\
        --sources ../shared/data/ham10000/sources.csv --external ../shared/data/derm7pt

The network stays as it is. The run's options come from the bundle's training_args.json. Through the app's own
classifier, the bundle's validation images give the network's own probabilities, on which the decision rule (the class
shift, the temperature and the melanoma alarm's threshold, training/rule.py) is fitted as training does. Both configs
(the bundle's and its browser variant's) get the new rule, and a new minor version if it differs from the old one;
eval_results.json, the plots and the model card are then written anew from every set, as training/bundle.py writes
them, and the bundle is replaced only once all of it is written. Only validation chooses anything; the other sets are
reported.
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
from lesion.preprocess import normalise
from training import atomic, bundle, config, data, rule
from training.card import write_card
from training.evaluate import network_classifier, probabilities_of

log = logging.getLogger(__name__)

SETS = ("validation", data.OUTSIDE, "test", data.SITE_OUT)
FITTING = ("validation", data.OUTSIDE)
"""The sets the rule is fitted on, as training fits it: validation, and the extra sources' slice where the run has one."""
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


def split_images(split: dict, dataset: str, extra: list[str], spec, cache_dir: Path | None, sides=SETS) -> tuple[dict, dict]:
    """Normalised images and labels of each of `sides` (by default those scored, SETS) that a run's split holds,
    decoded as in training from HAM10000 (`dataset`) and the run's extra sources.

    Raises:
        ValueError: the sources lack images of the split (they are not those the bundle was trained on).
    """
    joined, pixels, labels, _ = data.decoded_sources(dataset, extra, spec, cache_dir)
    rows = data.rows_of(joined, {name: split[name] for name in sides if split.get(name)}, dataset)
    return ({name: normalise(pixels[r].astype(np.float32), spec) for name, r in rows.items()},
            {name: labels[r] for name, r in rows.items()})


def refit(bundle_dir: Path, dataset: str | None = None, *, externals: list[Path] | None = None, sources: Path | None = None,
          command: str) -> dict:
    """Refit the bundle's class shift, temperature and melanoma alarm on validation, and write it with every figure,
    plot and the card anew; the bundle is replaced only when all of it is written. Returns the new config.

    dataset and sources default to the run's (its training_args.json), externals to those its figures came from
    (eval_results.json).
    """
    before = json.loads((bundle_dir / "eval_results.json").read_text())
    run = config.load(bundle_dir)
    dataset = dataset or run.dataset
    externals = externals or [Path(result["data"]) for result in before["external"].values()]
    for folder in externals:
        if not (folder / "labels.csv").is_file():
            raise FileNotFoundError(f"no labelled folder (with labels.csv) at {folder}: give it with --external")
    sources = sources or run.sources
    split = json.loads((bundle_dir / "split.json").read_text())
    test_sites = list(data.read_sites(sources, split["test"]).values()) if sources else None
    images, references = split_images(split, dataset, run.extra_dataset, run.input_spec, run.cache_dir)
    fitting = [name for name in FITTING if name in images]
    network = network_classifier(bundle_dir)
    fitted = rule.fit(np.concatenate([references[name] for name in fitting]),
                      np.concatenate([probabilities_of(network, images[name]) for name in fitting]))
    log.info("%s", fitted)
    version = next_version(json.loads((bundle_dir / CONFIG_FILE).read_text()), fitted)
    with atomic.staged_directory(bundle_dir) as staging:
        shutil.copytree(bundle_dir, staging, dirs_exist_ok=True)
        for config_file in (staging / CONFIG_FILE, staging / BROWSER_DIR / CONFIG_FILE):
            served = {key: value for key, value in json.loads(config_file.read_text()).items() if key != "melanoma_alarm"}
            served.update({key: value for key, value in fitted.items() if value is not None}, version=version)
            config_file.write_text(json.dumps(served, indent=1) + "\n")
        served = json.loads((staging / CONFIG_FILE).read_text())
        results = bundle.score_bundle(staging, dataclasses.replace(run, external=externals), images, references, test_sites)
        results.update({key: before[key] for key in ("variants", "browser_model")})
        results["run"] = {**before["run"], "refit": {"command": command, "bundle": str(bundle_dir)}}
        (staging / "eval_results.json").write_text(json.dumps(results, indent=1))
        for plot in staging.glob("confusion_matrix_*.png"):  # an external set scored before may be gone
            plot.unlink()
        bundle.plot_results(staging, results)
        chosen = next(row for row in results["variants"] if row["name"] == served["quantization"])
        write_card(staging, run=run, results=results, bundle_config=served, chosen={**chosen, "views": served["test_time_views"]})
    return served


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path, help="A bundle folder with split.json, training_args.json and eval_results.json.")
    parser.add_argument("--data", help="The HAM10000 source the bundle's split refers to; default: the run's --dataset.")
    parser.add_argument("--sources", type=Path, help="HAM10000's sources.csv, for the test split's figures by site; "
                        "default: the run's.")
    parser.add_argument("--external", type=Path, action="append", default=[],
                        help="A labelled folder (repeatable); default: those the bundle was scored on.")
    args = parser.parse_args(argv)
    command = shlex.join(["python", "-m", "training.refit", *(sys.argv[1:] if argv is None else argv)])
    served = refit(args.bundle, args.data, externals=args.external, sources=args.sources, command=command)
    print(json.dumps({key: served.get(key) for key in ("class_bias", "temperature", "melanoma_alarm")}, indent=1))
    return served


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    main()
