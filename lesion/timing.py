"""Running latency statistics since startup, by step: count, mean, standard deviation, p50, p95, min and max.

Memory stays fixed however many images are classified: the mean and deviation are running sums (Welford's
algorithm). The percentiles are exact nearest-rank values (one of the times measured) for the first EXACT_UP_TO
classifications, and after that come from a histogram with logarithmic bins, each 2% wider than the last.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent on one image: decoding the file, preparing the model's input, and the model itself."""

    decode_ms: float
    preprocess_ms: float
    inference_ms: float

    @property
    def total_ms(self) -> float:
        return self.decode_ms + self.preprocess_ms + self.inference_ms


STEPS = ("decode_ms", "preprocess_ms", "inference_ms", "total_ms")
PERCENTILES = {"p50": 0.50, "p95": 0.95}
SMALLEST_MS = 0.001
"""The first bin's lower edge; faster steps count in the first bin."""
BIN_GROWTH = 1.02
"""Each bin is 2% wider than the one before, so a percentile is off by at most 1% of its value."""
EXACT_UP_TO = 1000
"""Up to this many values, each step's values are kept (8 kB) and its percentiles are exact."""
BINS = math.ceil(math.log(1e6 / SMALLEST_MS) / math.log(BIN_GROWTH))
"""Enough bins to reach 1,000 s; slower steps count in the last bin."""


class Summary:
    """Statistics of one step's times, in a fixed amount of memory."""

    def __init__(self):
        self.count = 0
        self.mean = 0.0
        self._m2 = 0.0
        self.min = math.inf
        self.max = -math.inf
        self._histogram = np.zeros(BINS, np.int64)
        self._values = np.zeros(EXACT_UP_TO)

    def add(self, value: float) -> None:
        self.count += 1
        delta = value - self.mean
        self.mean += delta / self.count
        self._m2 += delta * (value - self.mean)
        self.min, self.max = min(self.min, value), max(self.max, value)
        self._histogram[_bin(value)] += 1
        if self.count <= EXACT_UP_TO:
            self._values[self.count - 1] = value

    @property
    def std(self) -> float:
        """Sample standard deviation; 0 for fewer than two values."""
        return math.sqrt(self._m2 / (self.count - 1)) if self.count > 1 else 0.0

    def percentile(self, fraction: float) -> float:
        """The nearest-rank percentile: exact (a value measured) up to EXACT_UP_TO values, then to within 1% (the
        middle of its bin, kept within min and max); 0 when empty."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(fraction * self.count))
        if self.count <= EXACT_UP_TO:
            return float(np.partition(self._values[:self.count], rank - 1)[rank - 1])
        index = int(np.searchsorted(np.cumsum(self._histogram), rank))
        middle = SMALLEST_MS * BIN_GROWTH ** (index + 0.5)
        return min(max(middle, self.min), self.max)

    def as_dict(self) -> dict[str, float]:
        empty = not self.count
        return {"count": self.count, "mean": self.mean, "std": self.std,
                **{name: self.percentile(fraction) for name, fraction in PERCENTILES.items()},
                "min": 0.0 if empty else self.min, "max": 0.0 if empty else self.max}


def _bin(value: float) -> int:
    if value <= SMALLEST_MS:
        return 0
    return min(int(math.log(value / SMALLEST_MS) / math.log(BIN_GROWTH)), BINS - 1)


class LatencyStats:
    """Thread-safe statistics of every classification's decode, preprocessing, inference and total time."""

    def __init__(self):
        self._lock = threading.Lock()
        self._summaries = {step: Summary() for step in STEPS}

    def add(self, timings: Timings) -> None:
        with self._lock:
            for step, summary in self._summaries.items():
                summary.add(getattr(timings, step))

    def snapshot(self) -> dict[str, dict[str, float]]:
        """{step: {count, mean, std, p50, p95, min, max}} in milliseconds; all 0 before the first classification."""
        with self._lock:
            return {step: summary.as_dict() for step, summary in self._summaries.items()}
