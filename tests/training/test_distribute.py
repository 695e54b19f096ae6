"""Training under tf.distribute: two steps with MirroredStrategy over two logical CPUs, resumed from its checkpoint
under another strategy, and two steps on two workers with MultiWorkerMirroredStrategy.

Devices and collective ops can only be set up before TensorFlow starts, so training runs in fresh Python processes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT, TINY_DATASET
from training import distribute

pytestmark = pytest.mark.slow

TRAIN = textwrap.dedent("""
    # python -c TRAIN dataset output_dir strategy logical_cpus [resume_strategy]: two steps, then maybe a resume.
    import json, logging, sys
    import numpy as np
    import tensorflow as tf

    dataset, output, strategy, cpus, *resume = sys.argv[1:]
    if int(cpus) > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * int(cpus))
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    from training import config, train

    def run(strategy):
        options = config.parse_args([
            "--dataset", dataset, "--output-dir", output, "--strategy", strategy, "--weights", "none",
            "--max-train-samples", "8", "--batch-size", "2", "--head-epochs", "1", "--finetune-epochs", "0",
            "--validation-fraction", "0.25", "--test-fraction", "0.25", "--cache-dir", "none"])
        return train.train(options)[0]

    trained = run(strategy)
    result = {
        "replicas": trained.distribute_strategy.num_replicas_in_sync,
        "steps": int(trained.optimizer.iterations.numpy()),
        "learning_rate": float(trained.optimizer.learning_rate.numpy()),
        "variable_type": type(trained.trainable_weights[-1].value).__name__,
        "weights_sum": float(sum(np.abs(w).sum() for w in trained.get_weights())),
    }
    if resume:
        resumed = run(resume[0])
        result["resumed_replicas"] = resumed.distribute_strategy.num_replicas_in_sync
        result["resumed_equal"] = all(np.array_equal(a, b) for a, b in zip(trained.get_weights(), resumed.get_weights()))
    print(json.dumps(result))
""")


def _start(output, strategy, cpus=1, resume=None, env=None):
    return subprocess.Popen([sys.executable, "-c", TRAIN, str(TINY_DATASET), str(output), strategy, str(cpus), *filter(None, [resume])],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _finish(process) -> tuple[dict, str]:
    stdout, stderr = process.communicate(timeout=900)
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1]), stderr


@pytest.fixture(scope="module")
def mirrored_run(tmp_path_factory):
    """MirroredStrategy over two logical CPUs for two steps, then the same command under the default strategy."""
    output = tmp_path_factory.mktemp("mirrored")
    return (*_finish(_start(output, "mirrored", cpus=2, resume="default")), output)


def test_two_steps_on_two_replicas_with_global_batch_and_scaled_learning_rate(mirrored_run):
    result, log, _ = mirrored_run
    assert result["replicas"] == 2
    assert result["steps"] == 2, "8 images in global batches of 2 replicas x 2"
    assert result["learning_rate"] == pytest.approx(2 * 1e-3)
    assert result["variable_type"] == "MirroredVariable"
    assert "global batch 4" in log


def test_a_mirrored_checkpoint_resumes_under_another_strategy(mirrored_run):
    result, log, output = mirrored_run
    assert (output / "checkpoints" / "1-head" / "final.weights.h5").exists()
    assert "phase 1-head already done" in log
    assert result["resumed_replicas"] == 1 and result["resumed_equal"]


def test_two_workers_train_in_step(tmp_path):
    """Two processes on this machine stand in for two machines: each its own TF_CONFIG index and output folder."""
    with socket.socket() as first, socket.socket() as second:
        first.bind(("127.0.0.1", 0))
        second.bind(("127.0.0.1", 0))
        hosts = [f"127.0.0.1:{first.getsockname()[1]}", f"127.0.0.1:{second.getsockname()[1]}"]
    workers = [
        _start(tmp_path / f"worker-{index}", "multi-worker", env={**os.environ, "TF_CONFIG": json.dumps(
            {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}})})
        for index in range(2)
    ]
    results = [_finish(worker)[0] for worker in workers]
    assert [r["replicas"] for r in results] == [2, 2]
    assert [r["steps"] for r in results] == [2, 2], "8 images in global batches of 2 workers x 2"
    assert results[0]["weights_sum"] == pytest.approx(results[1]["weights_sum"], rel=1e-6), "both workers hold the same weights"
    assert all((tmp_path / f"worker-{index}" / "checkpoints" / "1-head" / "final.weights.h5").exists() for index in range(2))


def test_replicas_scale_batch_size_and_learning_rates():
    from training.config import TrainConfig

    config = TrainConfig(dataset="x", batch_size=32, head_learning_rate=1e-3, finetune_learning_rate=3e-4)
    scaled = distribute.scaled(config, 4)
    assert (scaled.batch_size, scaled.head_learning_rate, scaled.finetune_learning_rate) == (128, 4e-3, pytest.approx(1.2e-3))
    assert config.batch_size == 32, "the command line's own config is left as given"
    assert distribute.scaled(config, 1) is config


@pytest.mark.parametrize("tf_config, phrase", [
    (None, "needs TF_CONFIG"),
    ("{not json", "not a cluster"),
    ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}', "at least one"),
    ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 2}}', "index from 0 to 1"),
])
def test_a_bad_tf_config_says_how_to_fix_it(tf_config, phrase):
    with pytest.raises(distribute.DistributeConfigError, match=phrase):
        distribute.read_tf_config({} if tf_config is None else {"TF_CONFIG": tf_config})


def test_a_good_tf_config_is_read():
    text = '{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}'
    assert distribute.read_tf_config({"TF_CONFIG": text})["task"]["index"] == 1


def test_an_unknown_strategy_is_refused():
    from training import config

    with pytest.raises(ValueError, match="--strategy must be one of"):
        config.parse_args(["--dataset", "x", "--strategy", "tpu"])
