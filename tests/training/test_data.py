import pytest

from lesion.labels import CODES
from tests.conftest import TINY_DATASET
from training.data import decode_images, load_labelled, rows_of, split_by_lesion
from training.model import BACKBONES


@pytest.fixture(scope="module")
def tiny():
    return load_labelled(str(TINY_DATASET))


def _split(dataset, seed=0):
    return split_by_lesion(dataset["image_id"], dataset["lesion_id"], dataset["dx"], seed=seed,
                           validation_fraction=0.25, test_fraction=0.25)


def test_loads_every_image_with_known_labels(tiny):
    assert len(tiny) == 42
    assert set(tiny["dx"]) == set(CODES)


def test_no_lesion_on_two_sides(tiny):
    split = _split(tiny)
    lesion_of = dict(zip(tiny["image_id"], tiny["lesion_id"]))
    sides = [{lesion_of[i] for i in split[name]} for name in ("train", "validation", "test")]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert sorted(sum(split.values(), [])) == sorted(tiny["image_id"])


def test_every_class_on_every_side(tiny):
    split = _split(tiny)
    dx_of = dict(zip(tiny["image_id"], tiny["dx"]))
    for name, ids in split.items():
        assert {dx_of[i] for i in ids} == set(CODES), name


def test_split_is_reproducible_and_seeded(tiny):
    assert _split(tiny, seed=1) == _split(tiny, seed=1)
    assert _split(tiny, seed=1) != _split(tiny, seed=2)


def test_rows_of_a_split_point_at_its_images(tiny):
    split = _split(tiny)
    rows = rows_of(tiny, split, "tiny")
    assert {name: [tiny["image_id"][row] for row in rows[name]] for name in split} == split


def test_rows_of_a_split_from_another_source_is_an_error(tiny):
    with pytest.raises(ValueError, match="tiny lacks 1 images .* ISIC_9999999"):
        rows_of(tiny, {"test": [tiny["image_id"][0], "ISIC_9999999"]}, "tiny")


def test_a_lesion_with_two_diagnoses_is_an_error():
    with pytest.raises(ValueError, match="two diagnoses"):
        split_by_lesion(["a", "b"], ["L1", "L1"], ["mel", "nv"], seed=0, validation_fraction=0.2, test_fraction=0.2)


def test_hub_style_splits_are_merged_and_deduplicated(tiny, tmp_path):
    # marmal88/skin_cancer-style: several splits that repeat images.
    (tmp_path / "data").mkdir()
    tiny.to_parquet(str(tmp_path / "data" / "train-00000.parquet"))
    tiny.select(range(10)).to_parquet(str(tmp_path / "data" / "validation-00000.parquet"))
    loaded = load_labelled(str(tmp_path))
    assert len(loaded) == 42 and len(set(loaded["image_id"])) == 42


def test_unknown_diagnosis_is_an_error(tiny, tmp_path):
    broken = tiny.map(lambda row: {"dx": "melanoma" if row["dx"] == "mel" else row["dx"]})
    (tmp_path / "data").mkdir()
    broken.to_parquet(str(tmp_path / "data" / "train-00000.parquet"))
    with pytest.raises(ValueError, match="melanoma"):
        load_labelled(str(tmp_path))


def test_decoded_images_are_cached(tiny, tmp_path):
    spec = BACKBONES["efficientnet_lite0"].input_spec()
    first = decode_images(tiny, spec, tmp_path)
    assert first.shape == (42, spec.height, spec.width, 3)
    assert len(list(tmp_path.glob("pixels-*.npy"))) == 1
    assert (decode_images(tiny, spec, tmp_path) == first).all()
