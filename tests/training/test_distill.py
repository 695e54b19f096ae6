"""Knowledge distillation: the teachers' softened probabilities, the mixed targets, and the guards on who may teach."""

import json

import numpy as np
import pytest

from lesion.bundle import load_bundle
from lesion.preprocess import normalise
from tests.conftest import TINY_DATASET
from training import batches, distill, evaluate, train


def test_soften_keeps_the_ranking_and_flattens():
    p = np.array([[0.7, 0.2, 0.1, 0, 0, 0, 0], [0.01, 0.01, 0.01, 0.01, 0.9, 0.03, 0.03]])
    assert np.allclose(distill.soften(p, 1.0)[0, :3], p[0, :3], atol=1e-9)
    soft = distill.soften(p, 2.0)
    assert np.allclose(soft.sum(axis=1), 1) and (soft.argmax(axis=1) == p.argmax(axis=1)).all()
    assert soft[0, 0] == pytest.approx(np.sqrt(0.7) / (np.sqrt(0.7) + np.sqrt(0.2) + np.sqrt(0.1) + 4 * 1e-6), rel=1e-4)


def test_targets_mix_labels_and_teachers():
    labels = np.array([4, 5])
    assert (distill.targets(labels, None, 0.5) == np.eye(7)[labels]).all()
    teacher = np.full((2, 7), 1 / 7)
    mixed = distill.targets(labels, teacher, 0.25)
    assert mixed[0, 4] == pytest.approx(0.75 + 0.25 / 7) and mixed[0, 0] == pytest.approx(0.25 / 7)
    assert np.allclose(mixed.sum(axis=1), 1)


def test_teachers_probabilities_are_their_networks_own_averaged_and_softened(tiny_run):
    split = json.loads((tiny_run / "split.json").read_text())
    spec = load_bundle(tiny_run / "bundle").input_spec
    pixels = np.random.default_rng(0).integers(0, 256, (3, spec.height, spec.width, 3), dtype=np.uint8)
    taught = distill.teacher_probabilities([tiny_run, tiny_run], split, spec, pixels)
    own = np.stack([i.probabilities for i in evaluate.network_classifier(tiny_run / "bundle").infer_batch(
        normalise(pixels.astype(np.float32), spec))])
    assert taught.shape == (3, 7) and np.allclose(taught, distill.soften(own, distill.TEMPERATURE), atol=1e-6)


def test_a_teacher_of_another_split_is_refused(tiny_run):
    split = json.loads((tiny_run / "split.json").read_text())
    spec = load_bundle(tiny_run / "bundle").input_spec
    moved = {**split, "train": split["train"][1:], "validation": split["validation"] + split["train"][:1]}
    with pytest.raises(ValueError, match="another split"):
        distill.teacher_probabilities([tiny_run], moved, spec, np.zeros((1, spec.height, spec.width, 3), np.uint8))


def test_a_teacher_fed_differently_is_refused(tiny_run):
    split = json.loads((tiny_run / "split.json").read_text())
    spec = load_bundle(tiny_run / "bundle").input_spec
    other = type(spec)(spec.height, spec.width, spec.mean, spec.std, "shades_of_gray")
    with pytest.raises(ValueError, match="feeds its network"):
        distill.teacher_probabilities([tiny_run], split, other, np.zeros((1, spec.height, spec.width, 3), np.uint8))


def test_training_batches_carry_the_given_targets():
    config = train.parse_args(["--dataset", "x", "--batch-size", "4"])
    labels = np.array([0, 1, 2, 3])
    targets = distill.targets(labels, np.full((4, 7), 1 / 7, np.float32), 0.5)
    pixels = np.zeros((4, 8, 8, 3), np.uint8)
    dataset, steps = batches.training_dataset(pixels, labels, targets, None, np.ones(7), config.input_spec, config)
    _, batch_targets, _ = next(iter(dataset))
    assert steps == 1 and sorted(map(tuple, batch_targets.numpy().round(6))) == sorted(map(tuple, targets.round(6)))


def test_a_students_command_and_fitting_time_include_its_teachers(tmp_path):
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    (teacher / train.TIMES_FILE).write_text(json.dumps({"1-head": 60.0, "2-finetune": 540.0}))
    student = tmp_path / "student"
    config = train.parse_args(["--dataset", str(TINY_DATASET), "--output-dir", str(student), "--teacher", str(teacher)])
    assert f"--teacher {teacher}" in config.command() and config.training_minutes() is None
    student.mkdir()
    (student / train.TIMES_FILE).write_text(json.dumps({"2-finetune": 300.0}))
    assert config.training_minutes() == pytest.approx(15.0)
    with pytest.raises(ValueError, match="--distillation-weight"):
        train.parse_args(["--dataset", "x", "--distillation-weight", "1.5"])
