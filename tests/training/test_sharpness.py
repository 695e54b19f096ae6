"""training.sharpness: the label-free measure of fine detail behind --low-pass."""

import numpy as np
import pytest

from tests.conftest import EXAMPLES, ROOT, TINY_DATASET
from training import sharpness
from training.data import load_ham10000


def test_detail_falls_as_the_low_pass_widens():
    checkerboard = (np.indices((30, 40)).sum(axis=0) % 2 * 255).astype(np.uint8)
    pixels = np.repeat(checkerboard[None, :, :, None], 3, axis=3)
    values = [sharpness.mean_detail(pixels, sigma) for sigma in (0.0, 0.5, 1.0)]
    assert values[0] > values[1] > values[2] > 0


def test_cli_measures_every_site_and_folder(tmp_path, capsys):
    image_ids = load_ham10000(str(TINY_DATASET))["image_id"]
    sources = tmp_path / "sources.csv"
    sources.write_text("image_id,dataset\n" + "".join(f"{i},site_{n % 2}\n" for n, i in enumerate(image_ids)))
    table = sharpness.main(["--dataset", str(TINY_DATASET), "--sources", str(sources), "--folder", str(EXAMPLES),
                            "--sigma", "0", "1", "--per-source", "10"])
    assert set(table) == {"HAM10000 site_0", "HAM10000 site_1", "examples"}
    assert all(unfiltered > filtered for unfiltered, filtered in table.values())
    assert "examples" in capsys.readouterr().out


def test_model_scores_at_sigma_zero_are_the_served_figures():
    from training.evaluate import evaluate_bundle

    bundle = ROOT / "lesion" / "bundled_model"
    served = evaluate_bundle(bundle, str(EXAMPLES))
    unblurred, blurred = sharpness.scores_by_sigma(bundle, EXAMPLES, [0.0, 1.0])
    assert unblurred["balanced_accuracy"] == pytest.approx(served["balanced_accuracy"])
    assert unblurred["melanoma_auc"] == pytest.approx(served["melanoma_auc"])
    assert blurred != unblurred
