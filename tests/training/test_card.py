"""The model card is written from the bundle's own files: re-rendering the committed bundle's card from its
eval_results.json, config.json and training_args.json gives its README.md byte for byte."""

import json
import shutil

from lesion.bundle import BUNDLED_DIR
from training import config
from training.card import write_card


def test_the_committed_card_renders_again_unchanged(tmp_path):
    bundle = shutil.copytree(BUNDLED_DIR, tmp_path / "bundle")
    results = json.loads((bundle / "eval_results.json").read_text())
    served = json.loads((bundle / "config.json").read_text())
    chosen = next(row for row in results["variants"] if row["name"] == served["quantization"])
    (bundle / "README.md").unlink()
    write_card(bundle, run=config.load(bundle), results=results, bundle_config=served,
               chosen={**chosen, "views": served["test_time_views"]})
    assert (bundle / "README.md").read_text() == (BUNDLED_DIR / "README.md").read_text()
