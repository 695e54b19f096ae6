"""The model card is written from the bundle's own files: re-rendering the committed bundle's card from its
eval_results.json, config.json and training_args.json gives its README.md byte for byte."""

import json
import shutil

from lesion.bundle import BUNDLED_DIR
from training import config
from training.card import write_card


def render(bundle, results: dict) -> str:
    served = json.loads((bundle / "config.json").read_text())
    chosen = next(row for row in results["variants"] if row["name"] == served["quantization"])
    (bundle / "README.md").unlink(missing_ok=True)
    write_card(bundle, run=config.load(bundle), results=results, bundle_config=served,
               chosen={**chosen, "views": served["test_time_views"]})
    return (bundle / "README.md").read_text()


def test_the_committed_card_renders_again_unchanged(tmp_path):
    bundle = shutil.copytree(BUNDLED_DIR, tmp_path / "bundle")
    results = json.loads((bundle / "eval_results.json").read_text())
    assert render(bundle, results) == (BUNDLED_DIR / "README.md").read_text()


def test_a_refit_without_floors_names_none(tmp_path):
    """Refits since issue 32 record no floors (the rule has none); the card then names none."""
    bundle = shutil.copytree(BUNDLED_DIR, tmp_path / "bundle")
    results = json.loads((bundle / "eval_results.json").read_text())
    results["run"]["refit"] = {key: results["run"]["refit"][key] for key in ("command", "bundle")}
    card = render(bundle, results)
    assert "refitted afterwards (`training.refit`), so its figures above differ from its row." in card
    assert "floors: accuracy" not in card
