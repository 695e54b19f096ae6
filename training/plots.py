"""Plots for the model card and README: what people look at first."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from lesion.labels import CODES
from training import checkpoints

MONITOR = "val_weighted_accuracy"
"""Keras' name for validation balanced accuracy: validation weights balance the classes."""


def read_history(phase_dir: Path) -> list[dict]:
    """The rows CSVLogger wrote for a phase, one per epoch; none if it never ran."""
    path = phase_dir / "history.csv"
    if not path.exists():
        return []
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


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


def plot_variants(table: list[dict], path: Path) -> None:
    """Validation and test balanced accuracy of every variant, with size and latency in the labels."""
    figure, axes = plt.subplots(figsize=(7.5, 3.6), dpi=120)
    x = np.arange(len(table))
    for offset, split, colour in ((-0.2, "val", "#9ecae1"), (0.2, "test", "#3182bd")):
        values = [row[split]["balanced_accuracy"] for row in table]
        axes.bar(x + offset, values, 0.4, label=f"{split} balanced accuracy", color=colour)
    labels = [row["name"] + (f"\n{row['size_mb']:.1f} MB, {row['latency_ms']:.1f} ms" if row["name"] != "keras" else "\n(reference)")
              for row in table]
    axes.set(xticks=x, xticklabels=labels, ylim=(0, 1), ylabel="balanced accuracy")
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def plot_history(output_dir: Path, path: Path) -> None:
    """Training and validation balanced accuracy per epoch, both phases, from the CSV logs."""
    figure, axes = plt.subplots(figsize=(7.5, 3.4), dpi=120)
    offset = 0
    for phase_dir in sorted((output_dir / checkpoints.ROOT).iterdir()):
        rows = read_history(phase_dir)
        epochs = np.arange(offset + 1, offset + len(rows) + 1)
        axes.plot(epochs, [float(r["weighted_accuracy"]) for r in rows], "o-", color="#9ecae1", markersize=3,
                  label="training (class-weighted accuracy)" if offset == 0 else None)
        axes.plot(epochs, [float(r[MONITOR]) for r in rows], "o-", color="#3182bd", markersize=3,
                  label="validation balanced accuracy" if offset == 0 else None)
        axes.axvline(offset + 0.5, color="grey", lw=0.5)
        axes.text(offset + 0.7, 0.05, phase_dir.name, fontsize=8, color="grey")
        offset += len(rows)
    axes.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1))
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def plot_reliability(curves: dict[str, dict], path: Path) -> None:
    """Reliability diagrams: accuracy against confidence per bin, one panel per evaluation set, before and after calibration.

    Args:
        curves: {set name: {"before": reliability, "after": reliability}}, each as the metric module returns it.
    """
    figure, axes = plt.subplots(1, len(curves), figsize=(3.4 * len(curves), 3.4), dpi=120, squeeze=False)
    for panel, (name, pair) in zip(axes[0], curves.items()):
        panel.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        for key, colour in (("before", "#fdae6b"), ("after", "#3182bd")):
            points = pair[key]
            sizes = 8 + 120 * np.asarray(points["count"]) / max(1, sum(points["count"]))
            panel.plot(points["confidence"], points["accuracy"], "-", color=colour, lw=1)
            panel.scatter(points["confidence"], points["accuracy"], s=sizes, color=colour, label=key)
        panel.set(title=name, xlabel="confidence of the top class", xlim=(0, 1), ylim=(0, 1))
    axes[0][0].set_ylabel("accuracy")
    axes[0][0].legend(loc="upper left", title="calibration")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
