"""The --upsample screen (training/scale_probe.py) on the tiny fixture: one probe per scale, scored on every set."""

from training import scale_probe
from tests.conftest import EXAMPLES, TINY_DATASET


def test_probe_scores_every_set_at_every_scale(tiny_run, tmp_path):
    results = scale_probe.main(["--dataset", str(TINY_DATASET), "--split", str(tiny_run / "split.json"),
                                "--external", str(EXAMPLES), "--scale", "1", "1.5", "--cache-dir", str(tmp_path)])
    assert list(results) == [1.0, 1.5]
    for scores in results.values():
        assert set(scores) == {"validation", "examples"}
        for figures in scores.values():
            assert 0 <= figures["balanced_accuracy"] <= 1 and 0 <= figures["melanoma_auc"] <= 1
    assert results[1.0]["examples"] != results[1.5]["examples"]  # the scale reaches the features
