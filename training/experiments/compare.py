"""Compare training recipes on what matters most: how they hold up on images from other sites and clinics.

    python -m training.experiments.compare runs/A runs/B runs/C runs/D --markdown comparison.md --plot comparison.png

Each run folder is a finished `training.train` run with --hold-out-site and --external (the model card's candidates
were made by training/candidates.sh at git tag studies-2026-12); the table sets its validation figures beside the
held-out site's and each external set's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def load_run(run_dir: Path) -> dict:
    """The eval_results.json of a run's bundle, named after the run folder, with its fitting time in minutes
    (TrainConfig.training_minutes).

    Raises:
        FileNotFoundError: the run has not finished.
    """
    path = run_dir / "bundle" / "eval_results.json"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has no bundle/eval_results.json; finish the run first")
    results = json.loads(path.read_text())
    return {"name": run_dir.name, "minutes": results["run"]["training_minutes"], **results}


def _f(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def own_auc(result: dict) -> float | None:
    """Melanoma AUC of the network's own probabilities, before the decision rule's class shift and temperature (the
    shift of the other classes moves a melanoma's probability); None for runs exported before it was recorded."""
    return result.get("uncalibrated", {}).get("melanoma_auc")


def markdown(runs: list[dict], site: str) -> str:
    """One row per candidate: validation, the held-out site, and each external set."""
    externals = sorted({name for run in runs for name in run["external"]})
    header = ["candidate", "validation BA", f"site-out ({site}) BA", "site-out melanoma AUC served (network's own)"]
    for name in externals:
        header += [f"{name} BA", f"{name} melanoma sensitivity / specificity", f"{name} melanoma AUC served (network's own)",
                   f"{name} best melanoma sensitivity at specificity 0.8"]
    header.append("training (min)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in runs:
        cells = [run["name"], _f(run["validation"]["balanced_accuracy"]), _f(run["site_out"]["balanced_accuracy"]),
                 f"{_f(run['site_out']['melanoma_auc'])} ({_f(own_auc(run['site_out']))})"]
        for name in externals:
            external = run["external"][name]
            cells += [_f(external["balanced_accuracy"]),
                      f"{_f(external['melanoma_sensitivity'])} / {_f(external['melanoma_specificity'])}",
                      f"{_f(external['melanoma_auc'])} ({_f(own_auc(external))})",
                      _f(external["melanoma_sensitivity_at_specificity_80"])]
        cells.append(f"{run['minutes']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + (f"\n\nEach candidate was trained without HAM10000's site {site} and scored on it; "
                               "`training/candidates.sh` at git tag studies-2026-12 holds the command of each.\n")


def plot(runs: list[dict], path: Path) -> None:
    """Balanced accuracy, melanoma AUC, and melanoma AUC before the decision rule per candidate: validation,
    held-out site, external sets."""
    externals = sorted({name for run in runs for name in run["external"]})
    columns = [("validation", lambda r: r["validation"])] + [("site out", lambda r: r["site_out"])] + \
              [(name, lambda r, n=name: r["external"][n]) for name in externals]
    figure, axes = plt.subplots(1, 3, figsize=(14, 4.2), dpi=120)
    width = 0.8 / len(columns)
    x = np.arange(len(runs))
    colours = ["#c6dbef", "#6baed6", "#08519c", "#fd8d3c"]
    metrics = (("balanced accuracy", lambda r: r["balanced_accuracy"]), ("melanoma AUC", lambda r: r["melanoma_auc"]),
               ("melanoma AUC before the decision rule", own_auc))
    for panel, (label, metric) in zip(axes, metrics):
        for i, (name, pick) in enumerate(columns):
            values = [metric(pick(run)) or 0 for run in runs]
            panel.bar(x + (i - (len(columns) - 1) / 2) * width, values, width, label=name, color=colours[i % len(colours)])
        panel.set(xticks=x, ylim=(0.3, 1) if "AUC" in label else (0, 1), ylabel=label)
        panel.set_xticklabels([run["name"] for run in runs], rotation=35, ha="right", rotation_mode="anchor")
        panel.tick_params(axis="x", labelsize=7)
    axes[0].legend(fontsize=7, loc="upper right", ncol=len(columns))
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="Finished training runs (output folders).")
    parser.add_argument("--markdown", type=Path, help="Write the table here.")
    parser.add_argument("--plot", type=Path, help="Write the bar chart here (PNG).")
    parser.add_argument("--hold-out-site", default="vienna_dias", help="The site the candidates left out. Default: vienna_dias.")
    args = parser.parse_args(argv)
    runs = [load_run(run_dir) for run_dir in args.runs]
    table = markdown(runs, args.hold_out_site)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)
    if args.plot:
        plot(runs, args.plot)
    return table


if __name__ == "__main__":
    main()
