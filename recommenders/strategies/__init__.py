"""Sizing strategies, registered by name: one series' history in, one sizing out."""

from recommenders.errors import InputError
from recommenders.strategies.base import Strategy
from recommenders.strategies.default import DefaultStrategy
from recommenders.strategies.krr_simple import KrrSimpleStrategy
from recommenders.strategies.vpa import VpaStrategy

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (DefaultStrategy, VpaStrategy, KrrSimpleStrategy)
}


def get_strategy(name: str, settings: object | None = None) -> Strategy:
    """The strategy `name` with `settings` (an instance of its `settings_type`) or defaults."""
    if name not in STRATEGIES:
        raise InputError("strategy", f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
    return STRATEGIES[name](settings)


__all__ = ["STRATEGIES", "Strategy", "get_strategy"]
