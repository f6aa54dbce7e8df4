"""The end-to-end NASRec pipeline on one run folder; each stage is skipped when its output exists.

data -> supernet training -> evolution scored by the fine-tuned proxy -> the top-k trained from scratch ->
the best on validation (NASRecNet) trained again (`final_protocol`: "keep", the default, on train early-stopped
on validation; "retrain", on train + validation for the steps early stopping chose) and scored on test beside
the zoo models and a random-search baseline of the same budget -> best genotype and summary. One process at a
time runs on a folder (`RunLock`); every stage appends its records as they finish (`Stage`), so a killed run
resumes.
The diagram and the HTML report are drawn from the folder afterwards (`nasrec.viz`, by the CLI).
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from nasrec.errors import NasrecError, UsageError
from nasrec.evaluators import FullTrain, TrainConfig, TrainingDiverged, train_supernet
from nasrec.evaluators.base import Score, build_evaluator, evaluator_config
from nasrec.evaluators.data_ref import open_data
from nasrec.evaluators.distributed import resolve_device
from nasrec.evaluators.full_train import SCRATCH_RECIPE, FullTrainConfig
from nasrec.evaluators.stats import BOOTSTRAP_MAX_ROWS, paired_auc_diff, paired_log_loss_diff
from nasrec.evaluators.supernet_training import GUARD as SUPERNET_GUARD
from nasrec.genotype import SAMPLERS, Genotype, get_space, save
from nasrec.genotype.zoo import load_zoo
from nasrec.records import (
    Comparison,
    Comparisons,
    Evaluation,
    FinalResult,
    FrontMember,
    RunPaths,
    StageTime,
    Summary,
    TopKResult,
)
from nasrec.search.base import Constraint, build_strategy
from nasrec.search.executors import Executor, InProcessExecutor, ProcessPoolExecutor
from nasrec.search.objectives import objective_values, pareto_front, pareto_ranks
from nasrec.search.plan import plan
from nasrec.search.run_config import EvaluatorChoice, RunConfig, StrategyChoice
from nasrec.search.run_folder import as_folder_ran, pin_run_config
from nasrec.search.runner import run_search, search_stats
from nasrec.state import (
    RunLock,
    Stage,
    append_jsonl,
    atomic_write_bytes,
    atomic_write_text,
    read_jsonl,
    repair_jsonl,
)
from nasrec.state.configs import pin_config
from nasrec.state.folders import is_temporary
from nasrec.state.lock import LOCK_NAME

__all__ = ["EvaluatorChoice", "Pipeline", "RunConfig", "StrategyChoice"]


FINAL_SEED_OFFSET = 10_000
"""The final stage's seeds start here above the run's seed (the top-k stage's start at it): a winner selected by
its top-k run's validation score is trained again, not scored on test by that very run."""


def same_training(score: Score, full: FullTrain) -> bool:
    """Whether `score` came from the training `full` would run: the search scored its candidates by scratch
    training (`full`) with the same settings, so the top-k stage keeps the score instead of training again.
    `train.seed` is left out (`FullTrain` seeds each run from its `seed` and the genotype's digest), and so is how
    often a training checkpoints (a resumed training ends as an uninterrupted one)."""
    if score.evaluator != full.name:
        return False
    try:
        cfg = FullTrainConfig.model_validate(score.config)
    except ValidationError:
        return False
    ignore = {"train": {"seed", "checkpoint_every", "checkpoint_seconds"}}
    return cfg.model_dump(exclude=ignore) == full.cfg.model_dump(exclude=ignore)


def baseline_choice(strategy: StrategyChoice, budget: int) -> StrategyChoice:
    """The random baseline of a search by `strategy`: `budget` draws with the search's path sampler where it
    names one (evolution's `sampler`; Optuna's `sampler` is its own algorithm), so the two sample the space
    alike and the baseline's first draws are evolution's initial population."""
    options: dict[str, Any] = {"budget": budget}
    sampler = strategy.options.get("sampler")
    if isinstance(sampler, str) and sampler in SAMPLERS.names():
        options["sampler"] = sampler
    return StrategyChoice(name="random", options=options)


class Pipeline:
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
            self._check_folder,
            self._check_supernet,
            lambda: get_space(c.space),
            lambda: open_data(c.data),
            lambda: resolve_device(c.device),
        ]
        if c.executor == "ray":
            from nasrec.search.ray_executor import _import_ray

            checks.append(_import_ray)
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

    def _check_supernet(self) -> None:
        """A supernet already in RUN/supernet (trained there by `nasrec train-supernet`, or by an earlier call) must
        have the run's supernet settings: compared here, before the run writes anything, not when its stage starts."""
        path = self.paths.supernet.parent / "config.json"
        if self.uses_supernet() and path.is_file():  # with the same file the stage pins (nothing is written)
            pin_config(path, self.config.supernet, what="supernet", paths=("data", "space"), ignore=SUPERNET_GUARD)

    def _run(self) -> Summary:
        self._write_config()
        self.console.print(Text.assemble(("plan", "bold"), " (at most: early stopping ends trainings sooner)"))
        for stage, what in self.plan():
            self.console.print(f"  {stage}: {what}", highlight=False)
        self.stage_seconds = self._load_stage_times()
        if self.uses_supernet():
            self._stage("supernet", self.train_supernet)
        evaluations = self._stage("search", lambda: self.search(self.paths.evaluations))
        self.check_scored(evaluations)
        topk = self._stage("top-k", lambda: self.train_top_k(evaluations, self.paths.topk))
        best = self.best_trained(topk, self.paths.topk)
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
        )
        atomic_write_text(self.paths.summary, summary.model_dump_json(indent=2))
        return summary

    def _stage(self, name: str, fn):
        """Run one stage and log its time; `stage_seconds` sums every call's, so a resumed run keeps the
        time its earlier calls spent (a call killed inside a stage logs nothing for it)."""
        self.console.print(Text.assemble(("stage", "bold"), f" {name}"), highlight=False)
        start = time.perf_counter()
        out = fn()
        spent = StageTime(stage=name, seconds=round(time.perf_counter() - start, 2))
        append_jsonl(self.paths.stage_times, spent)
        self.stage_seconds[name] = round(self.stage_seconds.get(name, 0.0) + spent.seconds, 2)
        return out

    def _load_stage_times(self) -> dict[str, float]:
        """Seconds per stage of the earlier calls, from `stage_times.jsonl` (a torn last line of a killed call
        is cut first). A run folder from before that log: its summary's stage times become the log's first
        lines, so resuming it adds to them instead of replacing them."""
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
        for record in read_jsonl(log, StageTime):
            totals[record.stage] = round(totals.get(record.stage, 0.0) + record.seconds, 2)
        return totals

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
            atomic_write_bytes(self.paths.config, self._extended)
            self._extended = None

    def plan(self) -> list[tuple[str, str]]:
        """Each stage's work at most, counted from the config and the data (`nasrec.search.plan`)."""
        c = self.config
        strategy = build_strategy(
            c.strategy.name, c.space, seed=c.seed, constraints=[], objectives=c.objectives, **c.strategy.options
        )
        rows = len(open_data(c.data).split("train"))
        return plan(c, rows, getattr(strategy, "budget", None), self.uses_supernet())

    def uses_supernet(self) -> bool:
        """Whether the search's evaluator reads a supernet (the `params` and `flops` baselines do not)."""
        return "supernet" in evaluator_config(self.config.evaluator.name).model_fields

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
        name, config = self.config.evaluator.name, self.evaluator_config()
        if self.config.executor == "ray":  # paths made absolute: workers need not share this cwd
            from nasrec.search.ray_executor import RayExecutor

            for key in ("data", "supernet"):
                if key in config and Path(config[key]).exists():
                    config[key] = str(Path(config[key]).resolve())
            return RayExecutor(name, config, address=self.config.ray_address)
        if self.config.workers > 1 or self.config.executor == "process":
            return ProcessPoolExecutor(name, config, workers=self.config.workers)
        return InProcessExecutor(build_evaluator(name, config))

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
        executor = self._executor()
        self._extension_goes_on()
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
            )
        finally:
            executor.close()
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

    def ranked(self, evaluations: list[Evaluation]) -> list[Evaluation]:
        """Scored evaluations best first: by proxy score, or with several objectives by Pareto rank (the front
        first), then proxy score."""
        scored = [(e, e.score) for e in evaluations if e.score is not None]
        objectives = self.config.objectives
        if len(objectives) == 1:
            return [e for e, _ in sorted(scored, key=lambda pair: pair[1].value)]
        ranks = pareto_ranks([objective_values(s, objectives) for _, s in scored])
        order = sorted(range(len(scored)), key=lambda i: (ranks[i], scored[i][1].value))
        return [scored[i][0] for i in order]

    def front(self, evaluations: list[Evaluation], topk: list[TopKResult]) -> list[FrontMember]:
        """With several objectives: the Pareto front of the scored candidates, by proxy log loss."""
        objectives = self.config.objectives
        if len(objectives) == 1:
            return []
        scored = [(e, e.score) for e in evaluations if e.score is not None]
        points = [objective_values(s, objectives) for _, s in scored]
        full = {r.digest: r.full.log_loss for r in topk if r.full is not None}
        members = [
            FrontMember(
                digest=scored[i][0].digest,
                values=dict(zip(objectives, points[i], strict=True)),
                full_log_loss=full.get(scored[i][0].digest),
            )
            for i in pareto_front(points)
        ]
        return sorted(members, key=lambda m: m.values["logloss"])

    def scratch_recipe(self, epochs: float) -> TrainConfig:
        return SCRATCH_RECIPE.model_copy(
            update={
                "epochs": epochs,
                "patience": self.config.patience,
                "seed": self.config.seed,
                "lr": self.config.scratch_lr,
                "min_warmup_steps": self.config.scratch_min_warmup_steps,
            }
        )

    @staticmethod
    def best_trained(topk: list[TopKResult], log: Path) -> TopKResult:
        """The top-k candidate with the best validation score; a `UsageError` naming `log` when every one
        diverged (no candidate was trained: picking by proxy rank would hand the final stage an untested one)."""
        trained = [r for r in topk if r.full is not None]
        if not trained:
            first = topk[0].error if topk else "no candidate"
            raise UsageError(
                f"{log}: all {len(topk)} top-k candidates diverged when trained from scratch (the first: {first}); "
                "run again in a new folder with a lower --scratch-lr or a larger --top-k"
            )
        return min(trained, key=lambda r: r.valid_value)

    def train_top_k(
        self, evaluations: list[Evaluation], log: Path, trained: list[TopKResult] | None = None
    ) -> list[TopKResult]:
        """The k best by proxy trained from scratch (early-stopped on validation, `topk_seeds` seeds); with several
        objectives the Pareto front first, all of it even when it has more than k members. A candidate that
        `trained` (another top-k stage of this run: the same recipe and seeds) holds is copied, not trained again."""
        earlier = {r.digest: r for r in trained or ()}
        scored = self.ranked(evaluations)
        c = self.config
        full = FullTrain(
            checkpoints=self.paths.checkpoints(log),  # a killed run resumes a training where it was saved
            data=c.data,
            seed=c.seed,
            seeds=c.topk_seeds,
            device=c.device,
            train=self.scratch_recipe(c.full_epochs),
        )

        def train(item: tuple[int, Evaluation]) -> TopKResult:
            rank, e = item
            assert e.score is not None
            if e.digest in earlier:  # the random baseline's draws start as the search's: its top-k may share some
                self.console.print(f"  top-{rank} {e.digest}: trained by the search's top-k stage", highlight=False)
                return earlier[e.digest].model_copy(update={"rank": rank, "proxy": e.score})
            try:
                # the search's own score when it is this very training (`--evaluator full`, the same recipe)
                (score,) = [e.score] if same_training(e.score, full) else full.evaluate([e.genotype])
            except TrainingDiverged as exc:  # logged as this candidate's failure; the others go on
                self.console.print(f"  top-{rank} {e.digest}: {exc}", highlight=False)
                return TopKResult(
                    rank=rank, digest=e.digest, genotype=e.genotype, proxy=e.score, full=None, error=str(exc)
                )
            self.console.print(
                f"  top-{rank} {e.digest}: proxy {e.score.value:.4f}  from scratch {score.log_loss:.4f}",
                highlight=False,
            )
            return TopKResult(rank=rank, digest=e.digest, genotype=e.genotype, proxy=e.score, full=score)

        k = max(self.config.top_k, len(self.front(evaluations, [])))  # several objectives: the whole front
        top = list(enumerate(scored[:k], start=1))
        done = Stage(log, TopKResult, key=lambda r: r.digest).run(top, key=lambda item: item[1].digest, make=train)
        return [r.model_copy(update={"rank": rank}) for r, (rank, _) in zip(done, top, strict=True)]  # extended

    def random_baseline(self) -> Genotype:
        """Random search with the search's number of proxy evaluations; its top-k trained from scratch; the best
        on validation. Its draws start as the search's (the same seed; evolution's initial population is random),
        so the two are compared on shared draws, and what the search already scored or trained is not again."""
        searched = read_jsonl(self.paths.evaluations, Evaluation)
        baseline = baseline_choice(self.config.strategy, len(searched))
        evaluations = self.search(self.paths.random_evaluations, baseline, searched)
        self.check_scored(evaluations, self.paths.random_evaluations)
        topk = self.train_top_k(evaluations, self.paths.random_topk, read_jsonl(self.paths.topk, TopKResult))
        return self.best_trained(topk, self.paths.random_topk).genotype

    def final_seed(self) -> int:
        """The final stage's base seed: apart from the top-k stage's (`final_fresh_seeds`)."""
        return self.config.seed + (FINAL_SEED_OFFSET if self.config.final_fresh_seeds else 0)

    def final_seeds(self) -> list[int]:
        return [self.final_seed() + i for i in range(self.config.final_seeds)]

    def final(self, candidates: list[tuple[str, str, Genotype]]) -> list[FinalResult]:
        """Every candidate trained on train, early-stopped on validation (per seed) and, with `final_protocol`
        "retrain", retrained on train + valid for the epochs early stopping chose; scored on test, its per-seed
        test logits kept in final/ for the paired intervals; a genotype that an earlier candidate has (random search
        often finds NASRecNet's) is not trained again: that candidate's scores and logits are copied."""
        c = self.config
        full = FullTrain(
            checkpoints=self.paths.checkpoints(self.paths.final),
            data=c.data,
            seed=self.final_seed(),
            seeds=c.final_seeds,
            train_split="train+valid" if c.final_protocol == "retrain" else "train",
            eval_split="test",
            device=c.device,
            layernorm=c.layernorm_final,
            train=self.scratch_recipe(c.final_epochs),
        )
        stage = Stage(self.paths.final, FinalResult, key=lambda r: (r.name, r.digest))

        def train(candidate: tuple[str, str, Genotype]) -> FinalResult:
            name, kind, g = candidate
            done = list(stage.records.values())
            twin = next((r for r in done if r.digest == g.digest()), None)  # random search found NASRecNet's
            if twin is not None:  # the same trainings: copied, so the two compare equal rather than by noise
                logits, score = self._logits(twin, done), twin.test
                self.console.print(f"  {name}: {twin.name}'s genotype, its trainings copied", highlight=False)
            else:
                prediction = full.predict(g)
                logits, score = prediction.logits, prediction.score
            buffer = io.BytesIO()
            np.save(buffer, logits, allow_pickle=False)
            atomic_write_bytes(self.paths.logits(name, g.digest()), buffer.getvalue())  # before the record: resumable
            spread = f" ± {score.log_loss_std:.4f}" if c.final_seeds > 1 else ""
            self.console.print(
                f"  {name}: test log loss {score.log_loss:.4f}{spread}  AUC {score.auc:.4f}", highlight=False
            )
            return FinalResult(name=name, kind=kind, digest=g.digest(), genotype=g, test=score)

        return stage.run(candidates, key=lambda c: (c[0], c[2].digest()), make=train)

    def _logits(self, result: FinalResult, results: list[FinalResult]) -> np.ndarray:
        try:
            path = self.paths.logits_of(result, results)
        except ValueError as exc:  # an older folder's file shared by two models
            raise UsageError(str(exc)) from None
        return np.load(path, allow_pickle=False)

    def comparisons(self, results: list[FinalResult]) -> dict[str, Comparison]:
        """`compare(results)`, kept in final/comparisons.json: a rerun of a finished run reuses it while the final
        models are the same (by name, digest and test log loss)."""
        of = [(r.name, r.digest, r.test.log_loss) for r in results]
        path = self.paths.comparisons
        if path.is_file():
            try:
                kept = Comparisons.model_validate_json(path.read_bytes())
            except ValueError:  # torn or from another version: computed again
                kept = None
            if kept is not None and kept.of == of:
                return kept.comparisons
        out = self.compare(results)
        atomic_write_text(path, Comparisons(of=of, comparisons=out).model_dump_json(indent=2))
        return out

    def compare(self, results: list[FinalResult]) -> dict[str, Comparison]:
        """NASRecNet minus every other model on the same test rows: log loss and AUC with paired 95 % intervals,
        pooled over seeds and rows."""
        labels = open_data(self.config.data).split("test").label.astype(np.float64)
        best = next(r for r in results if r.kind == "nasrec")
        zb = self._logits(best, results)
        out = {}
        for r in results:
            if r is best:
                continue
            z = self._logits(r, results)
            how = "bootstrap" if len(labels) <= BOOTSTRAP_MAX_ROWS else "normal / DeLong"
            self.console.print(f"  NASRecNet - {r.name}: paired {how} over {len(labels):,} rows", highlight=False)
            out[r.name] = Comparison(
                log_loss=paired_log_loss_diff(labels, zb, z), auc=paired_auc_diff(labels, zb, z, n_resamples=500)
            )
        return out
