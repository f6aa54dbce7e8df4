"""A run's work counted before it starts: each stage's proxy evaluations and training steps, at most (early stopping
ends scratch trainings sooner), so that a user sees what the paper's budget means on their data and machine."""

from __future__ import annotations

from nasrec.evaluators.full_train import SCRATCH_RECIPE
from nasrec.evaluators.training import total_steps
from nasrec.search.run_config import RunConfig


def steps(rows: int, batch_size: int, epochs: float) -> int:
    """Training steps of `epochs` over `rows` in whole batches (as the training loop counts them)."""
    return total_steps(epochs, rows // batch_size)


def epochs(n: float) -> str:
    return f"{n:g} epoch{'s' * (n != 1)}"


def of_batches(n: int, batch_size: int) -> str:
    return f"{n:,} step{'s' * (n != 1)} of {batch_size:,}"


def plan(config: RunConfig, train_rows: int, budget: int | None, supernet: bool) -> list[tuple[str, str]]:
    """(stage, what it does at most) for a run of `config` on data with `train_rows` training rows, whose
    strategy makes `budget` proposals (None: it decides when to stop); `supernet`: whether the evaluator reads one."""
    c, batch = config, SCRATCH_RECIPE.batch_size
    out = []
    if supernet:
        t = c.supernet.train
        n = steps(train_rows, t.batch_size, t.epochs)
        out.append(("supernet", f"{epochs(t.epochs)} of {train_rows:,} rows: {of_batches(n, t.batch_size)}"))
    evaluations = f"{budget:,} proxy evaluations" if budget else "proxy evaluations until the strategy stops"
    out.append(("search", f"{evaluations} ({c.strategy.name}, {c.evaluator.name})"))
    topk = steps(train_rows, batch, c.full_epochs)
    front = " (or the Pareto front, if larger)" * (len(c.objectives) > 1)
    trainings = f"{c.top_k} candidates{front} x {c.topk_seeds} seed{'s' * (c.topk_seeds > 1)}"
    out.append(("top-k", f"{trainings}, each at most {epochs(c.full_epochs)}: {of_batches(topk, batch)}"))
    if c.random_baseline:
        what = f"as many proxy evaluations and its top-{c.top_k}{front} (what it shares with the search, reused)"
        out.append(("random baseline", what))
    models = 1 + len(c.zoo) + int(c.random_baseline)
    final = steps(train_rows, batch, c.final_epochs)
    retrain = ", then again on train + valid for the epochs early stopping chose" * (c.final_protocol == "retrain")
    each = f"each at most {epochs(c.final_epochs)}: {of_batches(final, batch)}"
    seeds = f"{c.final_seeds} seed{'s' * (c.final_seeds > 1)}"
    out.append(("final", f"{models} model{'s' * (models > 1)} x {seeds}, {each}{retrain}"))
    return out
