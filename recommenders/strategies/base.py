"""The strategy contract."""

from __future__ import annotations

from typing import Protocol

from recommenders.model import UnitPrices, WorkloadRecommendation, WorkloadSpec
from recommenders.sources.usage import WorkloadUsage


class Strategy(Protocol):
    """Turns one workload's usage history into proposed values for the fields it sizes.

    A strategy proposes a value for every field it has an opinion on, including ones that
    stay the same; guardrails (minimum change, bounds, maximum step) are the policy's job, so
    that every skipped or clipped change can name the rule that did it. It never raises for
    odd data: it says how sure it is in `confidence` and why in `notes`.
    """

    name: str

    def recommend(
        self, spec: WorkloadSpec, usage: WorkloadUsage, prices: UnitPrices
    ) -> WorkloadRecommendation: ...
