"""Sizing strategies, registered by name: history + forecast + current spec -> recommendation."""

from recommenders.errors import InputError
from recommenders.strategies.base import Strategy
from recommenders.strategies.default import DefaultStrategy

STRATEGIES: dict[str, type[Strategy]] = {DefaultStrategy.name: DefaultStrategy}


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise InputError("strategy", f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
    return STRATEGIES[name]()


__all__ = ["STRATEGIES", "Strategy", "get_strategy"]
