"""Stage 1, data: load HAM10000 and any extra sources with `datasets`, split them by lesion, decode them once into a
cache.

HAM10000's split (validation, test, held-out site) does not depend on the extra sources. Their images go to training,
except a slice held out by lesion (OUTSIDE): other clinics' images, never trained on, that model selection and the
decision rule see beside HAM10000's validation split.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from pathlib import Path

import datasets
import numpy as np

from lesion.labels import CODES
from lesion.preprocess import InputSpec, prepare_pixels

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
SITE_OUT = "site_out"
"""The split.json key of the images of --hold-out-site."""
OUTSIDE = "validation_outside"
"""The split.json key of the extra sources' validation slice."""
HAM10000 = "ham10000"
"""The `source` of HAM10000's rows when its copy has no such column."""
REQUIRED_COLUMNS = ("image", "image_id", "lesion_id", "dx")


def load_labelled(source: str) -> datasets.Dataset:
    """Load every image of HAM10000, or of a source with its columns: a Hub id (for example `marmal88/skin_cancer`) or
    a local folder.

    Published splits are merged and de-duplicated by `image_id` (some Hub copies repeat images
    across their splits), because the only honest split is ours, by lesion.

    Raises:
        ValueError: a required column is missing or a diagnosis is not one of lesion.labels.CODES.
    """
    loaded = datasets.load_dataset(source)
    parts = list(loaded.values()) if isinstance(loaded, datasets.DatasetDict) else [loaded]
    dataset = datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]
    missing = [c for c in REQUIRED_COLUMNS if c not in dataset.column_names]
    if missing:
        raise ValueError(f"{source} lacks the HAM10000 columns {missing}; it has {dataset.column_names}")
    ids = dataset["image_id"]
    first = {}
    for row, image_id in enumerate(ids):
        first.setdefault(image_id, row)
    if len(first) < len(ids):
        log.info("dropping %d repeated images of %s", len(ids) - len(first), source)
        dataset = dataset.select(sorted(first.values()))
    unknown = sorted(set(dataset["dx"]) - set(CODES))
    if unknown:
        raise ValueError(f"{source} has diagnoses {unknown} outside {CODES}")
    return dataset


def load_sources(dataset: str, extra: list[str]) -> list[datasets.Dataset]:
    """HAM10000 (`dataset`), then each extra source, as load_labelled loads them.

    Raises:
        ValueError: as load_labelled, or an image id is in two sources (an extra source repeats HAM10000's images).
    """
    parts = [load_labelled(source) for source in [dataset, *extra]]
    seen: set[str] = set()
    for source, part in zip([dataset, *extra], parts):
        repeated = seen.intersection(part["image_id"])
        if repeated:
            raise ValueError(f"{source} repeats {len(repeated)} images of an earlier source, such as {min(repeated)}")
        seen.update(part["image_id"])
    return parts


def join_sources(parts: list[datasets.Dataset], names: list[str]) -> datasets.Dataset:
    """The sources as one dataset (datasets.concatenate_datasets), with HAM10000's columns and a `source` column: a
    part's own, or else its name."""
    first = parts[0].column_names
    aligned = []
    for part, name in zip(parts, names):
        if "source" not in part.column_names:
            part = part.add_column("source", [name] * len(part))
        aligned.append(part.select_columns([*(c for c in first if c != "source"), "source"]))
    return datasets.concatenate_datasets([part.cast(aligned[0].features) for part in aligned])


def split_sources(dataset: datasets.Dataset, n_ham: int, *, seed: int, validation_fraction: float, test_fraction: float,
                  extra_validation_fraction: float, held_out: set[str]) -> dict[str, list[str]]:
    """A run's split of joined sources (decoded_sources), HAM10000's rows first, as image ids per side.

    HAM10000's images, but those `held_out` (SITE_OUT), are split by lesion into train, validation and test, exactly as
    without extra sources. Of the extra sources' images, extra_validation_fraction of each class's lesions (an image is
    its own lesion where its source names none) are OUTSIDE; the rest are added to train.
    """
    ham = dataset.select(range(n_ham))
    kept = [row for row, image_id in enumerate(ham["image_id"]) if image_id not in held_out]
    split = split_by_lesion(*([ham[column][row] for row in kept] for column in ("image_id", "lesion_id", "dx")), seed=seed,
                            validation_fraction=validation_fraction, test_fraction=test_fraction)
    if held_out:
        split[SITE_OUT] = sorted(held_out)
    if n_ham < len(dataset):
        extra = dataset.select(range(n_ham, len(dataset)))
        sides = split_by_lesion(extra["image_id"], extra["lesion_id"], extra["dx"], seed=seed,
                                validation_fraction=extra_validation_fraction, test_fraction=0.0)
        split["train"] = sorted(split["train"] + sides["train"])
        split[OUTSIDE] = sides["validation"]
    return split


def decoded_sources(dataset: str, extra: list[str], spec: InputSpec, cache_dir: Path | None):
    """HAM10000 and the extra sources joined (join_sources, each named by its folder or Hub id), the decoded pixels of
    every row (decode_images, cached per source), its integer label, and the number of HAM10000's rows, which come
    first."""
    parts = load_sources(dataset, extra)
    joined = join_sources(parts, [HAM10000, *(Path(source).name for source in extra)])
    pixels = np.concatenate([decode_images(part, spec, cache_dir) for part in parts])
    return joined, pixels, np.array([CODES.index(dx) for dx in joined["dx"]]), len(parts[0])


def count_by_source(sources, labels) -> dict[str, dict[str, int]]:
    """Images per source and class (in CODES order), as split.json's `train_sources` records the training images."""
    return {source: {CODES[c]: int(n) for c, n in enumerate(np.bincount(labels[sources == source], minlength=len(CODES))) if n}
            for source in dict.fromkeys(sources.tolist())}


def read_sites(path: Path, image_ids) -> dict[str, str]:
    """The site of every image, from HAM10000's sources.csv (`image_id,dataset`).

    Raises:
        ValueError: an image has no site in the file.
    """
    with open(path, newline="") as file:
        site_of = {row["image_id"]: row["dataset"] for row in csv.DictReader(file)}
    missing = [image_id for image_id in image_ids if image_id not in site_of]
    if missing:
        raise ValueError(f"{path} names no site for {len(missing)} images, for example {missing[0]}")
    return {image_id: site_of[image_id] for image_id in image_ids}


def rows_of(dataset: datasets.Dataset, split: dict[str, list[str]], source: str) -> dict[str, np.ndarray]:
    """The dataset rows of each side of a split of image ids.

    Raises:
        ValueError: the dataset lacks some of the split's images (it is not the source the split was drawn from).
    """
    row_of = {image_id: row for row, image_id in enumerate(dataset["image_id"])}
    missing = [image_id for ids in split.values() for image_id in ids if image_id not in row_of]
    if missing:
        raise ValueError(f"{source} lacks {len(missing)} images of the split (such as {missing[0]}): "
                         "give the HAM10000 source it was drawn from")
    return {name: np.array([row_of[i] for i in ids], dtype=np.int64) for name, ids in split.items()}


def split_by_lesion(
    image_ids, lesion_ids, labels, *, seed: int, validation_fraction: float, test_fraction: float
) -> dict[str, list[str]]:
    """Assign whole lesions to train, validation and test, class by class, so that no lesion is on two sides.

    Each class keeps about the same share on each side; with at least 3 lesions a class is on every side (but test,
    if test_fraction is 0).

    Returns:
        Image ids per split, sorted.
    """
    lesion_dx: dict[str, str] = {}
    for lesion, dx in zip(lesion_ids, labels):
        if lesion_dx.setdefault(lesion, dx) != dx:
            raise ValueError(f"lesion {lesion} carries two diagnoses ({lesion_dx[lesion]}, {dx})")
    rng = np.random.default_rng(seed)
    side_of: dict[str, str] = {}
    for code in CODES:
        lesions = sorted(lesion for lesion, dx in lesion_dx.items() if dx == code)
        rng.shuffle(lesions)
        n_test = max(round(len(lesions) * test_fraction), int(len(lesions) >= 3 and test_fraction > 0))
        n_val = max(round(len(lesions) * validation_fraction), int(len(lesions) >= 3))
        for position, lesion in enumerate(lesions):
            side_of[lesion] = "test" if position < n_test else "validation" if position < n_test + n_val else "train"
    split = {name: [] for name in SPLITS}
    for image_id, lesion in zip(image_ids, lesion_ids):
        split[side_of[lesion]].append(image_id)
    return {name: sorted(ids) for name, ids in split.items()}


def image_sources(dataset: datasets.Dataset) -> list:
    """The undecoded image of every row (bytes, or a path), for lesion.preprocess to decode as the app does."""
    images = dataset.cast_column("image", datasets.Image(decode=False))["image"]
    return [image["bytes"] or image["path"] for image in images]


def decode_images(dataset: datasets.Dataset, spec: InputSpec, cache_dir: Path | None) -> np.ndarray:
    """Every image through lesion.preprocess (decode, orient, fit; all but normalise), as uint8 (N, height, width, 3).

    The array is cached under cache_dir, keyed by the dataset's fingerprint and the input spec.
    """
    key = hashlib.sha256(json.dumps([dataset._fingerprint, spec.to_config()]).encode()).hexdigest()[:16]
    cache = cache_dir / f"pixels-{key}.npy" if cache_dir else None
    if cache and cache.exists():
        log.info("decoded images from cache %s", cache)
        return np.load(cache)
    sources = image_sources(dataset)
    pixels = np.empty((len(sources), spec.height, spec.width, 3), np.uint8)
    for row, source in enumerate(sources):
        pixels[row] = prepare_pixels(source, spec)[0]
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, pixels)
    return pixels
