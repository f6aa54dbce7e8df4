"""One training loop for every evaluator: Adagrad (sparse embedding gradients), cosine schedule with a linear
warm-up that has a floor in steps, gradient-norm clipping, BCE on logits, a divergence guard, early stopping
with the best weights restored, evaluation metrics, atomic resumable checkpoints.
"""

from __future__ import annotations

import math
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel
from torch import nn

from nasrec.errors import UsageError
from nasrec.evaluators import scalars
from nasrec.evaluators.base import CurvePoint
from nasrec.evaluators.checkpoint import load_checkpoint, save_checkpoint
from nasrec.evaluators.distributed import DataParallel
from nasrec.evaluators.guard import DivergenceGuard
from nasrec.evaluators.metrics import auc, log_loss_from_logits, normalized_entropy
from nasrec.evaluators.optimizers import dense_adagrad, sparse_adagrad, split_parameters
from nasrec.evaluators.progress import progress_bar
from nasrec.evaluators.recipe import TrainConfig, compared_recipe
from nasrec.evaluators.schedule import cosine_with_warmup, init_head, warmup_steps

Forward = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]
"""(dense, sparse, step) -> logits [B]; the step lets supernet training draw a path per step."""


COMPILE_MIN_STEPS: int | None = 5000
"""`Trainer(compile=None)` trains a standalone model without attention through `torch.compile` when the run has
at least this many steps left (and a C++ compiler is at hand); None: never. Measured on CPU (docs/training.md,
"Training throughput"; docs/results/train-step-compile.json): compiling the attention-free reference models
takes 47-65 s and saves 10-30 ms of their 140-224 ms steps (1.07-1.16x), so it pays after 2,200-4,800 steps;
models with attention run slower compiled (0.64-0.98x: the compiled graph uses SDPA, not the fused kernel).
Compiled and eager losses agree within 1e-5 over 20 steps (tests/evaluators/test_training_speed.py, slow)."""

FIRST_LOSSES = 5
"""Step losses a run keeps from its start and its end, over every call that trained it (`Trainer.first_losses`,
`Trainer.last_losses`)."""
SYNC_EVERY_CUDA = 32
"""`Trainer(sync_every=None)` on CUDA reads the step losses back once per this many steps (one host-device sync
for all of them) instead of every step; elsewhere every step (a read costs nothing there). The guard sees every
loss, in order, a few steps late; checkpoints are written only after the losses before them are checked."""


class Metrics(BaseModel):
    log_loss: float
    auc: float
    ne: float
    examples: int


def total_steps(epochs: float, steps_per_epoch: int) -> int:
    """The steps a recipe of `epochs` (fractional allowed) trains: at least one."""
    return max(1, round(epochs * steps_per_epoch))


Validate = Callable[[], float]
"""() -> validation log loss of the model as it is now (lower is better)."""


class Trainer:
    """Trains `model` through `forward` on batches from `epoch_batches(epoch)`.

    `steps_per_epoch` batches make an epoch; `config.epochs` may be fractional (with early stopping it is the
    maximum). With `checkpoint`, state is saved atomically at multiples of `checkpoint_every` steps at least
    `checkpoint_seconds` apart, at an early stop and at the end, and a run restarted on the same path continues from
    the saved step (same batches, same result as an uninterrupted run). Every step's loss goes through a
    `DivergenceGuard` (`divergence` reports it). Batches are moved to `device` (the model must already be there).
    With `parallel` (torchrun), each rank trains on its share of every global batch, gradients are averaged over the
    ranks, and only rank 0 writes the checkpoint and shows progress. With a TensorBoard writer installed
    (`scalars.tensorboard`), the main process logs `<tag>/loss` and `<tag>/lr` every step and `<tag>/valid_log_loss`
    every validation (`tag` defaults to the label). `sync_every`: steps between reads of the losses (see
    `SYNC_EVERY_CUDA`); with 1, a step's loss is checked before its update, so a non-finite loss never reaches the
    weights in memory.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig,
        forward: Forward | None = None,
        checkpoint: str | Path | None = None,
        progress: bool = False,
        label: str = "train",
        device: torch.device | str = "cpu",
        parallel: DataParallel | None = None,
        compile: bool | None = None,
        tag: str | None = None,
        sync_every: int | None = None,
    ) -> None:
        self.tag = tag or scalars.tag(*label.split())
        self.model, self.config, self.checkpoint = model, config, Path(checkpoint) if checkpoint else None
        self.forward = forward or (lambda d, s, step: model(d, s))
        self.compile = compile if forward is None else False  # a custom forward is the caller's to compile
        self.compiled = False
        self.device, self.parallel = torch.device(device), parallel or DataParallel()
        self.sync_every = sync_every or (SYNC_EVERY_CUDA if self.device.type == "cuda" else 1)
        self._pending: list[tuple[int, torch.Tensor, float]] = []  # (steps done, loss on the device, lr): unread
        self.progress, self.label = progress and self.parallel.is_main, label
        dense, sparse = split_parameters(model)
        if sparse:  # Adagrad builds sparse tensors each step; opt out of invariant checks explicitly (the default)
            torch.sparse.check_sparse_tensor_invariants.disable()
        self.dense_params, self.sparse_params = dense, sparse
        self.optimizers = self.make_optimizers(dense, sparse)
        self.guard = DivergenceGuard(label, config.guard_factor, config.guard_patience, hint=config.hint())
        self.step = 0
        self.losses: list[float] = []  # of every step this Trainer ran, over its `fit` calls
        self.first_losses: list[float] = []  # the run's first FIRST_LOSSES, over every call that trained it
        self.last_losses: deque[float] = deque(maxlen=FIRST_LOSSES)  # and its latest
        self.loss_history = True  # False: resumed from a checkpoint older than these two (they start here)
        self.curve: list[CurvePoint] = []
        self.best_step: int | None = None
        self._best_state: dict[str, torch.Tensor] | None = None
        self.stopped = False  # early stopping ended the run
        self._warm = 0
        self.peak_step: int | None = None  # the step the learning rate peaks at (set by `fit`)
        self._saved_step, self._saved_at = 0, time.monotonic()  # the last save's step and time (`fit` sets them)

    @property
    def reached_peak_lr(self) -> bool:
        """Whether the run trained through its warm-up to the recipe's full learning rate."""
        return self.peak_step is not None and self.step >= self.peak_step

    @property
    def divergence(self):  # -> DivergenceReport
        return self.guard.report

    def make_optimizers(self, dense: list[nn.Parameter], sparse: list[nn.Parameter]) -> list[Any]:
        """Adagrad over the dense and the sparse (embedding) parameters; overridden for supernets. The dense
        group: `optimizers.dense_adagrad`; the sparse one: `optimizers.sparse_adagrad`."""
        out: list[Any] = []
        if dense:
            out.append(dense_adagrad(dense, self.config))
        if sparse:
            out.append(sparse_adagrad(sparse, self.config))
        return out

    def use_compile(self, steps: int) -> bool:
        """Whether a run of `steps` steps trains through `model.compiled_forward()`: `compile` when given;
        by default (None) for a standalone model without attention and at least `COMPILE_MIN_STEPS` steps, when
        a C++ compiler is at hand (inductor needs one on CPU)."""
        if not hasattr(self.model, "compiled_forward") or self.compile is False:
            return False
        if self.compile:
            return True
        if COMPILE_MIN_STEPS is None or steps < COMPILE_MIN_STEPS or not any(map(shutil.which, ("c++", "g++"))):
            return False
        ops = {ref.op.name for bp in self.model.plan.blocks for ref in bp.refs}  # type: ignore[union-attr]  # a StandaloneModel (has compiled_forward)
        return "attention" not in ops

    def _state(self) -> dict[str, Any]:
        state = {
            "model": self.model.state_dict(),
            "optimizers": [o.state_dict() for o in self.optimizers],
            "step": self.step,
            "config": self.config.model_dump_json(),
            "divergence": self.guard.report.model_dump_json(),
            "guard_recent": list(self.guard.recent),  # the running median's window and the streak go on
            "guard_in_a_row": self.guard.in_a_row,
            "stopped": self.stopped,  # early stopping ended the run: a resume trains no further
        }
        if self.loss_history:  # a report after a kill and a resume still starts at step 1
            state |= {"first_losses": self.first_losses, "last_losses": list(self.last_losses)}
        if self.curve:
            state |= {
                "curve": [[p.step, p.log_loss] for p in self.curve],
                "best_step": self.best_step,
                "best_model": self._best_state,
            }
        return state

    def _checkpoint_due(self) -> bool:
        """Whether to save now: at a multiple of `checkpoint_every` steps, `checkpoint_seconds` after the last save
        (or the start of this call). Under torchrun every rank decides alike (a save reads the pending losses, and
        a rank whose guard stopped at a save its peers skipped would leave them waiting in the next all-reduce)."""
        every, seconds = self.config.checkpoint_every, self.config.checkpoint_seconds
        if self.step % every:
            return False
        due = time.monotonic() - self._saved_at >= seconds
        return self.parallel.any(due, self.device) if seconds else due  # by steps alone, every rank agrees

    def _save(self) -> None:
        self._read_losses()  # the guard has seen every step the checkpoint holds
        if self.checkpoint and self.parallel.is_main:
            save_checkpoint(self._state(), self.checkpoint)
        self._saved_step, self._saved_at = self.step, time.monotonic()

    def _resume(self) -> None:
        if self.checkpoint is None or not self.checkpoint.exists():
            return
        try:
            state = load_checkpoint(self.checkpoint)
        except UsageError as exc:  # a training's own checkpoint: what to do about it
            raise UsageError(f"{exc}; delete it to start this training again") from None
        if compared_recipe(state.get("config")) != compared_recipe(self.config.model_dump_json()):
            raise UsageError(
                f"checkpoint {self.checkpoint} was written with another recipe "
                f"({state.get('config')}); use a new folder or the same settings"
            )
        self.model.load_state_dict(state["model"])  # copies onto the model's device
        # a finished run's checkpoint keeps no optimizer state (nothing is left to train): restore none
        if state["optimizers"]:
            for opt, saved in zip(self.optimizers, state["optimizers"], strict=True):
                opt.load_state_dict(saved)
        self.step = int(state["step"])
        if "divergence" in state:
            self.guard.report = self.guard.report.model_validate_json(state["divergence"])
        self.guard.recent.extend(float(v) for v in state.get("guard_recent", []))
        self.guard.in_a_row = int(state.get("guard_in_a_row", 0))
        self.stopped = bool(state.get("stopped", False))
        self.first_losses = [float(v) for v in state.get("first_losses", [])]
        self.loss_history = "first_losses" in state or self.step == 0
        self.last_losses.extend(float(v) for v in state.get("last_losses", []))
        if "curve" in state:
            self.curve = [CurvePoint(step=int(s), log_loss=float(v)) for s, v in state["curve"]]
            self.best_step, self._best_state = state["best_step"], state["best_model"]

    def total_steps(self, steps_per_epoch: int) -> int:
        return total_steps(self.config.epochs, steps_per_epoch)

    def fit(
        self,
        epoch_batches: Callable[[int], Iterable[Any]],
        steps_per_epoch: int,
        stop_after: int | None = None,
        validate: Validate | None = None,
        base_rate: float | None = None,
    ) -> list[float]:
        """Train to the end of the recipe (or until `stop_after` total steps). Returns the losses of the steps
        run by this call.

        With `validate` and `config.patience`, the model is validated every `eval_every` steps (default: every
        epoch) and at the end; training stops after `patience` validations without a new best, and the best
        weights are restored (`curve`, `best_step`). `validate` alone records the curve without stopping.
        `base_rate` (the training rows' positive rate) starts the head at the constant predictor when the
        recipe's `head_init` is on."""
        total = self.total_steps(steps_per_epoch)
        start = len(self.losses)
        self._resume()
        self._saved_step, self._saved_at = self.step, time.monotonic()
        if self.step == 0 and base_rate is not None and self.config.head_init:
            init_head(self.model, base_rate)
        factor = cosine_with_warmup(total, self.config.warmup, self.config.min_warmup_steps)
        self.peak_step = warmup_steps(total, self.config.warmup, self.config.min_warmup_steps)
        self._warm = min(total, self.peak_step)
        every = self.config.eval_every or steps_per_epoch
        self.model.train()
        end = total if stop_after is None else min(total, stop_after)
        if not self.compiled and self.use_compile(end):  # the run's length, not what is left: a resume decides alike
            fwd = self.model.compiled_forward()  # type: ignore[operator]  # checked by use_compile
            self.forward, self.compiled = (lambda d, s, step: fwd(d, s)), True
        with progress_bar(self.progress) as bar:
            task = bar.add_task(self.label, total=total, completed=self.step, info="")
            while self.step < end and not self.stopped:
                epoch, offset = divmod(self.step, steps_per_epoch)
                ran = 0
                for batch in _skip(epoch_batches(epoch), offset):
                    if self.step >= end or offset + ran >= steps_per_epoch:
                        break
                    self._train_step(batch, factor(self.step))
                    ran += 1
                    bar.update(task, advance=1, info=f"loss {self.losses[-1]:.4f}" if self.losses else "")
                    if validate is not None and (self.step % every == 0 or self.step == total):
                        self.stopped = self._validate(validate)
                    # an early stop skips the ranks' agreement below: under torchrun, validation must decide alike
                    if self.stopped or self._checkpoint_due():
                        self._save()
                    if self.stopped:
                        break
                if ran == 0:
                    raise RuntimeError(
                        f"{self.label}: epoch_batches({epoch}) yielded fewer than {offset + 1} "
                        f"batches (steps_per_epoch={steps_per_epoch}); callers size epochs with "
                        "DataSplit.full_batches"
                    )
        self._read_losses()
        if len(self.losses) > start and self._saved_step != self.step:
            self._save()  # the final state, unless just saved
        finished = self.stopped or self.step >= total  # a call cut short by `stop_after` goes on from here later
        if finished and self._best_state is not None and self.config.patience is not None:
            self.model.load_state_dict(self._best_state)
        return self.losses[start:]

    def _validate(self, validate: Validate) -> bool:
        """Validate, keep the best weights; True when early stopping says stop (never during the warm-up: the
        learning rate is still rising, so a plateau there says nothing)."""
        self._read_losses()
        value = float(validate())
        self.model.train()
        self.curve.append(CurvePoint(step=self.step, log_loss=value))
        if self.parallel.is_main:
            scalars.add_scalar(f"{self.tag}/valid_log_loss", value, self.step)
        finite = [p.log_loss for p in self.curve[:-1] if math.isfinite(p.log_loss)]  # a NaN point is never best
        if self.best_step is None or (math.isfinite(value) and (not finite or value < min(finite))):
            self.best_step = self.step
            self._best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        since = sum(1 for p in self.curve if p.step > self.best_step)
        return self.config.patience is not None and since >= self.config.patience and self.step >= self._warm

    def prepare_optimizers(self, lr_factor: float) -> None:
        """Set every optimizer's learning rate to the recipe's times `lr_factor` and clear the gradients."""
        for opt in self.optimizers:
            if isinstance(opt, torch.optim.Optimizer):
                for group in opt.param_groups:
                    group["lr"] = self.config.lr * lr_factor
                opt.zero_grad(set_to_none=True)
            else:  # e.g. SlicedAdagrad: one lr, gradients cleared by its step
                opt.lr = self.config.lr * lr_factor

    def _train_step(self, batch: Any, lr_factor: float) -> None:
        dense, sparse, label = (t.to(self.device, non_blocking=True) for t in batch[:3])
        self.prepare_optimizers(lr_factor)
        logits = self.forward(dense, sparse, self.step).reshape(-1)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, label)
        self._pending.append((self.step + 1, self.parallel.mean_loss(loss), self.config.lr * lr_factor))
        if self.sync_every == 1:
            self._read_losses()  # raises on a non-finite loss or a run that keeps diverging, before the update
        self.backward_and_step(loss)
        self.step += 1
        if len(self._pending) >= self.sync_every:
            self._read_losses()

    def _read_losses(self) -> None:
        """Read the pending step losses (one sync), pass them through the guard in order, record and log them."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        values = torch.stack([m for _, m, _ in pending]).tolist() if len(pending) > 1 else [float(pending[0][1])]
        where = f" (last good checkpoint: {self.checkpoint})" if self.checkpoint and self.checkpoint.exists() else ""
        for (step, _, lr), mean in zip(pending, values, strict=True):
            self.guard.check(step, mean, where)  # raises on a non-finite loss or a run that keeps diverging
            self.losses.append(mean)
            if len(self.first_losses) < FIRST_LOSSES:
                self.first_losses.append(mean)
            self.last_losses.append(mean)
            if self.parallel.is_main:
                scalars.add_scalar(f"{self.tag}/loss", mean, step)
                scalars.add_scalar(f"{self.tag}/lr", lr, step)

    def backward_and_step(self, loss: torch.Tensor) -> None:
        """Backward, average over ranks, clip the dense gradients' norm, step every optimizer (overridden for
        supernets)."""
        loss.backward()
        self.parallel.average_gradients(self.dense_params, self.sparse_params)
        if self.config.clip is not None and self.dense_params:
            nn.utils.clip_grad_norm_(self.dense_params, self.config.clip)
        for opt in self.optimizers:
            opt.step()


def _skip(batches: Iterable[Any], n: int) -> Iterator[Any]:
    it = iter(batches)
    for _ in range(n):
        next(it, None)
    return it


@torch.no_grad()
def evaluate(
    forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batches: Iterable[Any],
    device: torch.device | str = "cpu",
) -> Metrics:
    """Log loss, AUC and normalized entropy of `forward` over `batches` (inputs moved to `device`)."""
    logits, labels = [], []
    for batch in batches:
        logits.append(forward(batch[0].to(device), batch[1].to(device)).reshape(-1).float().cpu().numpy())
        labels.append(batch[2].numpy())
    z, y = np.concatenate(logits), np.concatenate(labels)
    return Metrics(log_loss=log_loss_from_logits(y, z), auc=auc(y, z), ne=normalized_entropy(y, z), examples=len(y))
