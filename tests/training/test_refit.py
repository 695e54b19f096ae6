"""Refitting a finished bundle's rule on its validation split gives what training fitted, and rewrites every figure."""

import json
import shutil

import pytest

from lesion.bundle import load_bundle
from tests.conftest import EXAMPLES, TINY_DATASET
from training import bundle, config, refit
from training.data import load_labelled

RULE = ("class_bias", "temperature", "melanoma_alarm")


@pytest.fixture
def copy(tiny_run, tmp_path):
    """A copy of the tiny run's bundle, to refit."""
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_run / "bundle", bundle)
    return bundle


def refitted(bundle, *options) -> dict:
    return refit.main([str(bundle), "--data", str(TINY_DATASET), *options])


def files(bundle) -> dict:
    return {path.relative_to(bundle): path.read_bytes() for path in sorted(bundle.rglob("*")) if path.is_file()}


def test_refit_gives_training_rule_and_figures(tiny_run, copy):
    trained = json.loads((tiny_run / "bundle" / "config.json").read_text())
    config = refitted(copy, "--external", str(EXAMPLES))
    assert config["class_bias"] == pytest.approx(trained["class_bias"], abs=1e-3)
    assert config["temperature"] == pytest.approx(trained["temperature"], abs=1e-3)
    assert config["version"] == trained["version"]  # the same rule: the bundle answers as before
    assert config["melanoma_alarm"]["threshold"] == pytest.approx(trained["melanoma_alarm"]["threshold"], abs=1e-3)
    browser = json.loads((copy / "browser" / "config.json").read_text())
    assert {key: browser[key] for key in RULE} == {key: config[key] for key in RULE}
    before = json.loads((tiny_run / "bundle" / "eval_results.json").read_text())
    after = json.loads((copy / "eval_results.json").read_text())
    for name in ("validation", "test"):
        assert after[name]["balanced_accuracy"] == pytest.approx(before[name]["balanced_accuracy"], abs=1e-6)
        assert after[name]["melanoma_alarm"] == pytest.approx(before[name]["melanoma_alarm"], abs=1e-3)
    assert after["external"]["examples"]["balanced_accuracy"] == pytest.approx(
        before["external"]["examples"]["balanced_accuracy"], abs=1e-6)
    assert after["variants"] == before["variants"] and after["run"]["command"] == before["run"]["command"]
    card = (copy / "README.md").read_text()
    assert after["run"]["refit"]["command"] in card and f"--model {copy} --data" in card
    assert card.count("## Melanoma alarm") == 1
    load_bundle(copy)  # the model still matches its checksum


def test_the_run_options_come_from_training_args(copy):
    """Without --data or --external, refit takes the dataset from the bundle's training_args.json and the external
    folder from the sets the bundle was scored on; without training_args.json it says what writes it."""
    assert config.load(copy).dataset == str(TINY_DATASET)
    refit.main([str(copy)])
    results = json.loads((copy / "eval_results.json").read_text())
    assert list(results["external"]) == ["examples"] and results["run"]["refit"]["command"].endswith(str(copy))
    (copy / config.ARGS_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="training_args.json .* python -m training.train"):
        refit.main([str(copy)])


def test_a_bundle_without_an_alarm_gets_one(tiny_run, copy):
    for config_file in (copy / "config.json", copy / "browser" / "config.json"):
        config = json.loads(config_file.read_text())
        del config["melanoma_alarm"]
        config_file.write_text(json.dumps(config))
    trained = json.loads((tiny_run / "bundle" / "config.json").read_text())
    config = refitted(copy)
    assert config["melanoma_alarm"]["threshold"] == pytest.approx(trained["melanoma_alarm"]["threshold"], abs=1e-3)
    assert (trained["version"], config["version"]) == ("2.0.0", "2.1.0")  # it answers differently now
    trained = trained["melanoma_alarm"]
    assert json.loads((copy / "browser" / "config.json").read_text())["melanoma_alarm"]["threshold"] == pytest.approx(
        trained["threshold"], abs=1e-3)


def test_a_failure_while_scoring_leaves_the_bundle_as_it_was(copy, monkeypatch):
    unchanged = files(copy)

    def fail(*args, **kwargs):
        raise RuntimeError("scoring failed")

    monkeypatch.setattr(bundle, "score_bundle", fail)
    with pytest.raises(RuntimeError, match="scoring failed"):
        refitted(copy)
    assert files(copy) == unchanged


def test_bad_inputs_are_refused_before_anything_changes(copy, tmp_path):
    unchanged = files(copy)
    with pytest.raises(FileNotFoundError, match="labels.csv"):
        refitted(copy, "--external", str(tmp_path))
    split = json.loads((copy / "split.json").read_text())
    (copy / "split.json").write_text(json.dumps({**split, "test": [*split["test"], "ISIC_9999999"]}))
    with pytest.raises(ValueError, match="lacks 1 images .* ISIC_9999999"):
        refitted(copy)
    assert {path: content for path, content in files(copy).items() if path.name != "split.json"} == {
        path: content for path, content in unchanged.items() if path.name != "split.json"}


def test_a_new_rule_raises_the_minor_version():
    config = {"version": "2.3.1", "class_bias": [0.0, 1.0], "temperature": 0.8, "melanoma_alarm": {"threshold": 0.5}}
    same = {"class_bias": [0.0, 1.0002], "temperature": 0.8001, "melanoma_alarm": {"threshold": 0.5}}
    assert refit.next_version(config, same) == "2.3.1"
    for change in ({"temperature": 0.9}, {"class_bias": [0.0, 1.1]}, {"melanoma_alarm": None}):
        assert refit.next_version(config, {**same, **change}) == "2.4.0", change


def test_the_test_split_is_broken_down_by_site(copy, tmp_path):
    """Each site's row holds exactly the test images sources.csv places there: here, a site of melanomas alone."""
    tiny = load_labelled(str(TINY_DATASET))
    dx_of = dict(zip(tiny["image_id"], tiny["dx"]))
    image_ids = json.loads((copy / "split.json").read_text())["test"]
    site_of = {image_id: "melanomas" if dx_of[image_id] == "mel" else "others" for image_id in image_ids}
    sources = tmp_path / "sources.csv"
    sources.write_text("image_id,dataset\n" + "".join(f"{i},{site}\n" for i, site in site_of.items()))
    refitted(copy, "--sources", str(sources))
    by_site = json.loads((copy / "eval_results.json").read_text())["test_by_site"]
    assert {site: row["n_images"] for site, row in by_site.items()} == {
        site: list(site_of.values()).count(site) for site in ("melanomas", "others")}
    assert by_site["melanomas"]["classes_present"] == ["mel"] and "mel" not in by_site["others"]["classes_present"]
