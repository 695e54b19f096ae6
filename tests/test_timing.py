import numpy as np
import pytest

from lesion.classifier import Timings
from lesion.timing import LatencyStats


def test_running_statistics_match_numpy():
    values = np.random.default_rng(0).uniform(1, 50, size=(40, 2))
    stats = LatencyStats()
    for pre, inf in values:
        stats.add(Timings(pre, inf))
    total = values.sum(axis=1)
    summary = stats.snapshot()["total_ms"]
    assert summary["count"] == 40
    assert summary["mean"] == pytest.approx(total.mean())
    assert summary["std"] == pytest.approx(total.std(ddof=1))
    assert (summary["min"], summary["max"]) == pytest.approx((total.min(), total.max()))


def test_no_classification_yet():
    summary = LatencyStats().snapshot()["inference_ms"]
    assert summary["count"] == 0 and summary["std"] == 0.0
