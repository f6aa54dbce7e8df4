"""Predictor-guided regularized evolution: each cycle mutates `screen` times more children than it evaluates,
scores them with a surrogate fitted on every evaluation so far (on the reference tokenizer's encoding of the
genotype, `nasrec.genotype.encoding`), and evaluates only the `children` the surrogate ranks best (the idea
of AutoCTR's GBDT-screened evolution and of BANANAS). The surrogate's Kendall tau against the proxy scores
it predicted is kept as the run goes (`stats()`, written beside the search log).

The surrogate is refitted every cycle from the evaluations, so replaying the log rebuilds it exactly: the
strategy keeps no state of its own, like the others.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from nasrec.evaluators.ranking import kendall_tau
from nasrec.genotype import Genotype, SearchSpace
from nasrec.genotype.encoding import reference_tokens
from nasrec.search.base import Constraint, register_strategy
from nasrec.search.evolution import EvolutionOptions, RegularizedEvolution
from nasrec.search.objectives import selection_order


class PredictorEvolutionOptions(EvolutionOptions):
    """Regularized evolution's settings, and the surrogate's."""

    screen: int = Field(default=4, ge=1, description="mutants scored by the surrogate per child evaluated")
    surrogate: Literal["gbdt", "ridge"] = Field(
        default="gbdt", description="gbdt: scikit-learn's gradient boosting; ridge: ridge regression (numpy)"
    )
    ridge_alpha: float = Field(default=1.0, gt=0, description="ridge: L2 penalty")
    parents: int = Field(
        default=1,
        ge=1,
        description="tournament winners whose mutants form the screened pool (1: the cycle's one parent)",
    )

    @model_validator(mode="after")
    def _sklearn_present(self) -> PredictorEvolutionOptions:
        if self.surrogate == "gbdt" and importlib.util.find_spec("sklearn") is None:
            raise ValueError("the gbdt surrogate needs scikit-learn: pip install scikit-learn (or surrogate ridge)")
        return self


def fit_surrogate(kind: str, x: np.ndarray, y: np.ndarray, alpha: float = 1.0, seed: int = 0) -> Any:
    """A fitted model with `predict(x)`."""
    if kind == "gbdt":
        from sklearn.ensemble import GradientBoostingRegressor

        return GradientBoostingRegressor(n_estimators=100, max_depth=3, subsample=0.8, random_state=seed).fit(x, y)
    return _Ridge(x, y, alpha)


class _Ridge:
    """Ridge regression on standardised columns, closed form."""

    def __init__(self, x: np.ndarray, y: np.ndarray, alpha: float) -> None:
        self.mean, self.scale = x.mean(0), x.std(0) + 1e-9
        z = (x - self.mean) / self.scale
        self.y0 = y.mean()
        self.w = np.linalg.solve(z.T @ z + alpha * np.eye(z.shape[1]), z.T @ (y - self.y0))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.w + self.y0


def _tau(pairs: list[tuple[float, float]]) -> float | None:
    """Kendall tau of (predicted, actual) pairs, rounded; None for fewer than 3 pairs or no variation."""
    if len(pairs) < 3:
        return None
    p, a = zip(*pairs, strict=True)
    tau = kendall_tau(p, a)
    return None if tau is None else round(tau, 4)


@register_strategy("predictor-evolution")
class PredictorEvolution(RegularizedEvolution):
    Options = PredictorEvolutionOptions

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        constraints: list[Constraint] | None = None,
        objectives: tuple[str, ...] = ("logloss",),
        **options: Any,
    ) -> None:
        super().__init__(space, seed, constraints, objectives, **options)
        self.options: PredictorEvolutionOptions = self.Options(**options)
        self.seed = seed
        self.codes: dict[str, np.ndarray] = {}  # digest -> encoding, of every genotype encoded
        self.predicted: dict[str, float] = {}  # digest -> the surrogate's prediction when it was chosen
        self.pairs: list[tuple[float, float]] = []  # (predicted, actual) of every screened child evaluated
        self.taus: list[dict[str, Any]] = []  # per cycle: cycle, evaluations it was fitted on, tau so far
        self.evaluated: list[tuple[np.ndarray, tuple[float, ...]]] = []  # (encoding, scores) of every success
        self._fitted_on = 0

    def _code(self, g: Genotype) -> np.ndarray:
        digest = g.digest()
        if digest not in self.codes:
            self.codes[digest] = reference_tokens(g, self.space).astype(np.float64)
        return self.codes[digest]

    def make_children(self, parent: Genotype) -> list[Genotype]:
        """`screen x children` new mutants (of `parent` and `parents - 1` more tournament winners, in turn); the
        `children` best by the surrogate."""
        want = self.children * self.options.screen
        parents = [parent] + [self._tournament() for _ in range(self.options.parents - 1)]
        candidates: dict[str, Genotype] = {}
        for i in range(want * 50):
            if len(candidates) >= want:
                break
            g = self.mutant(parents[i % len(parents)])
            if g.active_digest() not in candidates and self.proposer.screen(g) is None:
                candidates[g.active_digest()] = g
        if not candidates:
            raise self.proposer.exhausted()
        pool = list(candidates.values())
        if len(pool) <= self.children or len(self.evaluated) < 2:
            return [self.proposer.accept(g) for g in pool[: self.children]]
        x = np.stack([code for code, _ in self.evaluated])
        values = np.array([v for _, v in self.evaluated], dtype=np.float64)
        xc = np.stack([self._code(g) for g in pool])
        preds = np.column_stack(
            [
                fit_surrogate(self.options.surrogate, x, values[:, m], self.options.ridge_alpha, self.seed).predict(xc)
                for m in range(values.shape[1])
            ]
        )
        order = selection_order([tuple(p) for p in preds]) if preds.shape[1] > 1 else list(np.argsort(preds[:, 0]))
        chosen = [pool[int(i)] for i in order[: self.children]]
        for i in order[: self.children]:
            self.predicted[pool[int(i)].digest()] = float(preds[int(i), 0])
        self._fitted_on = len(self.evaluated)
        return [self.proposer.accept(g) for g in chosen]

    def _commit(self) -> None:
        cycle_children, cycle_pairs = self.pending_cycle, []
        for g, score, _ in self.pending:
            if score is None or not np.all(np.isfinite(score)):
                continue
            values = tuple(map(float, score)) if isinstance(score, tuple) else (float(score),)
            self.evaluated.append((self._code(g), values))
            if g.digest() in self.predicted:
                cycle_pairs.append((self.predicted.pop(g.digest()), values[0]))
        self.pairs.extend(cycle_pairs)
        super()._commit()
        if cycle_children and len(self.pairs) >= 3:
            self.taus.append(
                {
                    "cycle": self.cycle,
                    "fitted_on": self._fitted_on,
                    "pairs": len(self.pairs),
                    "kendall_tau": _tau(self.pairs),
                    "cycle_kendall_tau": _tau(cycle_pairs),
                }
            )

    def stats(self) -> dict[str, Any]:
        """The surrogate's Kendall tau (predicted vs proxy score of the children it chose), after each cycle:
        over every cycle so far (`kendall_tau`: mostly differences between cycles), and among the cycle's own
        children (`cycle_kendall_tau`: what the screen ranks, mutants of one parent)."""
        return {"surrogate": self.options.surrogate, "kendall_tau": self.taus}
