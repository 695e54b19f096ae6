"""Training on HAM10000 and extra sources: the join, the split that keeps extra images out of HAM10000's validation,
test and held-out site, source-balanced draws, and a tiny run with a second source."""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TINY_DATASET, TINY_TRAINING
from training import batches, data
from training.config import parse_args


def make_source(folder: Path, *, prefix: str = "EXTRA", codes=("mel", "nv", "bkl"), source: str | None = "clinic_b") -> Path:
    """A second tiny source in HAM10000's layout: the tiny fixture's images of `codes` under new image and lesion ids,
    with a `source` column unless `source` is None."""
    tiny = data.load_labelled(str(TINY_DATASET))
    extra = tiny.filter(lambda dx: dx in codes, input_columns="dx")
    extra = extra.map(lambda row: {"image_id": f"{prefix}_{row['image_id']}", "lesion_id": f"{prefix}_{row['lesion_id']}"})
    if source is not None:
        extra = extra.add_column("source", [source] * len(extra))
    (folder / "data").mkdir(parents=True)
    extra.to_parquet(str(folder / "data" / "train-00000-of-00001.parquet"))
    return folder


def test_joined_sources_keep_hams_columns_and_name_each_rows_source(tmp_path):
    own = make_source(tmp_path / "own")
    nameless = make_source(tmp_path / "nameless", prefix="OTHER", source=None)
    parts = data.load_sources(str(TINY_DATASET), [str(own), str(nameless)])
    joined = data.join_sources(parts, [data.HAM10000, "own", "nameless"])
    assert joined.column_names == [*parts[0].column_names, "source"]
    assert Counter(joined["source"]) == {data.HAM10000: len(parts[0]), "clinic_b": len(parts[1]), "nameless": len(parts[2])}
    assert joined["image_id"] == [i for part in parts for i in part["image_id"]]


def test_a_source_that_repeats_ham10000s_images_is_refused():
    with pytest.raises(ValueError, match="repeats"):
        data.load_sources(str(TINY_DATASET), [str(TINY_DATASET)])


def test_extra_images_never_land_in_validation_test_or_the_held_out_site(tmp_path):
    extra = make_source(tmp_path / "extra")
    parts = data.load_sources(str(TINY_DATASET), [str(extra)])
    joined = data.join_sources(parts, [data.HAM10000, "extra"])
    held_out = set(parts[0]["image_id"][:5])
    options = dict(seed=3, validation_fraction=0.25, test_fraction=0.25, held_out=held_out)
    alone = data.split_sources(parts[0], len(parts[0]), extra_validation_fraction=0.2, **options)
    split = data.split_sources(joined, len(parts[0]), extra_validation_fraction=0.4, **options)
    extra_ids = set(parts[1]["image_id"])
    for side in ("validation", "test", data.SITE_OUT):
        assert split[side] == alone[side] and not extra_ids & set(split[side]), side
    assert set(split["train"]) == set(alone["train"]) | (extra_ids - set(split[data.OUTSIDE]))
    assert set(split[data.OUTSIDE]) <= extra_ids and split[data.OUTSIDE]
    lesion_of = dict(zip(parts[1]["image_id"], parts[1]["lesion_id"]))
    outside = {lesion_of[i] for i in split[data.OUTSIDE]}
    assert not outside & {lesion_of[i] for i in split["train"] if i in lesion_of}, "a lesion on both sides"


def test_source_balanced_draws_share_each_class_equally_between_large_sources():
    labels = np.array([0] * 300 + [0] * 100 + [1] * 60 + [1] * 10)
    sources = np.array(["a"] * 300 + ["b"] * 100 + ["a"] * 60 + ["b"] * 10)
    draws = batches.source_balanced_draws(labels, sources)
    assert draws.sum() == pytest.approx(1)
    assert draws[labels == 0].sum() == pytest.approx(400 / 470)  # each class keeps its count
    assert draws[(labels == 0) & (sources == "a")].sum() == pytest.approx(draws[(labels == 0) & (sources == "b")].sum())
    assert draws[(labels == 1) & (sources == "b")].sum() == pytest.approx(10 / 470)  # under MIN_CELL: as in the data


def test_extra_weighted_draws_scale_other_sources_within_each_class():
    labels = np.array([0] * 300 + [0] * 100 + [1] * 60)
    sources = np.array(["ham"] * 300 + ["b"] * 100 + ["ham"] * 60)
    draws = batches.extra_weighted_draws(labels, sources, "ham", 0.5)
    assert draws.sum() == pytest.approx(1)
    assert draws[labels == 0].sum() == pytest.approx(400 / 460)  # each class keeps its count
    assert draws[sources == "b"][0] == pytest.approx(draws[labels == 0][0] / 2)
    assert np.allclose(batches.extra_weighted_draws(labels, sources, "ham", 1.0), 1 / 460)


def test_extra_weight_needs_a_second_source_and_no_source_balancing():
    for argv in (["--extra-weight", "0.5"], ["--extra-dataset", "a", "--extra-weight", "0"],
                 ["--extra-dataset", "a", "--extra-weight", "0.5", "--balance-sources"]):
        with pytest.raises(ValueError, match="--extra-weight"):
            parse_args(["--dataset", str(TINY_DATASET), *argv])
    config = parse_args(["--dataset", str(TINY_DATASET), "--extra-dataset", "a", "--extra-weight", "0.5"])
    assert config.extra_weight == 0.5 and "--extra-weight 0.5" in config.command()


def test_balancing_sources_needs_a_second_source():
    with pytest.raises(ValueError, match="--extra-dataset"):
        parse_args(["--dataset", str(TINY_DATASET), "--balance-sources"])
    config = parse_args(["--dataset", str(TINY_DATASET), "--extra-dataset", "a", "--extra-dataset", "b", "--balance-sources"])
    assert config.extra_dataset == ["a", "b"] and "--extra-dataset a --extra-dataset b --balance-sources" in config.command()


@pytest.mark.slow
def test_a_tiny_run_with_a_second_source_fits_the_rule_on_both_validation_sets(tmp_path):
    from training import config, train

    extra = make_source(tmp_path / "extra")
    output = tmp_path / "run"
    bundle = train.main([*TINY_TRAINING, "--output-dir", str(output), "--quantizations", "int8",
                         "--extra-dataset", str(extra), "--balance-sources", "--extra-validation-fraction", "0.4"])
    split = json.loads((bundle / "split.json").read_text())
    results = json.loads((bundle / "eval_results.json").read_text())
    assert split[data.OUTSIDE] and results[data.OUTSIDE]["n_images"] == len(split[data.OUTSIDE])
    assert config.load(bundle).extra_dataset == [str(extra)]
    assert "validation from other clinics" in (bundle / "README.md").read_text()


def test_rule_on_slice_refits_the_served_rule_and_one_with_another_sources_slice(tiny_run, tmp_path, capsys):
    from training.experiments import rule_on_slice

    extra = make_source(tmp_path / "extra")
    ids = data.load_labelled(str(extra))["image_id"]
    other_run = tmp_path / "split.json"
    other_run.write_text(json.dumps({"train": ids[::2], data.OUTSIDE: ids[1::2]}))
    rule_on_slice.main([str(tiny_run / "bundle"), "--slice-split", str(other_run), "--extra", str(extra)])
    printed = capsys.readouterr().out
    served = json.loads((tiny_run / "bundle" / "config.json").read_text())["temperature"]
    assert f"rule fitted on validation: temperature {served}\n" in printed
    assert "rule fitted on validation + validation_outside: temperature" in printed
    for name in ("validation", data.OUTSIDE, "extra_rest", "test"):
        assert printed.count(f"| {name} | ") == 2, name
