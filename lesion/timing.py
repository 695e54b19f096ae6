"""Running latency statistics since startup: count, mean, standard deviation, min and max (Welford's algorithm)."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from lesion.classifier import Timings

STEPS = ("preprocess_ms", "inference_ms", "total_ms")


@dataclass
class Summary:
    count: int = 0
    mean: float = 0.0
    _m2: float = 0.0
    min: float = math.inf
    max: float = -math.inf

    def add(self, value: float) -> None:
        self.count += 1
        delta = value - self.mean
        self.mean += delta / self.count
        self._m2 += delta * (value - self.mean)
        self.min, self.max = min(self.min, value), max(self.max, value)

    @property
    def std(self) -> float:
        """Sample standard deviation; 0 for fewer than two values."""
        return math.sqrt(self._m2 / (self.count - 1)) if self.count > 1 else 0.0


class LatencyStats:
    """Thread-safe statistics of every classification's preprocessing, inference and total time."""

    def __init__(self):
        self._lock = threading.Lock()
        self._summaries = {step: Summary() for step in STEPS}

    def add(self, timings: Timings) -> None:
        with self._lock:
            for step, summary in self._summaries.items():
                summary.add(getattr(timings, step))

    def snapshot(self) -> dict[str, dict[str, float]]:
        """{step: {count, mean, std, min, max}} in milliseconds."""
        with self._lock:
            return {
                step: {"count": s.count, "mean": s.mean, "std": s.std, "min": s.min, "max": s.max}
                for step, s in self._summaries.items()
            }
