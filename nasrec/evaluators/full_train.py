"""`FullTrain`: a genotype's standalone model trained from scratch, early-stopped on validation, over one or
more seeds, scored on a split.

Protocol: on `train`, each seed trains for at most `train.epochs` epochs, is validated every epoch (or every
`train.eval_every` steps) and stops after `train.patience` validations without a new best; the best weights are
kept. A seed the divergence guard stops, or one that learned nothing at its full learning rate (after its
warm-up, its best validation log loss is not `min_gain` below the constant predictor's), is trained again
(`retries` times at most) with a calmer recipe: a third of the learning rate and twice the warm-up floor
(`calmer`); its `SeedRun.retries` and `retried_for` say so, and of tries that all learned nothing the one that
validated best is kept. On
`train+valid` (a final model: nothing is left to validate on) each seed first runs that protocol on
`train` to choose its number of epochs, then retrains on train + valid on the same learning-rate schedule and
stops after the same number of epochs (the chosen steps scaled by the larger split's steps per epoch), unless
`steps` fixes them. The score is the mean over seeds; every seed's run is kept in `Score.runs`.

With `inherit` (a trained supernet's checkpoint), every model starts from the supernet's weights for it (its
slices, head included) instead of a random initialisation: fine-tuning the whole subnet, a proxy that costs
what a short scratch training costs (docs/training.md, "Fine-tuning the whole subnet").
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from nasrec.compiler import StandaloneModel, Supernet, compile_standalone
from nasrec.data.inputs import input_contract as inputs_of
from nasrec.errors import UsageError
from nasrec.evaluators import scalars
from nasrec.evaluators.base import CurvePoint, Score, SeedRun, derive_seed, genotype_list, register_evaluator
from nasrec.evaluators.checkpoint import drop_optimizer_state
from nasrec.evaluators.data_ref import open_data
from nasrec.evaluators.distributed import resolve_device
from nasrec.evaluators.guard import TrainingDiverged
from nasrec.evaluators.kept_weights import KeptWeights
from nasrec.evaluators.metrics import auc, log_loss_from_logits
from nasrec.evaluators.recipe import RESUME_MAY_CHANGE
from nasrec.evaluators.schedule import logit
from nasrec.evaluators.scoring import EvalRows, eval_rows, oracle_metrics, score_from_runs
from nasrec.evaluators.seeding import seeded
from nasrec.evaluators.supernet_training import load_supernet
from nasrec.evaluators.training import TrainConfig, Trainer
from nasrec.genotype import Genotype
from nasrec.genotype.errors import GenotypeError
from nasrec.state.folders import clean_stale

SCRATCH_RECIPE = TrainConfig(epochs=10.0, patience=2)
"""Default recipe of scratch training: at most 10 epochs, early stopping after 2 validations without progress."""


def calmer(recipe: TrainConfig, retry: int) -> TrainConfig:
    """The recipe of a seed's `retry`-th retry (after a divergence, or a run that learned nothing): the learning
    rate divided by 3 and the warm-up floor doubled, per retry (docs/training.md, "Early stopping")."""
    if retry == 0:
        return recipe
    return recipe.model_copy(
        update={"lr": recipe.lr / 3**retry, "min_warmup_steps": max(1, recipe.min_warmup_steps) * 2**retry}
    )


class FullTrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str = Field(description="`sample:criteo` or a prepared data folder")
    train: TrainConfig = SCRATCH_RECIPE
    layernorm: bool = True
    cap: int | None = Field(
        default=None, ge=2, description="embedding rows per table (None: no cap but the data's own, if it has one)"
    )
    train_split: Literal["train", "train+valid"] = Field(
        default="train", description="`train`, or `train+valid` for a final model"
    )
    eval_split: Literal["valid", "test"] = Field(default="valid", description="`valid` or `test`")
    eval_batch_size: int = Field(default=4096, gt=0)
    seed: int = Field(default=0, ge=0)
    seeds: int = Field(default=1, ge=1, description="training runs averaged (seeds seed, seed+1, ...)")
    steps: list[Annotated[int, Field(ge=0)]] | None = Field(
        default=None, description="fixed steps per seed (no early stopping; 0 only with inherit: its weights as is)"
    )
    retries: int = Field(
        default=2, ge=0, description="calmer reruns of a seed the divergence guard stops or that learned nothing"
    )
    min_gain: float = Field(
        default=0.01,
        ge=0,
        lt=1,
        description="a seed whose best validation log loss is not this fraction below the constant predictor's "
        "learned nothing and is retried (0: never)",
    )
    device: str = Field(default="cpu", description="cpu, cuda or auto")
    inherit: str | None = Field(
        default=None,
        description="a trained supernet's checkpoint.pt: start every model from its weights (fine-tuning); "
        "the supernet's table cap and LayerNorm setting then apply",
    )

    @model_validator(mode="after")
    def _inherit_alone(self) -> FullTrainConfig:
        if self.inherit is not None and (self.cap is not None or not self.layernorm):
            raise ValueError("cap and layernorm are the supernet's when inherit is set: leave them at their defaults")
        if self.inherit is None and self.steps is not None and 0 in self.steps:
            raise ValueError(
                f"steps {self.steps}: 0 steps trains nothing and scores the untrained model (allowed only with inherit)"
            )
        return self


class Prediction(BaseModel):
    """A Score and the per-seed logits behind it, on the rows of `eval_split` (for paired statistics)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    score: Score
    logits: np.ndarray = Field(description="[seeds, rows]")


@register_evaluator("full")
class FullTrain:
    """Train each genotype's standalone model from scratch (seeded by the genotype's digest) and score it."""

    name = "full"
    Config = FullTrainConfig

    def __init__(
        self,
        *,
        checkpoints: str | Path | None = None,
        keep_checkpoints: bool = False,
        progress: bool = False,
        **config: Any,
    ) -> None:
        """`checkpoints`: a folder (in a run folder) where each training keeps its checkpoint while it runs, so a
        killed run's training resumes where it was saved (the same result); a genotype's are deleted once its
        prediction is made or it failed — or, with `keep_checkpoints`, when the caller calls `forget` (after
        recording the outcome: a kill between the two then reads the trainings back instead of training again).
        None: nothing is saved (a killed training starts again). `progress`: a bar for each training, on a
        terminal."""
        self.cfg = FullTrainConfig(**config)
        self.progress = progress
        self.checkpoints = None if checkpoints is None else Path(checkpoints)
        self.keep_checkpoints = keep_checkpoints
        self.data = open_data(self.cfg.data)
        self._rows: dict[str, EvalRows] = {}
        if self.cfg.steps is not None and len(self.cfg.steps) != self.cfg.seeds:
            raise ValueError(f"steps gives {len(self.cfg.steps)} step counts for {self.cfg.seeds} seeds")

    @property
    def config(self) -> dict[str, Any]:
        return self.cfg.model_dump()

    def evaluate(self, genotypes: Sequence[Genotype]) -> list[Score]:
        return [self.predict(g).score for g in genotype_list(genotypes)]

    def predict(self, genotype: Genotype, save_weights: str | Path | None = None) -> Prediction:
        """Train every seed, score each on `eval_split`; the Score and the logits [seeds, rows]. `save_weights`: a
        file that receives the trained model's weights, of the seed that validated best (`KeptWeights`)."""
        cfg, start = self.cfg, time.perf_counter()
        rows = self.rows(cfg.eval_split)
        runs, logits = [], []
        weights = None if save_weights is None else KeptWeights(save_weights, inputs_of(self.data, self.cfg.data))
        if weights is not None:
            weights.discard()  # what a killed run left
        try:
            for i in range(cfg.seeds):
                seed = derive_seed(cfg.seed + i, genotype.digest())
                run, z = self._seed(genotype, seed, rows, None if cfg.steps is None else cfg.steps[i], weights)
                runs.append(run)
                logits.append(z)
        except BaseException as exc:
            if isinstance(exc, TrainingDiverged) and not self.keep_checkpoints:
                self.forget(genotype)  # a failure, recorded as such: it is not trained again
            if weights is not None:
                weights.discard()
            raise
        if not self.keep_checkpoints:
            self.forget(genotype)
        if weights is not None:
            weights.finish(runs)
        score = score_from_runs(
            genotype,
            self.data.spec,
            runs,
            rows,
            time.perf_counter() - start,
            self.name,
            self.config,
            cfg.layernorm if self.supernet is None else self.supernet.layernorm,  # as the model was built
            self.supernet is not None and self.supernet.norm_raw_fm,
        )
        return Prediction(score=score, logits=np.stack(logits))

    def _seed(
        self, genotype: Genotype, seed: int, rows: EvalRows, steps: int | None, weights: KeptWeights | None = None
    ) -> tuple[SeedRun, np.ndarray]:
        """One seed, retried with a calmer recipe while the divergence guard stops it or it learns nothing at its
        full learning rate (`retries` times); when no try learned, the one that validated best is kept (a try
        that learned nothing inside its warm-up ends the retries)."""
        reasons: list[str] = []
        idle: list[_LearnedNothing] = []
        for retry in range(self.cfg.retries + 1):
            try:
                run, z = self._seed_once(genotype, seed, rows, steps, retry, weights)
            except TrainingDiverged as exc:
                if retry == self.cfg.retries and not idle:
                    raise self._diverged(genotype, seed, exc) from exc  # every try diverged
                reasons.append("diverged")
                continue
            except _LearnedNothing as nothing:
                idle.append(nothing.with_traceback(None))  # its frames hold that try's model and optimizer
                if not nothing.hot:
                    break  # it ended inside its warm-up: a calmer recipe would learn even less
                reasons.append("learned nothing")
                continue
            return run.model_copy(update={"retried_for": reasons}), z
        best = min(idle, key=lambda t: t.best_valid)  # the first of equals: the least calmed
        return best.run.model_copy(update={"retried_for": reasons[: best.run.retries]}), best.logits

    def _diverged(self, genotype: Genotype, seed: int, last: TrainingDiverged) -> TrainingDiverged:
        """The error of a seed whose every try diverged: the genotype, the seed, the tries and the user's own recipe
        (not the last try's calmed one), with the last try's step and loss."""
        tries, own, calmest = self.cfg.retries + 1, self.cfg.train, calmer(self.cfg.train, self.cfg.retries)
        recipe = f"lr {own.lr:g}, min_warmup_steps {own.min_warmup_steps}"
        how = (
            f"at {recipe} (retries 0): {last.detail}"
            if tries == 1
            else f"in all {tries} tries ({recipe}, then calmer reruns down to lr {calmest.lr:g}, "
            f"min_warmup_steps {calmest.min_warmup_steps}); the last: {last.detail}"
        )
        return TrainingDiverged(
            f"genotype {genotype.digest()}, seed {seed}: training diverged {how}; {own.hint()}",
            step=last.step,
            loss=last.loss,
            detail=last.detail,
        )

    def _seed_once(
        self, genotype: Genotype, seed: int, rows: EvalRows, steps: int | None, retry: int, weights: KeptWeights | None
    ) -> tuple[SeedRun, np.ndarray]:
        cfg, recipe = self.cfg, calmer(self.cfg.train, retry)
        chosen = None
        if cfg.train_split == "train+valid" and steps is None and recipe.patience is not None:
            picked = self._train(genotype, seed, "train", None, recipe, retry)[1]  # early stopping picks the epochs
            chosen = _Validated(picked.curve, picked.reached_peak_lr)  # not the trainer: it holds that model
            per_epoch = {s: self.data.split(s).full_batches(recipe.batch_size) for s in ("train", cfg.train_split)}
            steps = max(1, round(picked.best_step * per_epoch[cfg.train_split] / per_epoch["train"]))
            del picked
        model, trainer = self._train(genotype, seed, cfg.train_split, steps, recipe, retry)
        validated = chosen or _Validated(trainer.curve, trainer.reached_peak_lr)
        z = _predict(model, rows, self.device)
        run = SeedRun(
            seed=seed,
            log_loss=log_loss_from_logits(rows.labels, z),
            auc=auc(rows.labels, z),
            steps=trainer.step,
            best_step=trainer.best_step,
            curve=trainer.curve,
            diverged_steps=trainer.divergence.count,
            first_diverged_step=trainer.divergence.first_step,
            worst_diverged_loss=trainer.divergence.worst_loss,
            retries=retry,
            **oracle_metrics(rows, z),
        )
        best_valid = min((p.log_loss for p in validated.curve), default=None)
        nothing = best_valid is not None and self.learned_nothing(best_valid)
        if weights is not None:
            weights.offer(model, seed, best_valid, kept=not nothing)
        if nothing:
            assert best_valid is not None
            raise _LearnedNothing(run, z, best_valid, validated.reached_peak_lr)
        return run, z

    @cached_property
    def constant_valid_log_loss(self) -> float:
        """The validation log loss of the constant predictor of the training rows' click rate."""
        labels = self.rows("valid").labels
        return log_loss_from_logits(labels, np.full(len(labels), logit(self.data.split("train").positive_rate)))

    def rows(self, split: str) -> EvalRows:
        """The rows of `split` that models are validated (`valid`) or scored on, read once per evaluator: one copy
        however many genotypes, seeds and tries use them (the validation rows of full Criteo take 0.75 GB)."""
        if split not in self._rows:
            self._rows[split] = eval_rows(self.data, split, self.cfg.eval_batch_size)
        return self._rows[split]

    def learned_nothing(self, best_valid: float) -> bool:
        """Whether a run whose best validation log loss is `best_valid` fell short of `min_gain` below the
        constant predictor's."""
        return self.cfg.min_gain > 0 and best_valid > (1 - self.cfg.min_gain) * self.constant_valid_log_loss

    @property
    def device(self) -> torch.device:
        return resolve_device(self.cfg.device)

    @cached_property
    def supernet(self) -> Supernet | None:
        """The supernet whose weights every model starts from (`inherit`), loaded once."""
        return None if self.cfg.inherit is None else load_supernet(self.cfg.inherit, self.device)

    def _model(self, genotype: Genotype) -> StandaloneModel:
        if self.supernet is None:
            spec = self.data.spec.capped(self.cfg.cap)
            return compile_standalone(genotype, spec, layernorm=self.cfg.layernorm).to(self.device)
        if self.supernet.features.with_cap(None) != self.data.spec.with_cap(None):
            raise UsageError(f"supernet {self.cfg.inherit}: trained on other features than {self.cfg.data}'s")
        try:
            self.supernet.space.check(genotype)
        except GenotypeError as exc:
            name, digest = genotype.meta.get("name"), genotype.digest()
            label = f"{name} ({digest})" if isinstance(name, str) and name else f"genotype {digest}"
            raise UsageError(f"{label}: not in the space of supernet {self.cfg.inherit}: {exc}") from None
        return compile_standalone(genotype, self.supernet.features, inherit=self.supernet).to(self.device)

    def _train(self, genotype: Genotype, seed: int, split: str, steps: int | None, recipe: TrainConfig, retry: int = 0):
        """Train one seed on `split` with `recipe` (its `retry`-th try): early-stopped on validation when `split` is
        `train` and `steps` is None; else the recipe's schedule stopped after `steps`. With `checkpoints`, resumed
        from and saved to the checkpoint of this training (`checkpoint`); a finished one keeps no optimizer state."""
        checkpoint = self.checkpoint(genotype, seed, split, retry)
        with seeded(seed):
            model = self._model(genotype)
        train = self.data.split(split)
        per_epoch = train.full_batches(recipe.batch_size)
        recipe = recipe.model_copy(update={"seed": seed})
        trainer = Trainer(
            model,
            recipe,
            label=f"train {genotype.digest()}",
            progress=self.progress,
            device=self.device,
            tag=scalars.tag("full", genotype.digest(), split, f"seed{seed}"),
            checkpoint=checkpoint,
        )
        validate = None
        if steps is None and split == "train" and recipe.patience is not None:
            valid = self.rows("valid")
            validate = lambda: log_loss_from_logits(valid.labels, _predict(model, valid, self.device))  # noqa: E731 (a one-line closure)
        trainer.fit(
            lambda epoch: train.batches(recipe.batch_size, shuffle=True, seed=seed, epoch=epoch, drop_last=True),
            per_epoch,
            stop_after=steps,
            validate=validate,
            base_rate=None if self.supernet is not None else train.positive_rate,  # an inherited head is kept
        )
        if checkpoint is not None and checkpoint.exists():
            drop_optimizer_state(checkpoint)  # kept till `forget`: a resume reads the result
        model.eval()
        return model, trainer

    def checkpoint(self, genotype: Genotype, seed: int, split: str, retry: int) -> Path | None:
        """The checkpoint of one training in `checkpoints`: by genotype, the settings that shape the training
        (`_settings`), seed, try and split."""
        if self.checkpoints is None:
            return None
        return self.checkpoints / f"{genotype.digest()}-{self._settings}-seed{seed}-try{retry}-{split}.pt"

    @cached_property
    def _settings(self) -> str:
        """A digest of the config but where the work runs and what a resume may change (the guard's thresholds,
        how often it saves): two evaluators that train alike share checkpoints, others never do."""
        config = self.cfg.model_dump(mode="json", exclude={"device": True, "train": set(RESUME_MAY_CHANGE)})
        return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:8]

    def forget(self, genotype: Genotype) -> None:
        """Delete the checkpoints of `genotype`'s trainings (and temporaries a killed save left), and the folder
        when nothing else is left in it."""
        if self.checkpoints is None:
            return
        for path in self.checkpoints.glob(f"{genotype.digest()}-{self._settings}-*.pt"):
            clean_stale(path)
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # not empty (another genotype's), or never made
            self.checkpoints.rmdir()


class _Validated(NamedTuple):
    """What a try's validations said: its curve, and whether it reached its full learning rate."""

    curve: list[CurvePoint]
    reached_peak_lr: bool


class _LearnedNothing(Exception):
    """A finished try whose best validation log loss did not beat the constant predictor by `min_gain`; `hot`:
    whether it reached its full learning rate (only then is a calmer retry worth it)."""

    def __init__(self, run: SeedRun, logits: np.ndarray, best_valid: float, hot: bool) -> None:
        super().__init__(f"best validation log loss {best_valid:.4f}")
        self.run, self.logits, self.best_valid, self.hot = run, logits, best_valid, hot


@torch.no_grad()
def _predict(model: torch.nn.Module, rows: EvalRows, device: torch.device) -> np.ndarray:
    was_training = model.training
    model.eval()
    z = (
        torch.cat([model(b.dense.to(device), b.sparse.to(device)).reshape(-1) for b in rows.iter_batches()])
        .cpu()
        .numpy()
    )
    model.train(was_training)
    return z.astype(np.float64)
