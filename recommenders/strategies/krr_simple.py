"""A baseline that sizes the way Robusta KRR's `simple` strategy does.

KRR is the usual tool people run once to right-size by hand, so the backtest compares against
its answer to the same history: the last 14 days (its default `history_duration`), the CPU
request at the 95th percentile of the samples with no CPU limit, and memory request and limit
both at the peak plus 15 %. Prometheus's `quantile_over_time`, which KRR queries, interpolates
between samples like numpy's default percentile, so the two agree on the same samples.

Left out: KRR refuses to recommend below 100 data points and when an HPA scales on the
resource, and rounds its output up to a floor of 10 millicores and 100 MB; a backtest baseline
wants the statistic itself, and the policy applies Rightsizer's own floors and HPA rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from recommenders.strategies.base import Metric, NothingToPrepare, Sizing
from recommenders.strategies.history import confidence_for, covered_days, samples
from recommenders.strategies.settings import check_bounds, setting
from recommenders.strategies.units import amount


@dataclass(frozen=True)
class KrrSimpleSettings:
    history_hours: float = setting(
        336.0, 1.0, 8760.0, "How much of the newest history to size from (KRR: 14 days)."
    )
    cpu_percentile: float = setting(
        95.0,
        50.0,
        100.0,
        "Percentile of CPU samples the request covers, in percent.",
        "halve-tail-percent",
    )
    memory_buffer: float = setting(
        0.15, 0.0, 2.0, "Fraction added to the memory peak for request and limit.", "double"
    )

    def __post_init__(self) -> None:
        check_bounds(self, "strategy.krr-simple")


class KrrSimpleStrategy(NothingToPrepare):
    name: ClassVar[str] = "krr-simple"
    description: ClassVar[str] = (
        "Robusta KRR's simple strategy: last 14 days, CPU request at p95 with no limit, "
        "memory request and limit at the peak + 15%."
    )
    settings_type: ClassVar[type] = KrrSimpleSettings

    def __init__(self, settings: KrrSimpleSettings | None = None) -> None:
        self.settings = settings or KrrSimpleSettings()

    def size(
        self,
        history: pd.Series,
        metric: Metric,
        horizon: pd.Timedelta,
        served: pd.Series | None = None,
    ) -> Sizing:
        """`horizon` and `served` are unused: KRR sizes from the whole past alone, the same
        level for any horizon.

        With no usage at all the request is 0.0, which no pull request may propose: KRR would
        print "?" here, and the low confidence and note let the caller skip the field.
        """
        hours, values = self._window(history)
        if len(values) == 0:
            return Sizing(
                request=0.0,
                limit=None,
                basis="no usage data",
                model=self._model(metric),
                confidence="low",
                notes=("no usage data: KRR would make no recommendation",),
            )
        if metric == "cpu":
            return self._cpu(hours, values)
        return self._memory(hours, values)

    def _cpu(self, hours: np.ndarray, values: np.ndarray) -> Sizing:
        # numpy's default (linear) interpolation is the one Prometheus's quantile_over_time uses.
        request = float(np.percentile(values, self.settings.cpu_percentile))
        name = self._percentile_name()
        return Sizing(
            request=request,
            limit=None,
            basis=f"{name} of the last {self._days()} of samples",
            evidence=f"{name} {amount('cpu', request)} over {len(values)} samples",
            model=self._model("cpu"),
            confidence=confidence_for(covered_days(hours)),
            notes=(
                "KRR would unset the CPU limit; Rightsizer keeps it at today's ratio to the "
                "request",
            ),
        )

    def _memory(self, hours: np.ndarray, values: np.ndarray) -> Sizing:
        peak = float(values.max())
        request = peak * (1 + self.settings.memory_buffer)
        return Sizing(
            request=request,
            limit=request,
            basis=f"peak of the last {self._days()} + {self.settings.memory_buffer:.0%}",
            evidence=f"peak {amount('memory', peak)} over {len(values)} samples",
            model=self._model("memory"),
            confidence=confidence_for(covered_days(hours)),
        )

    def _window(self, history: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Sample times in hours since the newest, and values, over the last `history_hours`.

        A sample exactly `history_hours` old is left out, so 336 hourly samples make 14 days.
        """
        hours, values = samples(history)
        keep = hours > -self.settings.history_hours
        return hours[keep], values[keep]

    def _percentile_name(self) -> str:
        return f"p{self.settings.cpu_percentile:g}"

    def _days(self) -> str:
        days = self.settings.history_hours / 24
        return f"{days:g} days" if days >= 1 else f"{self.settings.history_hours:g} h"

    def _model(self, metric: Metric) -> str:
        statistic = self._percentile_name() if metric == "cpu" else "peak"
        return f"KRR simple ({statistic}, last {self._days()})"
