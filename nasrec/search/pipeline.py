"""The end-to-end NASRec pipeline on one run folder; each stage is skipped when its output exists.

data -> supernet training -> evolution scored by the fine-tuned proxy -> the top-k trained from scratch ->
the best on validation (NASRecNet) trained again (`final_protocol`: "keep", the default, on train early-stopped
on validation; "retrain", on train + validation for the epochs early stopping chose) and scored on test beside
the zoo models and a random-search baseline of the same budget -> best genotype and summary. One process at a
time runs on a folder (`RunLock`); every stage appends its records as they finish (`Stage`), so a killed run
resumes.
The diagram and the HTML report are drawn from the folder afterwards (`nasrec.viz`, by the CLI).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from nasrec.errors import NasrecError, UsageError
from nasrec.evaluators import train_supernet
from nasrec.evaluators.base import build_evaluator, reads_supernet
from nasrec.evaluators.data_ref import open_data
from nasrec.evaluators.distributed import resolve_device
from nasrec.evaluators.full_train import SCRATCH_RECIPE
from nasrec.evaluators.supernet_training import GUARD as SUPERNET_GUARD
from nasrec.genotype import SAMPLERS, Genotype, get_space, save
from nasrec.genotype.zoo import load_zoo
from nasrec.records import Evaluation, RunPaths, StageTime, Summary, TopKResult
from nasrec.search.base import Constraint, NoNewGenotype, build_strategy
from nasrec.search.estimate import Rates, StageEstimate, estimate, measure
from nasrec.search.executors import Executor, InProcessExecutor, LazyExecutor, ProcessPoolExecutor, on_cuda
from nasrec.search.plan import plan
from nasrec.search.run_config import EvaluatorChoice, RunConfig, StrategyChoice
from nasrec.search.run_folder import as_folder_ran, finished_as_given, pin_run_config
from nasrec.search.runner import run_search, search_stats
from nasrec.search.scratch_stages import FINAL_SEED_OFFSET, ScratchStages, new_folder, same_training
from nasrec.state import RunLock, append_jsonl, atomic_write_bytes, atomic_write_text, read_jsonl, repair_jsonl
from nasrec.state.configs import pin_config
from nasrec.state.folders import is_temporary
from nasrec.state.lock import LOCK_NAME

__all__ = ["FINAL_SEED_OFFSET", "EvaluatorChoice", "Pipeline", "RunConfig", "StrategyChoice", "same_training"]

EXTENSION = "(extension)"
"""A line of `stage_times.jsonl` (0 s, left out of the stage times): the search was extended here, so only the
supernet stage of the lines before it is still done. Written before the extended config.json: a kill between
the two leaves the old config, whose rerun extends (and writes the line) again."""


def baseline_choice(strategy: StrategyChoice, budget: int) -> StrategyChoice:
    """The random baseline of a search by `strategy`: `budget` draws with the search's path sampler where it
    names one (evolution's `sampler`; Optuna's `sampler` is its own algorithm), so the two sample the space
    alike and the baseline's first draws are evolution's initial population."""
    options: dict[str, Any] = {"budget": budget}
    sampler = strategy.options.get("sampler")
    if isinstance(sampler, str) and sampler in SAMPLERS.names():
        options["sampler"] = sampler
    return StrategyChoice(name="random", options=options)


def _check_one_process() -> None:
    """A run is one process: under torchrun every rank would run the whole pipeline on the same folder."""
    world = os.environ.get("WORLD_SIZE", "1")
    if world.isdigit() and int(world) > 1:
        raise UsageError(
            f"search runs as one process, not one per torchrun rank (WORLD_SIZE={world}): run it without torchrun "
            "(torchrun is for train-supernet); --workers N or --executor ray scale the search"
        )


class Pipeline(ScratchStages):
    """One run folder's pipeline: `run()` runs (or resumes) every stage."""

    def __init__(
        self, config: RunConfig, root: str | Path, console: Console | None = None, progress: bool = True
    ) -> None:
        self.paths = RunPaths(root)
        self.config = as_folder_ran(self.paths.config, config)
        self.console = console or Console(markup=False)  # paths and names printed as written
        self.progress = progress
        self.stage_seconds: dict[str, float] = {}
        self.rejected = 0  # proposals of the search over a budget (never scored)
        self._extended: bytes | None = None  # an extended config.json, written once the extension can go on
        self._done: set[str] = set()  # stages an earlier call finished (`_finished_stages`)

    # -- stages ------------------------------------------------------------------------------------
    def run(self) -> Summary:
        """Run (or resume) every stage, after `check()`; raises `RunFolderBusy` when another process runs on
        the folder. Nothing is written before the checks pass and the lock is held."""
        self.check()
        with RunLock(self.paths.root):
            return self._run()

    def check(self) -> None:
        """What the config names must exist here, before any stage: the space, the data, the device, Ray.
        Every problem found is one line of the `UsageError` raised."""
        c, problems = self.config, []
        checks = [
            _check_one_process,
            self._check_folder,
            self._check_supernet,
            lambda: get_space(c.space),
            self._check_rows,  # opens the data
            lambda: resolve_device(c.device),
        ]
        if c.executor == "ray":  # a finished run's rerun starts no Ray (`LazyExecutor`): its cluster may be gone
            from nasrec.search.ray_executor import _import_ray, check_address

            checks.append(_import_ray if finished_as_given(self.paths, c) else lambda: check_address(c.ray_address))
        for check in checks:
            try:
                check()
            except NasrecError as exc:
                problems.append(str(exc))
        if problems:
            raise UsageError("\n".join(problems))

    def _check_folder(self) -> None:
        """A folder that holds no run yet may hold only what a run finds there (a supernet trained into
        RUN/supernet, a temporary of a first run killed while writing its config): a run is never written among
        unrelated files."""
        root = self.paths.root
        if not root.is_dir() or self.paths.is_run():
            return
        ours = (LOCK_NAME, "supernet")
        foreign = sorted(p.name for p in root.iterdir() if p.name not in ours and not is_temporary(p.name))
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise UsageError(f"{root} holds {shown} and no run of nasrec search; choose a new or empty folder")

    def _check_rows(self) -> None:
        """The data opens, and its train split holds a batch of every training the run does."""
        c = self.config
        train = open_data(c.data).split("train")
        need = max([SCRATCH_RECIPE.batch_size] + [c.supernet.train.batch_size] * self.uses_supernet())
        if len(train) < need:
            raise UsageError(
                f"{c.data}: the train split has {len(train):,} rows (8 folds of 10), fewer than one batch of "
                f"{need:,}: a search needs more data"
            )

    def _check_supernet(self) -> None:
        """A supernet already in RUN/supernet (trained there by `nasrec train-supernet`, or by an earlier call) must
        have the run's supernet settings: compared here, before the run writes anything, not when its stage starts."""
        path = self.paths.supernet.parent / "config.json"
        if self.uses_supernet() and path.is_file():  # with the same file the stage pins (nothing is written)
            pin_config(path, self.config.supernet, what="supernet", paths=("data", "space"), ignore=SUPERNET_GUARD)

    def _run(self) -> Summary:
        self._write_config()
        self.print_plan()
        self.stage_seconds, logged = self._load_stage_times()
        self._done = self._finished_stages(logged)
        if self.uses_supernet():
            self._stage("supernet", self.train_supernet)
        evaluations = self._stage("search", lambda: self.search(self.paths.evaluations))
        self.check_scored(evaluations)
        topk = self._stage("top-k", lambda: self.train_top_k(evaluations, self.paths.topk))
        best = self.best_trained(topk, self.paths.topk, self.paths.supernet)
        save(
            best.genotype.with_meta(
                name="NASRecNet",
                proxy_log_loss=best.proxy.log_loss,  # None for an evaluator without one (params, flops)
                proxy_objective=best.proxy.objective,  # what such an evaluator minimised (minus the size)
                valid_log_loss=best.full.log_loss if best.full else None,
            ),
            self.paths.best_genotype,
        )
        candidates = [("NASRecNet", "nasrec", best.genotype)]
        candidates += [(f"zoo:{name}", "zoo", load_zoo(name)) for name in self.config.zoo]
        if self.config.random_baseline:
            candidates.append(("random search", "random", self._stage("random baseline", self.random_baseline)))
        results = self._stage("final", lambda: self.final(candidates))
        summary = Summary(
            best_digest=best.digest,
            best_genotype=self.paths.best_genotype.name,
            results=results,
            stage_seconds=self.stage_seconds,
            evaluations=len(evaluations),
            comparisons=self._stage("compare", lambda: self.comparisons(results)),
            seeds=self.final_seeds(),
            objectives=list(self.config.objectives),
            limits=self.config.limits.model_dump(exclude_none=True),
            rejected=self.rejected,
            front=self.front(evaluations, topk),
            topk=[r.digest for r in topk],
            diverged=self.final_diverged(candidates),
        )
        atomic_write_text(self.paths.summary, summary.model_dump_json(indent=2))
        return summary

    def _stage(self, name: str, fn):
        """Run one stage and log its time; `stage_seconds` sums every call's, so a resumed run keeps the
        time its earlier calls spent (a call killed inside a stage logs nothing for it, and a stage an earlier call
        finished, read back, adds nothing: a rerun of a finished run reports the times it ran in)."""
        done = " (done: skipped)" if name in self._done else ""
        self.console.print(Text.assemble(("stage", "bold"), f" {name}{done}"), highlight=False)
        start = time.perf_counter()
        out = fn()
        if done:
            return out
        spent = StageTime(stage=name, seconds=round(time.perf_counter() - start, 2))
        append_jsonl(self.paths.stage_times, spent)
        self.stage_seconds[name] = round(self.stage_seconds.get(name, 0.0) + spent.seconds, 2)
        return out

    def _finished_stages(self, logged: set[str]) -> set[str]:
        """Of the stages an earlier call finished (`logged` since the search was last extended), those whose output
        is still there: this call reads them back, doing no work. A call that extends the search redoes every stage
        after the supernet."""
        p = self.paths
        outputs = {
            "supernet": (p.supernet,),
            "search": (p.evaluations,),
            "top-k": (p.topk,),
            "random baseline": (p.random_evaluations, p.random_topk),
            "final": (p.final,),
            "compare": (p.comparisons,),
        }
        extended = self._extended is not None  # set by `_write_config` until the search goes on
        return {
            stage
            for stage in logged
            if all(path.exists() for path in outputs.get(stage, ())) and not (extended and stage != "supernet")
        }

    def _load_stage_times(self) -> tuple[dict[str, float], set[str]]:
        """Seconds per stage of the earlier calls, from `stage_times.jsonl` (a torn last line of a killed call
        is cut first), and the stages logged since the search was last extended (`EXTENSION`). A run folder from
        before that log: its summary's stage times become the log's first lines, so resuming it adds to them
        instead of replacing them."""
        log = self.paths.stage_times
        if not log.exists() and self.paths.summary.exists():
            try:
                old = Summary.model_validate_json(self.paths.summary.read_text())
            except ValueError:  # not a summary this version reads: nothing to keep
                old = None
            for stage, seconds in old.stage_seconds.items() if old else ():
                append_jsonl(log, StageTime(stage=stage, seconds=seconds))
        repair_jsonl(log, StageTime)
        totals: dict[str, float] = {}
        logged: set[str] = set()
        for record in read_jsonl(log, StageTime):
            if record.stage == EXTENSION:
                logged &= {"supernet"}
            else:
                totals[record.stage] = round(totals.get(record.stage, 0.0) + record.seconds, 2)
                logged.add(record.stage)
        return totals, logged

    def _write_config(self) -> None:
        """Pin the run's config (`pin_run_config`); say what a rerun extended. An extended config is kept back
        (the folder's config.json stays as it was) until the extension can go on, its search's executor up
        (`_extension_goes_on`): a rerun that fails before (a Ray cluster that does not answer) leaves the folder
        as the last run left it, so that run's command still resumes it."""
        path = self.paths.config
        before = path.read_bytes() if path.is_file() else None
        grown = pin_run_config(path, self.config)
        if grown and before is not None:
            self._extended = path.read_bytes()
            atomic_write_bytes(path, before)
        for dotted, (old, new) in grown.items():
            self.console.print(f"extending the search: {dotted.rsplit('.', 1)[-1]} {old} -> {new}", highlight=False)

    def _extension_goes_on(self) -> None:
        """Write the extended config `_write_config` kept back, if any: the extension's work begins."""
        if self._extended is not None:
            append_jsonl(self.paths.stage_times, StageTime(stage=EXTENSION, seconds=0.0))  # first: see EXTENSION
            atomic_write_bytes(self.paths.config, self._extended)
            self._extended = None

    def plan(self) -> list[tuple[str, str]]:
        """Each stage's work at most, counted from the config and the data (`nasrec.search.plan`)."""
        rows = len(open_data(self.config.data).split("train"))
        return plan(self.config, rows, self._budget(), self.uses_supernet())

    def print_plan(self) -> None:
        """The plan, as a run prints it before its first stage (and `--estimate` before its times)."""
        at_most = " (at most: early stopping ends trainings sooner; a diverged training is retried, calmer)"
        self.console.print(Text.assemble(("plan", "bold"), at_most))
        for stage, what in self.plan():
            self.console.print(f"  {stage}: {what}", highlight=False)

    def estimate(self, rates: Rates | None = None) -> list[StageEstimate]:
        """Each stage's time on this machine (`nasrec.search.estimate`): the plan's work times `rates`,
        measured now when not given. Writes nothing in the run folder."""
        data = open_data(self.config.data)
        rows = (len(data.split("train")), len(data.split("train+valid")))
        return estimate(self.config, rates or measure(self.config), *rows, self._budget())

    def _budget(self) -> int | None:
        """The search strategy's proposals, where it says (None: it decides when to stop)."""
        c = self.config
        strategy = build_strategy(
            c.strategy.name, c.space, seed=c.seed, constraints=[], objectives=c.objectives, **c.strategy.options
        )
        return getattr(strategy, "budget", None)

    def uses_supernet(self) -> bool:
        """Whether the search's evaluator reads a supernet (the `params` and `flops` baselines do not)."""
        return reads_supernet(self.config.evaluator.name)

    def constraints(self) -> list[Constraint]:
        """The run's budgets (`limits`) as constraints on its data's features."""
        c = self.config
        return c.limits.constraints(open_data(c.data).spec, c.layernorm_final) if c.limits.active else []

    def train_supernet(self) -> None:
        train_supernet(
            self.config.supernet, self.paths.supernet.parent, progress=self.progress, device=self.config.device
        )

    def evaluator_config(self) -> dict[str, Any]:
        """The search evaluator's whole config: `RunConfig.evaluator` with the run's data, supernet, seed, device."""
        c = self.config
        return c.evaluator.build_config(data=c.data, supernet=str(self.paths.supernet), seed=c.seed, device=c.device)

    def _executor(self) -> Executor:
        """Evaluations on CUDA take one GPU each: Ray's tasks ask for one (Ray hands each its own), pool workers
        see one each, in turn; without, every one would use the first."""
        name, config, gpu = self.config.evaluator.name, self.evaluator_config(), on_cuda(self.config.device)
        if self.config.executor == "ray":  # paths made absolute: workers need not share this cwd
            from nasrec.search.ray_executor import RayExecutor

            for key in ("data", "supernet"):
                if key in config and Path(config[key]).exists():
                    config[key] = str(Path(config[key]).resolve())
            return RayExecutor(name, config, address=self.config.ray_address, num_gpus=float(gpu))
        if self.config.workers > 1 or self.config.executor == "process":
            return ProcessPoolExecutor(name, config, workers=self.config.workers, gpu_each=gpu)
        return InProcessExecutor(build_evaluator(name, config))

    def _executor_going_on(self) -> Executor:
        """The executor, once up: the extension's work begins (`_extension_goes_on`)."""
        executor = self._executor()
        self._extension_goes_on()
        return executor

    def search(
        self, log: Path, strategy: StrategyChoice | None = None, reuse: list[Evaluation] | None = None
    ) -> list[Evaluation]:
        """Run (or resume) `strategy` (default: the run's) with the run's evaluator, logging to `log`; genotypes
        that `reuse` holds are logged with its scores, not evaluated again."""
        c, choice = self.config, strategy or self.config.strategy
        objectives = c.objectives if strategy is None else ("logloss",)
        s = build_strategy(
            choice.name,
            c.space,  # a space file by its path as given: the proposals name it
            seed=c.seed,
            constraints=self.constraints(),
            objectives=objectives,
            **choice.options,
        )
        executor = LazyExecutor(self._executor_going_on)
        stats = log.parent / "stats.json"
        try:
            out = run_search(
                s,
                executor,
                log,
                parallel=c.workers,
                seed=c.seed,
                progress=self.progress,
                objectives=objectives,
                stats=stats,
                reuse=None if reuse is None else {e.digest: e for e in reuse},
                label="search" if strategy is None else "random baseline",
            )
        except NoNewGenotype as exc:  # the fix it names changes the run's settings: a new folder
            raise NoNewGenotype(f"{exc}: {new_folder(self.paths.supernet, 'those settings')}") from None
        finally:
            executor.close()
        self._extension_goes_on()  # where it evaluated nothing (what the extension proposed was logged)
        rejected = search_stats(s).get("rejected", 0)
        if strategy is None:
            self.rejected = rejected
        if rejected:
            self.console.print(f"  {rejected} proposals over the budgets ({c.limits}): never scored", highlight=False)
        return out

    def check_scored(self, evaluations: list[Evaluation], log: Path | None = None) -> None:
        """Raise a `UsageError` naming the log (default: the search's) and the first error when no evaluation
        has a score."""
        if any(e.score is not None for e in evaluations):
            return
        failed = [e for e in evaluations if e.error]
        first = f" (the first error: {failed[0].error})" if failed else ""
        raise UsageError(
            f"{log or self.paths.evaluations}: none of the {len(evaluations)} evaluations has a score{first}; "
            "the top-k stage needs one: fix the cause, then delete the log to evaluate them again"
        )

    def random_baseline(self) -> Genotype:
        """Random search with the search's number of proxy evaluations; its top-k trained from scratch; the best
        on validation. Its draws start as the search's (the same seed; evolution's initial population is random),
        so the two are compared on shared draws, and what the search already scored or trained is not again."""
        searched = read_jsonl(self.paths.evaluations, Evaluation)
        baseline = baseline_choice(self.config.strategy, len(searched))
        evaluations = self.search(self.paths.random_evaluations, baseline, searched)
        self.check_scored(evaluations, self.paths.random_evaluations)
        topk = self.train_top_k(evaluations, self.paths.random_topk, read_jsonl(self.paths.topk, TopKResult))
        return self.best_trained(topk, self.paths.random_topk, self.paths.supernet).genotype
