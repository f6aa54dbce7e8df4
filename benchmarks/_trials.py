"""Shared by the recipe benchmarks: the ranking study's reference genotypes trained under several recipes and
seeds, each finished training kept in a resumable JSON-lines log (nasrec.state.Stage)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict

from nasrec.evaluators.guard import TrainingDiverged
from nasrec.evaluators.study_records import read_reference_table
from nasrec.genotype.schema import Genotype
from nasrec.state import Stage

REFERENCE = Path("docs/results/rank-criteo-reference.jsonl")


class Trial(BaseModel):
    """One finished training, known by (recipe, genotype digest, seed); the other fields are the benchmark's."""

    model_config = ConfigDict(extra="allow")

    recipe: str
    digest: str
    seed: int
    error: str | None = None
    seconds: float = 0.0


def parse_args(doc: str | None, n: int, data: str | None) -> argparse.Namespace:
    """The recipe benchmarks' command line (`data` None: `--data` is required); sets torch's thread count."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", type=Path, default=REFERENCE)
    ap.add_argument("--data", default=data, required=data is None)
    ap.add_argument("--n", type=int, default=n, help="genotypes: the reference table's first N")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True, help="the resumable log (JSON lines)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    return args


def reference_genotypes(path: Path, n: int) -> list[tuple[str, Genotype]]:
    """The first `n` genotypes of a reference table, with their digests."""
    return [(e.digest, e.genotype) for e in read_reference_table(path)[:n]]


def run_trials(
    out: Path,
    recipes: dict[str, dict[str, Any]],
    genotypes: list[tuple[str, Genotype]],
    seeds: int,
    train: Callable[[dict[str, Any], Genotype, int], dict[str, Any]],
    failed: dict[str, Any],
) -> dict[tuple[str, str, int], dict[str, Any]]:
    """`train(recipe_update, genotype, seed)` for every recipe, genotype and seed not yet in `out`; a training
    the divergence guard stopped is kept as `failed` plus its message. Every trial by (recipe, digest, seed)."""
    stage = Stage(out, Trial, key=lambda t: (t.recipe, t.digest, t.seed))
    items = [(name, digest, g, seed) for name in recipes for digest, g in genotypes for seed in range(seeds)]

    def make(item: tuple[str, str, Genotype, int]) -> Trial:
        name, digest, genotype, seed = item
        start = time.perf_counter()
        try:
            fields = train(recipes[name], genotype, seed)
        except TrainingDiverged as exc:  # a run the guard stopped is a finding: kept, not fatal
            fields = failed | {"error": str(exc)}
        seconds = round(time.perf_counter() - start, 1)
        trial = Trial(recipe=name, digest=digest, seed=seed, seconds=seconds, **fields)
        print(name, digest, seed, fields, seconds, flush=True)
        return trial

    stage.run(items, key=lambda it: (it[0], it[1], it[3]), make=make)
    return {k: t.model_dump() for k, t in stage.records.items()}
