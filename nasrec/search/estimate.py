"""What a run would take on this machine, measured before it starts: a few supernet steps, proxy evaluations and
scratch training steps timed here, times the work `plan` counts. `nasrec search --estimate` prints it.

Timed as the run trains: the run's device, batch sizes, tables and recipes. The supernet's step is the mean over
its schedule of a sampled path's step and the full supernet's (which its warm-up trains in part of the steps),
both timed on a copy never saved; the proxy scores sampled genotypes against that copy, so each evaluation costs
what the search's do (the first of a stage more: what it caches). A scratch step is timed on genotypes sampled
from the space (the winners are not known yet; their range is shown) and on each zoo model. Training steps only:
validations, start-up and early stopping's savings are not counted, nor the retries of a diverged training, and
no model is compiled (a long training of a model without attention is, and runs a little faster).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, Field

from nasrec.compiler import compile_standalone
from nasrec.evaluators.base import build_evaluator, reads_supernet
from nasrec.evaluators.checkpoint import save_checkpoint
from nasrec.evaluators.data_ref import open_data
from nasrec.evaluators.distributed import resolve_device
from nasrec.evaluators.full_train import SCRATCH_RECIPE, FullTrainConfig
from nasrec.evaluators.guard import TrainingDiverged
from nasrec.evaluators.schedule import logit
from nasrec.evaluators.supernet_training import PathSampler, SupernetTrainer
from nasrec.evaluators.training import Trainer, total_steps
from nasrec.genotype import Genotype, get_space, sample
from nasrec.genotype.zoo import load_zoo
from nasrec.search.plan import steps
from nasrec.search.run_config import RunConfig

TIMED_STEPS = 6
"""Steps timed per model, after one untimed first step (it allocates)."""


class Rates(BaseModel):
    """Seconds per unit of work, measured on this machine."""

    supernet_steps: dict[str, float] | None = Field(
        default=None, description="a sampled path's step (`path`) and the full supernet's (`full`); None: no supernet"
    )
    full_share: float = Field(default=0.0, description="the supernet steps' expected share of full-supernet steps")
    evaluation: float | None = Field(default=None, description="one proxy evaluation; None: `full` (scratch steps)")
    evaluation_setup: float = Field(default=0.0, description="what the first evaluation of a stage costs more")
    scratch_steps: list[float] = Field(description="seconds per scratch step of each sampled genotype")
    zoo_steps: dict[str, float] = Field(default_factory=dict, description="seconds per step of each zoo model")
    measured_seconds: float = Field(description="what measuring took")

    @property
    def supernet_step(self) -> float | None:
        """The mean step over the schedule: its warm-up trains the full supernet in `full_share` of the steps."""
        if self.supernet_steps is None:
            return None
        full = self.supernet_steps.get("full", 0.0)
        return self.full_share * full + (1 - self.full_share) * self.supernet_steps["path"]

    @property
    def scratch_step(self) -> float:
        return float(np.mean(self.scratch_steps))


class StageEstimate(BaseModel):
    stage: str
    seconds: float | None = Field(description="the plan's work at the rates; None: the strategy decides how many")
    how: str


def _stamped(batches: Iterable[Any], stamps: list[float], device: torch.device) -> Iterator[Any]:
    for batch in batches:
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # the step's kernels done, not only launched
        stamps.append(time.perf_counter())
        yield batch


def step_seconds(trainer: Trainer, rows: Any, batch_size: int, seed: int, timed: int = TIMED_STEPS) -> float:
    """Mean seconds of `trainer`'s steps on `rows` (a data split): the time between its batch requests, a step
    and the cut of the next batch, over `timed` steps after an untimed first."""
    stamps: list[float] = []
    batches = lambda epoch: _stamped(  # noqa: E731
        rows.batches(batch_size, shuffle=True, seed=seed, epoch=epoch, drop_last=True), stamps, trainer.device
    )
    with contextlib.suppress(TrainingDiverged):  # the steps before count: a time, not a score, is wanted
        trainer.fit(batches, rows.full_batches(batch_size), stop_after=timed + 2)
    gaps = np.diff(stamps)[1 : timed + 1]
    if not len(gaps):
        raise ValueError(f"too few training rows to time a step: {len(rows)} rows, batches of {batch_size}")
    return float(np.mean(gaps))


class _After:
    """The schedule's paths at steps drawn after its warm-up (sampled paths only), or its first step's (the full
    supernet, `warm=True`)."""

    def __init__(self, schedule: PathSampler, total: int, seed: int, warm: bool = False) -> None:
        start = min(schedule.warm_steps, total - 1)
        self.schedule = schedule
        self.at = np.zeros(1, int) if warm else np.random.default_rng(seed).integers(start, total, TIMED_STEPS + 2)

    def __call__(self, step: int) -> Genotype:
        return self.schedule(int(self.at[step % len(self.at)]))


def measure(config: RunConfig, genotypes: int = 5, timed: int = TIMED_STEPS) -> Rates:
    """Time the run's units of work here: supernet steps, proxy evaluations of `genotypes` genotypes sampled
    from the space, their scratch steps, and each zoo model's (`timed` steps each)."""
    start, c = time.perf_counter(), config
    device = resolve_device(c.device)
    data = open_data(c.data)
    train = data.split("train")
    drawn = [sample(c.space, rng=np.random.default_rng([c.seed, i])) for i in range(genotypes)]
    evaluator = c.evaluator.name
    supernet_steps: dict[str, float] | None = None
    evaluation, setup, full_share = None, 0.0, 0.0
    with tempfile.TemporaryDirectory(prefix="nasrec-estimate-") as tmp:
        supernet_path = Path(tmp) / "checkpoint.pt"
        if reads_supernet(evaluator):
            s = c.supernet
            supernet = s.build_supernet().to(device)
            total = total_steps(s.train.epochs, train.full_batches(s.train.batch_size))
            schedule = PathSampler(get_space(s.space), s.sampler, total, s.warmup_fraction, s.warmup_mode, s.train.seed)
            center = logit(train.positive_rate) if s.center_logits else None
            supernet_steps = {}
            for kind in ("path", "full") if schedule.warm_steps else ("path",):
                paths = _After(schedule, total, s.train.seed, warm=kind == "full")
                trainer = SupernetTrainer(supernet, s.train, paths, center, device=device)
                supernet_steps[kind] = step_seconds(trainer, train, s.train.batch_size, s.train.seed, timed)
                del trainer
            full_share = schedule.warm_steps / max(total, 1) / 2  # the full supernet's chance falls from 1 to 0
            save_checkpoint({"model": supernet.state_dict()}, supernet_path)
            (Path(tmp) / "config.json").write_text(s.model_dump_json())
            del supernet
        if evaluator != "full":  # a scratch training per evaluation: counted from the scratch steps below
            built = build_evaluator(
                evaluator,
                c.evaluator.build_config(data=c.data, supernet=str(supernet_path), seed=c.seed, device=c.device),
            )
            seconds = [score.seconds for score in built.evaluate(drawn)]
            evaluation = float(np.mean(seconds[1:] or seconds))
            setup = max(0.0, seconds[0] - evaluation)  # a stage's first evaluation caches what the others reuse
            del built

    def scratch(g: Genotype) -> float:
        model = compile_standalone(g, data.spec, layernorm=c.layernorm_final).to(device)
        trainer = Trainer(model, SCRATCH_RECIPE, device=device, compile=False)
        return step_seconds(trainer, train, SCRATCH_RECIPE.batch_size, c.seed, timed)

    return Rates(
        supernet_steps=supernet_steps,
        full_share=full_share,
        evaluation=evaluation,
        evaluation_setup=setup,
        scratch_steps=[scratch(g) for g in drawn],
        zoo_steps={name: scratch(load_zoo(name)) for name in c.zoo},
        measured_seconds=time.perf_counter() - start,
    )


def duration(seconds: float) -> str:
    """`12 s`, `4.2 min`, `3.1 h`, `2.5 days`."""
    for unit, size, from_ in (("days", 86_400, 172_800), ("h", 3_600, 3_600), ("min", 60, 60)):
        if seconds >= from_:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def parallelism(config: RunConfig) -> tuple[int, int]:
    """(evaluations at once on this machine, its CPUs): `workers`, at most one per CPU (a process each, or a local
    Ray's task of 1 CPU each)."""
    cpus = os.cpu_count() or 1
    return min(config.workers, cpus), cpus


def estimate(
    config: RunConfig, rates: Rates, train_rows: int, retrain_rows: int, budget: int | None
) -> list[StageEstimate]:
    """Each stage's time: the most work `plan` counts (on `train_rows` training rows, `retrain_rows` in train +
    valid; `budget` proposals, None where the strategy decides) times the measured `rates`."""
    c, batch, out = config, SCRATCH_RECIPE.batch_size, []
    step, parts = rates.supernet_step, rates.supernet_steps or {}
    if step is not None:
        n = steps(train_rows, c.supernet.train.batch_size, c.supernet.train.epochs)
        how = f"{n:,} steps x {step:.3g} s"
        if "full" in parts:
            how += f" (a path {parts['path']:.3g} s, the full supernet {parts['full']:.3g} s in {rates.full_share:.0%})"
        out.append(StageEstimate(stage="supernet", seconds=n * step, how=how))
    per_eval, unit, setup = rates.evaluation, "evaluation", rates.evaluation_setup
    if per_eval is None:  # the `full` evaluator: a scratch training each
        full = FullTrainConfig.model_validate(c.evaluator.build_config(data=c.data, seed=c.seed))
        n = steps(train_rows, full.train.batch_size, full.train.epochs) * full.seeds
        per_eval, unit = n * rates.scratch_step, f"evaluation ({n:,} scratch steps)"
    parallel, cpus = parallelism(c)
    workers = f" / {parallel} workers" if parallel > 1 else ""
    if parallel < c.workers:
        workers += f" ({c.workers} asked, {cpus} CPUs here)"
    once = f" + {setup:.3g} s once" if setup else ""
    remote = c.executor == "ray" and c.ray_address != "local"
    search = None if budget is None or remote else budget * per_eval / parallel + setup
    how = (
        f"{budget:,} x {per_eval:.3g} s{workers}{once}"
        if budget
        else f"{per_eval:.3g} s per {unit}{once}, until the strategy stops"
    )
    if remote:
        how = f"a Ray cluster's speed is not estimated ({per_eval:.3g} s per {unit} here)"
    out.append(StageEstimate(stage="search", seconds=search, how=how))
    low, high = min(rates.scratch_steps), max(rates.scratch_steps)
    span = f"{rates.scratch_step:.3g} s ({low:.3g}-{high:.3g} over {len(rates.scratch_steps)} sampled genotypes)"
    n = steps(train_rows, batch, c.full_epochs)
    trainings = c.top_k * c.topk_seeds
    topk = trainings * n * rates.scratch_step
    out.append(StageEstimate(stage="top-k", seconds=topk, how=f"{trainings} x {n:,} steps x {span}"))
    if c.random_baseline:
        both = None if search is None else search + topk
        out.append(
            StageEstimate(
                stage="random baseline",
                seconds=both,
                how="the search's and the top-k's at most (what they share is not done again)",
            )
        )
    n = steps(train_rows, batch, c.final_epochs)
    if c.final_protocol == "retrain":
        n += steps(retrain_rows, batch, c.final_epochs)
    searched = (1 + int(c.random_baseline)) * rates.scratch_step
    final = c.final_seeds * n * (searched + sum(rates.zoo_steps[name] for name in c.zoo))
    zoo = "".join(f", {name} {rates.zoo_steps[name]:.3g} s" for name in c.zoo)
    models = f"NASRecNet{' and random search' * c.random_baseline} {rates.scratch_step:.3g} s{zoo}"
    out.append(StageEstimate(stage="final", seconds=final, how=f"{c.final_seeds} x {n:,} steps x ({models})"))
    return out
