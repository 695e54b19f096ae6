"""The last-layer screen (training/head_probe.py): its weights, its cross-fitting, and the command on the tiny run."""

import json

import numpy as np
import pytest

from tests.conftest import EXAMPLES, TINY_DATASET
from training import head_probe
from training.melanoma_alarm import MEL, NV


def test_site_class_weights_give_every_group_the_same_total():
    labels = np.array([MEL, MEL, MEL, NV, MEL, NV])
    sites = np.array(["a", "a", "a", "a", "b", "b"])
    weights = head_probe.site_class_weights(labels, sites)
    totals = {(s, y): weights[(sites == s) & (labels == y)].sum() for s, y in zip(sites, labels)}
    assert len(totals) == 4 and np.allclose(list(totals.values()), len(labels) / 4)
    assert weights.mean() == pytest.approx(1.0)


def test_validation_is_scored_only_by_fits_on_its_other_half():
    """Labels a feature predicts perfectly: cross-fitted scores still rank them, and no image scores itself."""
    rng = np.random.default_rng(0)
    labels = np.array([MEL, NV] * 20)
    features = np.stack([np.where(labels == MEL, 1.0, -1.0), rng.normal(size=40)], axis=1)
    scores = head_probe._cross_fitted(features, labels, "nv")
    assert not np.isnan(scores).any()
    assert scores[labels == MEL].min() > scores[labels == NV].max()


def test_a_set_too_small_to_split_is_not_cross_fitted():
    assert np.isnan(head_probe._cross_fitted(np.eye(3), np.array([MEL, NV, 0]), "all")).all()


def test_a_fit_without_both_classes_scores_nothing():
    assert head_probe._fit(np.zeros((3, 2)), np.array([NV, NV, NV]), "nv") is None
    assert np.isnan(head_probe._melanoma_score(None, np.zeros((3, 2)))).all()


def test_a_folder_that_is_not_a_finished_run_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        head_probe.main([str(tmp_path), "--dataset", str(TINY_DATASET)])
    assert "is not a finished run: it has no split.json" in capsys.readouterr().err


def test_every_probe_is_scored_beside_the_runs_own_alarm(tiny_run, tmp_path):
    split_ids = json.loads((tiny_run / "split.json").read_text())["train"]
    sources = tmp_path / "sources.csv"
    sources.write_text("image_id,dataset\n" + "".join(f"{i},{'ab'[n % 2]}\n" for n, i in enumerate(split_ids)))
    results = head_probe.main([str(tiny_run), "--dataset", str(TINY_DATASET), "--sources", str(sources),
                               "--external", str(EXAMPLES), "--cache-dir", str(tmp_path / "cache")])
    assert list(results)[0] == head_probe.OWN and len(results) == 6
    for by_set in results.values():
        assert set(by_set) == {"validation", "examples"}
        auc = by_set["examples"]["melanoma_auc"]
        assert 0 <= auc <= 1
    assert len({round(by_set["examples"]["melanoma_auc"], 6) for by_set in results.values()}) > 1
