"""Train the served HAM10000 classifier end to end. main() calls the stages in this order:

1. data (training/data.py): load HAM10000, split it by lesion, decode the images;
2. model (training/model.py): the ImageNet-pretrained backbone with a new 7-class head;
3. fit (here): the head on the frozen backbone, then the top of the backbone, with training/batches.py's batches;
4. finalise (training/finalise.py): the guard, the test-time views, the exported variant (training/export.py) and the
   decision rule (training/rule.py), all chosen on validation;
5. bundle (training/bundle.py): the bundle, scored everywhere through the app's path (training/evaluate.py), with its
   plots and model card (training/card.py).

    python -m training.train --dataset ../shared/data/ham10000 --output-dir runs/lite0

The defaults are the served recipe. The run writes its resolved options to training_args.json. Killed runs resume:
run the same command again.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from lesion.labels import CODES
from training import atomic, batches, checkpoints, data, distribute, model
from training.bundle import write_final_bundle
from training.config import (ARGS_FILE, BACKBONE, EMA_MOMENTUM, LABEL_SMOOTHING, PATIENCE, TIMES_FILE, TRAIN_BATCHNORM,
                             TrainConfig, parse_args, to_json)
from training.finalise import finalise
from training.plots import MONITOR, read_history

log = logging.getLogger(__name__)

BEST_FILE = "best.weights.h5"


def log_probability_loss(label_smoothing: float):
    """Cross-entropy on log(p) as logits: the served recipe's loss, the same as on p up to float rounding."""

    def loss(y_true, y_pred):
        logits = tf.math.log(tf.clip_by_value(y_pred, 1e-7, 1.0))
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
            model.unfreeze_top(backbone, frozen_fraction, train_batchnorm=TRAIN_BATCHNORM)
        if final.exists():
            log.info("phase %s already done: loading %s", name, final)
            classifier.load_weights(final)
            continue
        if epochs == 0:
            continue
        phase_dir.mkdir(parents=True, exist_ok=True)
        ema = frozen_fraction is not None  # fine-tuning keeps an average of its weights
        with classifier.distribute_strategy.scope():  # optimizer and metric variables live where the model does
            _compile(classifier, learning_rate, loss, ema=ema)
        log.info("phase %s: %d epochs of %d steps at learning rate %g, %d trainable weights", name, epochs, steps,
                 learning_rate, len(classifier.trainable_weights))
        callbacks = _callbacks(phase_dir, PATIENCE, ema=ema)
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
    """Stages 1 and 2, data and model: the split, decoded images, and the pretrained classifier, built in the strategy's
    scope."""
    keras.utils.set_random_seed(config.seed)
    # The same command on the same machine retrains the same weights (without it, two runs of one seed differed by as
    # much as seeds do).
    tf.config.experimental.enable_op_determinism()
    spec = config.input_spec
    dataset, pixels, labels, n_ham = data.decoded_sources(config.dataset, config.extra_dataset, spec, config.cache_dir)
    held_out = set()
    if config.hold_out_site:
        site_of = data.read_sites(config.sources, dataset.select(range(n_ham))["image_id"])
        held_out = {image_id for image_id, site in site_of.items() if site == config.hold_out_site}
        if not held_out:
            raise ValueError(f"no image of {config.dataset} comes from site {config.hold_out_site!r} of {config.sources}")
    split = data.split_sources(dataset, n_ham, seed=config.seed, validation_fraction=config.validation_fraction,
                               test_fraction=config.test_fraction,
                               extra_validation_fraction=config.extra_validation_fraction, held_out=held_out)
    if config.max_train_samples is not None:
        split["train"] = split["train"][: config.max_train_samples]
    rows = data.rows_of(dataset, split, config.dataset)
    with (strategy or tf.distribute.get_strategy()).scope():
        backbone = model.build_backbone(BACKBONE, spec, config.weights)
        classifier = model.build_classifier(backbone)
    return split, pixels, labels, rows, np.array(dataset["source"]), backbone, classifier


def train(config: TrainConfig):
    """Stages 1 to 3: fit the classifier; returns it with the split and the decoded data for the later stages."""
    strategy = distribute.make_strategy(config.strategy)  # first: a multi-worker strategy must precede every other op
    split, pixels, labels, rows, sources, backbone, classifier = prepare(config, strategy)
    config.output_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_text(config.output_dir / ARGS_FILE, to_json(config))  # the options as given, before scaling
    config = distribute.scaled(config, strategy.num_replicas_in_sync)
    train_labels = labels[rows["train"]]
    atomic.write_text(config.output_dir / "split.json", json.dumps(
        {"seed": config.seed, **split, "train_sources": data.count_by_source(sources[rows["train"]], train_labels)}, indent=1))
    weights = batches.class_weights(train_labels, config.class_weight_power)
    balancing = batches.class_weights(labels[rows["validation"]], 1.0)
    log.info("class weights %s", dict(zip(CODES, np.round(weights, 2))))
    spec = config.input_spec
    draws = None
    if config.balance_sources:
        draws = batches.source_balanced_draws(train_labels, sources[rows["train"]])
    elif config.extra_weight != 1.0:
        draws = batches.extra_weighted_draws(train_labels, sources[rows["train"]], data.HAM10000, config.extra_weight)
    train_ds, steps = batches.training_dataset(pixels[rows["train"]], train_labels, weights, spec,
                                               batch_size=config.batch_size, seed=config.seed, draws=draws)
    val_ds = batches.evaluation_dataset(pixels[rows["validation"]], labels[rows["validation"]], balancing, spec, config.batch_size)
    fit(config, classifier, backbone, train_ds, steps, val_ds, log_probability_loss(LABEL_SMOOTHING))
    return classifier, split, pixels, labels, rows


def main(argv=None) -> Path:
    """Run every stage and return the folder of the bundle."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = parse_args(argv)
    if config.comparison and not config.comparison.is_file():
        raise ValueError(f"--comparison {config.comparison} does not exist: write it with training.experiments.compare first")
    started = time.monotonic()
    classifier, split, pixels, labels, rows = train(config)
    bundle_dir = write_final_bundle(config, **finalise(config, classifier, split, pixels, labels, rows))
    log.info("bundle %s written after %.0f s in this invocation", bundle_dir, time.monotonic() - started)
    return bundle_dir


if __name__ == "__main__":
    main()
