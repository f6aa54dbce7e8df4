"""The pipeline's stages that train from scratch: the top-k candidates by proxy, early-stopped on validation (the
best of them is NASRecNet), and the final models scored on test with paired intervals against NASRecNet. A mixin
of `Pipeline`, whose run config, folder paths and console it uses."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from pydantic import ValidationError
from rich.console import Console

from nasrec.errors import UsageError
from nasrec.evaluators import FullTrain, TrainConfig, TrainingDiverged
from nasrec.evaluators.base import Score
from nasrec.evaluators.data_ref import open_data
from nasrec.evaluators.full_train import SCRATCH_RECIPE, FullTrainConfig
from nasrec.evaluators.kept_weights import holds_weights_of
from nasrec.evaluators.stats import BOOTSTRAP_MAX_ROWS, paired_auc_diff, paired_log_loss_diff
from nasrec.genotype import Genotype
from nasrec.records import (
    Comparison,
    Comparisons,
    Evaluation,
    FinalDiverged,
    FinalResult,
    FrontMember,
    RunPaths,
    TopKResult,
)
from nasrec.search.objectives import objective_values, pareto_front, pareto_ranks
from nasrec.search.run_config import RunConfig
from nasrec.state import Stage, atomic_write_bytes, atomic_write_text, read_jsonl

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


def new_folder(supernet: Path, change: str) -> str:
    """The way on when a scratch stage cannot go on: a run folder keeps the settings of its first call, so a new
    folder with `change`; a trained `supernet` copied there is reused (the run's supernet settings are the same)."""
    keep = f"; copy {supernet.parent} into it to reuse the trained supernet" if supernet.is_file() else ""
    return f"run again in a new folder with {change} (a run folder keeps its first settings{keep})"


class ScratchStages:
    """The top-k and final stages of a `Pipeline` (which sets these attributes)."""

    config: RunConfig
    paths: RunPaths
    console: Console
    progress: bool

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
    def best_trained(topk: list[TopKResult], log: Path, supernet: Path) -> TopKResult:
        """The top-k candidate with the best validation score; a `UsageError` naming `log` when every one
        diverged (no candidate was trained: picking by proxy rank would hand the final stage an untested one),
        with the way on (`new_folder`: the run's `supernet` reused)."""
        trained = [r for r in topk if r.full is not None]
        if not trained:
            first = topk[0].error if topk else "no candidate"
            raise UsageError(
                f"{log}: all {len(topk)} top-k candidates diverged when trained from scratch (the first: {first}); "
                + new_folder(supernet, "a lower --scratch-lr or a larger --top-k")
            )
        return min(trained, key=lambda r: r.valid_value)

    def train_top_k(
        self, evaluations: list[Evaluation], log: Path, trained: list[TopKResult] | None = None
    ) -> list[TopKResult]:
        """The k best by proxy trained from scratch (early-stopped on validation, `topk_seeds` seeds); with several
        objectives the Pareto front first, all of it even when it has more than k members. A candidate that
        `trained` (another top-k stage of this run) holds, trained as this stage trains (`same_training`: recipe,
        seeds, device), is copied, not trained again."""
        earlier = {r.digest: r for r in trained or ()}
        scored = self.ranked(evaluations)
        c = self.config
        full = FullTrain(
            checkpoints=self.paths.checkpoints(log),  # a killed run resumes a training where it was saved
            keep_checkpoints=True,  # till the candidate's record is written
            progress=self.progress,
            data=c.data,
            seed=c.seed,
            seeds=c.topk_seeds,
            device=c.device,
            train=self.scratch_recipe(c.full_epochs),
        )

        def train(item: tuple[int, Evaluation]) -> TopKResult:
            rank, e = item
            assert e.score is not None
            done = earlier.get(e.digest)  # the random baseline's draws start as the search's: its top-k shares some
            if done is not None and done.full is not None and same_training(done.full, full):  # the device too
                self.console.print(f"  top-{rank} {e.digest}: trained by the search's top-k stage", highlight=False)
                return done.model_copy(update={"rank": rank, "proxy": e.score})
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
        done = Stage(log, TopKResult, key=lambda r: r.digest).run(
            top, key=lambda item: item[1].digest, make=train, kept=lambda item: full.forget(item[1].genotype)
        )
        return [r.model_copy(update={"rank": rank}) for r, (rank, _) in zip(done, top, strict=True)]  # extended

    def final_seed(self) -> int:
        """The final stage's base seed: apart from the top-k stage's (`final_fresh_seeds`)."""
        return self.config.seed + (FINAL_SEED_OFFSET if self.config.final_fresh_seeds else 0)

    def final_seeds(self) -> list[int]:
        return [self.final_seed() + i for i in range(self.config.final_seeds)]

    def final(self, candidates: list[tuple[str, str, Genotype]]) -> list[FinalResult]:
        """Every candidate trained on train, early-stopped on validation (per seed) and, with `final_protocol`
        "retrain", retrained on train + valid for the epochs early stopping chose; scored on test, its per-seed
        test logits kept in final/ for the paired intervals, and NASRecNet's model (the seed that validated best)
        in `final/nasrecnet.pt`; a genotype that an earlier candidate has (random search
        often finds NASRecNet's), trained as this stage trains, is not trained again: its scores and logits are
        copied. A model other than NASRecNet whose every try diverges on a seed is left out (`final_diverged`: the
        comparison goes on without it, and a rerun does not train it again); NASRecNet's stops the run."""
        c = self.config
        full = FullTrain(
            checkpoints=self.paths.checkpoints(self.paths.final),
            keep_checkpoints=True,  # till the candidate's record is written
            progress=self.progress,
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
            # random search found NASRecNet's genotype: the same trainings (on the same device: a resumed run may
            # have moved), copied, so that the two compare equal rather than by noise
            twin = next((r for r in done if r.digest == g.digest() and same_training(r.test, full)), None)
            if kind == "nasrec" and twin is not None and not holds_weights_of(self.paths.best_weights, g):
                twin = None  # NASRecNet's weights are kept: its twin's trainings kept none (an extended run)
            if twin is not None:
                logits, score = self._logits(twin, done), twin.test
                self.console.print(f"  {name}: {twin.name}'s genotype, its trainings copied", highlight=False)
            else:
                try:  # NASRecNet's model is kept for `nasrec export --weights`
                    prediction = full.predict(g, save_weights=self.paths.best_weights if kind == "nasrec" else None)
                except TrainingDiverged:
                    full.forget(g)  # nothing to resume: NASRecNet's stops the run, another model is left out
                    raise
                logits, score = prediction.logits, prediction.score
            buffer = io.BytesIO()
            np.save(buffer, logits, allow_pickle=False)
            atomic_write_bytes(self.paths.logits(name, g.digest()), buffer.getvalue())  # before the record: resumable
            spread = f" ± {score.log_loss_std:.4f}" if c.final_seeds > 1 else ""
            self.console.print(
                f"  {name}: test log loss {score.log_loss:.4f}{spread}  AUC {score.auc:.4f}", highlight=False
            )
            return FinalResult(name=name, kind=kind, digest=g.digest(), genotype=g, test=score)

        left = Stage(self.paths.final_diverged, FinalDiverged, key=lambda r: (r.name, r.digest))
        results: list[FinalResult] = []
        for candidate in candidates:
            name, kind, g = candidate
            if (name, g.digest()) in left:
                self.console.print(f"  {name}: every try diverged (an earlier call); left out", highlight=False)
                continue
            try:
                results += stage.run(
                    [candidate], key=lambda c: (c[0], c[2].digest()), make=train, kept=lambda c: full.forget(c[2])
                )
            except TrainingDiverged as exc:
                if kind == "nasrec":
                    change = "a lower --scratch-lr or a larger --scratch-min-warmup-steps"
                    raise TrainingDiverged(
                        f"NASRecNet's final training: {exc}; {new_folder(self.paths.supernet, change)}",
                        step=exc.step,
                        loss=exc.loss,
                        detail=exc.detail,
                    ) from exc
                left.add(FinalDiverged(name=name, kind=kind, digest=g.digest(), genotype=g, error=str(exc)))
                self.console.print(f"  {name}: every try diverged; left out of the comparison ({exc})", highlight=False)
        return results

    def final_diverged(self, candidates: list[tuple[str, str, Genotype]]) -> list[FinalDiverged]:
        """The final models of `candidates` that `final` left out: every try diverged."""
        left = {(r.name, r.digest): r for r in read_jsonl(self.paths.final_diverged, FinalDiverged)}
        return [left[name, g.digest()] for name, _, g in candidates if (name, g.digest()) in left]

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
