"""Where training runs: one device, every device of this machine, or several machines, with tf.distribute.

    python -m training.train ... --strategy mirrored       # every local GPU (or the CPU when there is none)
    TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]}, "task": {"type": "worker", "index": 0}}' \\
        python -m training.train ... --strategy multi-worker  # the same command on each machine, with its own index

`--batch-size` is per replica. The global batch is batch size x replicas, and the learning rates grow with it:
the linear scaling rule of Goyal et al. 2017 ("Accurate, Large Minibatch SGD"), so that an epoch of fewer, larger
steps moves the weights about as far. A GPU is used whenever TensorFlow sees one, with every strategy.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os

import tensorflow as tf

log = logging.getLogger(__name__)

STRATEGIES = ("default", "mirrored", "multi-worker")
"""default: one device, the first GPU if there is one. mirrored: MirroredStrategy over every local GPU, else the CPU.
multi-worker: MultiWorkerMirroredStrategy across the machines that TF_CONFIG lists, each with all its GPUs."""


class DistributeConfigError(ValueError):
    """The strategy cannot be set up as asked; the message says how to fix it."""


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy called `name`. Call it before any other TensorFlow operation: a multi-worker
    strategy configures the collective ops, which TensorFlow allows only at startup.

    Raises:
        DistributeConfigError: an unknown name, or multi-worker without a usable TF_CONFIG.
    """
    if name == "default":
        strategy = tf.distribute.get_strategy()
    elif name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
    elif name == "multi-worker":
        cluster = read_tf_config()
        _fix_keras_multi_worker()
        log.info("worker %d of %d: %s", cluster["task"]["index"], len(cluster["cluster"]["worker"]), cluster["cluster"]["worker"])
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        raise DistributeConfigError(f"--strategy must be one of {STRATEGIES}, not {name!r}")
    gpus = tf.config.list_physical_devices("GPU")
    log.info("strategy %s: %d replica(s); GPUs seen: %s", name, strategy.num_replicas_in_sync,
             [gpu.name for gpu in gpus] or "none, training on the CPU")
    return strategy


def read_tf_config(environ=None) -> dict:
    """TF_CONFIG, parsed and checked: a cluster of workers and this machine's task among them.

    Raises:
        DistributeConfigError: TF_CONFIG is missing, not JSON, or does not place this task in the cluster.
    """
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    example = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
               '"task": {"type": "worker", "index": 0}}\'')
    if not text:
        raise DistributeConfigError(f"--strategy multi-worker needs TF_CONFIG on every machine, for example {example}")
    try:
        config = json.loads(text)
        workers = config["cluster"]["worker"]
        task = config["task"]
        kind, index = task["type"], task["index"]
    except (ValueError, KeyError, TypeError) as error:
        raise DistributeConfigError(f"TF_CONFIG is not a cluster with workers and a task ({error}); for example {example}") from None
    if not isinstance(workers, list) or not workers:
        raise DistributeConfigError("TF_CONFIG's cluster.worker must list at least one host:port")
    if kind not in ("worker", "chief") or not isinstance(index, int) or not 0 <= index < len(config["cluster"].get(kind, [])):
        raise DistributeConfigError(f"TF_CONFIG's task {task} is not one of the cluster's {len(workers)} workers; "
                                    f"give each machine its own index from 0 to {len(workers) - 1}")
    return config


def scaled(config, replicas: int):
    """A copy of a TrainConfig for `replicas` replicas: batch size and both learning rates times `replicas`."""
    if replicas == 1:
        return config
    copy = dataclasses.replace(config, batch_size=config.batch_size * replicas,
                               head_learning_rate=config.head_learning_rate * replicas,
                               finetune_learning_rate=config.finetune_learning_rate * replicas)
    log.info("%d replicas: global batch %d, learning rates %g (head) and %g (fine-tuning)", replicas, copy.batch_size,
             copy.head_learning_rate, copy.finetune_learning_rate)
    return copy


def _fix_keras_multi_worker() -> None:
    """Make Keras 3.15's `fit` work under MultiWorkerMirroredStrategy, in this process.

    It fails in two places (keras-team/keras#20585): it builds the model from the cross-worker mean of the first batch,
    which MultiWorkerMirroredStrategy cannot reduce eagerly, and it averages scalar metrics along an axis they do not
    have. Here the model is built from this worker's share of the batch (only its shapes matter) and scalars are
    averaged over the workers without an axis. tests/training/test_distribute.py trains on two workers to show that it holds.
    """
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    reduce_per_replica = trainer.reduce_per_replica
    if getattr(reduce_per_replica, "fixed_for_multi_worker", False):
        return

    def build_from_local_batch(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tree.map_structure(
                    lambda value: self._distribute_strategy.experimental_local_results(value)[0]
                    if isinstance(value, tf.distribute.DistributedValues) else value, next(batches))
                break
        with self._distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def reduce_scalars_without_axis(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None if value.shape.rank == 0 else 0), values)
        return reduce_per_replica(values, strategy, reduction)

    reduce_scalars_without_axis.fixed_for_multi_worker = True
    trainer.TensorFlowTrainer._maybe_symbolic_build = build_from_local_batch
    trainer.reduce_per_replica = reduce_scalars_without_axis
