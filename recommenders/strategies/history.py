"""What every strategy reads off a history before sizing: sample ages, and how much it covers."""

from __future__ import annotations

import numpy as np
import pandas as pd

HOUR = pd.Timedelta(hours=1)
CONFIDENCE = ("low", "medium", "high")


def samples(history: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Sample times in hours relative to the newest sample, and the values, without NaN or
    disorder: the contract promises neither, but no strategy may size nonsense when broken."""
    if not history.index.is_monotonic_increasing:
        history = history.sort_index()
    values = history.to_numpy(dtype=float)
    if len(values) == 0:
        return np.empty(0), values
    hours = ((history.index - history.index[-1]) / HOUR).to_numpy(dtype=float)
    keep = np.isfinite(values)
    return hours[keep], values[keep]


def covered_days(hours: np.ndarray) -> float:
    """The span plus one typical step, so that a week of hourly samples counts as a week."""
    if len(hours) == 0:
        return 0.0
    step = float(np.median(np.diff(hours))) if len(hours) > 1 else 0.0
    return (hours[-1] - hours[0] + step) / 24


def confidence_for(days: float) -> str:
    """A week holds every weekday once; under a day not even one daily cycle."""
    return "high" if days >= 7 else "medium" if days >= 1 else "low"
