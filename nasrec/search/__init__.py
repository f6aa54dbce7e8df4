"""Search: strategies (ask/tell), the crash-safe runner, executors and the end-to-end pipeline."""

from nasrec.search import evolution, predictor, random  # noqa: F401  (register the built-in strategies)
from nasrec.search.base import STRATEGIES, Strategy, build_strategy, list_strategies, register_strategy
from nasrec.search.evolution import RegularizedEvolution
from nasrec.search.random import RandomSearch

__all__ = [
    "STRATEGIES",
    "RandomSearch",
    "RegularizedEvolution",
    "Strategy",
    "build_strategy",
    "list_strategies",
    "register_strategy",
]
