import numpy as np
import pytest

from lesion.timing import Timings
from lesion.timing import STEPS, LatencyStats, Summary


def _add_all(values: np.ndarray) -> LatencyStats:
    stats = LatencyStats()
    for decode, pre, inf in values:
        stats.add(Timings(decode, pre, inf))
    return stats


def test_running_statistics_match_numpy():
    values = np.random.default_rng(0).uniform(1, 50, size=(40, 3))
    summary = _add_all(values).snapshot()["total_ms"]
    total = values.sum(axis=1)
    assert summary["count"] == 40
    assert summary["mean"] == pytest.approx(total.mean())
    assert summary["std"] == pytest.approx(total.std(ddof=1))
    assert (summary["min"], summary["max"]) == pytest.approx((total.min(), total.max()))


def test_every_step_is_summarised():
    values = np.random.default_rng(1).uniform(1, 50, size=(10, 3))
    snapshot = _add_all(values).snapshot()
    assert tuple(snapshot) == STEPS
    for column, step in enumerate(STEPS[:3]):
        assert snapshot[step]["mean"] == pytest.approx(values[:, column].mean())


@pytest.mark.parametrize("fraction, name", [(0.5, "p50"), (0.95, "p95")])
def test_percentiles_are_within_one_percent(fraction, name):
    # Latencies are skewed: a lognormal from about 0.5 ms to a few seconds.
    values = np.random.default_rng(2).lognormal(mean=2, sigma=1.5, size=5000)
    summary = Summary()
    for value in values:
        summary.add(value)
    exact = np.percentile(values, fraction * 100, method="inverted_cdf")
    assert summary.as_dict()[name] == pytest.approx(exact, rel=0.01)


def test_memory_stays_fixed_however_many_values():
    summary = Summary()
    before = {name: np.asarray(value).nbytes for name, value in vars(summary).items()}
    for value in np.random.default_rng(3).uniform(0, 1e7, size=20_000):
        summary.add(value)
    assert {name: np.asarray(value).nbytes for name, value in vars(summary).items()} == before


def test_one_value_is_its_own_percentile():
    summary = Summary()
    summary.add(7.3)
    assert summary.as_dict()["p50"] == summary.as_dict()["p95"] == 7.3


def test_no_classification_yet():
    summary = LatencyStats().snapshot()["inference_ms"]
    assert summary == {"count": 0, "mean": 0.0, "std": 0.0, "p50": 0.0, "p95": 0.0, "min": 0.0, "max": 0.0}


def test_a_few_values_give_a_percentile_that_is_one_of_them():
    """Two classifications of 29.6 and 10.4 ms: p50 is 10.4 (nearest rank), never a bin's middle such as 10.5."""
    summary = Summary()
    for value in (29.6, 10.4):
        summary.add(value)
    assert summary.as_dict()["p50"] == 10.4 and summary.as_dict()["p95"] == 29.6
    values = np.random.default_rng(4).uniform(1, 100, size=999)
    for value in values[2:]:
        summary.add(value)
    assert summary.as_dict()["p50"] == np.percentile(np.r_[29.6, 10.4, values[2:]], 50, method="inverted_cdf")
