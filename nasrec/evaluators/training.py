"""One training loop for every evaluator: Adagrad (sparse embedding gradients), cosine schedule with linear
warm-up, gradient-norm clipping, BCE on logits, evaluation metrics, NaN guard, atomic resumable checkpoints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn

from nasrec.errors import NasrecError, UsageError
from nasrec.evaluators.checkpoint import load_checkpoint, save_checkpoint
from nasrec.evaluators.distributed import DataParallel
from nasrec.evaluators.metrics import auc, log_loss_from_logits, normalized_entropy

Forward = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]
"""(dense, sparse, step) -> logits [B]; the step lets supernet training draw a path per step."""


class TrainConfig(BaseModel):
    """The recipe; defaults are the paper's supernet recipe."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: float = Field(default=1.0, gt=0)
    batch_size: int = Field(default=512, gt=0)
    lr: float = Field(default=0.12, gt=0)
    eps: float = Field(default=1e-2, gt=0)
    warmup: float = Field(default=0.1, ge=0, lt=1, description="fraction of steps with linear warm-up")
    clip: float | None = Field(default=5.0, gt=0)
    seed: int = 0
    checkpoint_every: int = Field(default=200, gt=0)


class Metrics(BaseModel):
    log_loss: float
    auc: float
    ne: float
    examples: int


class TrainingDiverged(NasrecError, RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def split_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(dense, sparse) trainable parameters; sparse = those of embeddings with sparse gradients."""
    sparse_ids = {id(p) for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag)) and m.sparse
                  for p in m.parameters()}
    params = [p for p in model.parameters() if p.requires_grad]
    return [p for p in params if id(p) not in sparse_ids], [p for p in params if id(p) in sparse_ids]


def cosine_with_warmup(total: int, warmup: float) -> Callable[[int], float]:
    warm = int(total * warmup)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, total - warm)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def progress_bar(enabled: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeRemainingColumn(), disable=not enabled, transient=True)


class Trainer:
    """Trains `model` through `forward` on batches from `epoch_batches(epoch)`.

    `steps_per_epoch` batches make an epoch; `config.epochs` may be fractional. With `checkpoint`, state
    is saved atomically every `checkpoint_every` steps and at the end, and a run restarted on the same
    path continues from the saved step (same batches, same result as an uninterrupted run).
    Batches are moved to `device` (the model must already be there). With `parallel` (torchrun), each rank
    trains on its share of every global batch, gradients are averaged over the ranks, and only rank 0 writes
    the checkpoint and shows progress.
    """

    def __init__(self, model: nn.Module, config: TrainConfig, forward: Forward | None = None,
                 checkpoint: str | Path | None = None, progress: bool = False, label: str = "train",
                 device: torch.device | str = "cpu", parallel: DataParallel | None = None) -> None:
        self.model, self.config, self.checkpoint = model, config, Path(checkpoint) if checkpoint else None
        self.forward = forward or (lambda d, s, step: model(d, s))
        self.device, self.parallel = torch.device(device), parallel or DataParallel()
        self.progress, self.label = progress and self.parallel.is_main, label
        dense, sparse = split_parameters(model)
        if sparse:  # Adagrad builds sparse tensors each step; opt out of invariant checks explicitly (the default)
            torch.sparse.check_sparse_tensor_invariants.disable()
        self.dense_params, self.sparse_params = dense, sparse
        self.optimizers = self.make_optimizers(dense, sparse)
        self.step = 0
        self.losses: list[float] = []

    def make_optimizers(self, dense: list[nn.Parameter], sparse: list[nn.Parameter]) -> list[Any]:
        """Adagrad over the dense and the sparse (embedding) parameters; overridden for supernets."""
        return [torch.optim.Adagrad(group, lr=self.config.lr, eps=self.config.eps) for group in (dense, sparse)
                if group]

    def _state(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizers": [o.state_dict() for o in self.optimizers],
                "step": self.step, "config": self.config.model_dump_json()}

    def _save(self) -> None:
        if self.checkpoint and self.parallel.is_main:
            save_checkpoint(self._state(), self.checkpoint)

    def _resume(self) -> None:
        if self.checkpoint is None or not self.checkpoint.exists():
            return
        state = load_checkpoint(self.checkpoint)
        if state.get("config") != self.config.model_dump_json():
            raise UsageError(f"checkpoint {self.checkpoint} was written with another recipe "
                             f"({state.get('config')}); use a new folder or the same settings")
        self.model.load_state_dict(state["model"])  # copies onto the model's device
        for opt, saved in zip(self.optimizers, state["optimizers"]):
            opt.load_state_dict(saved)
        self.step = int(state["step"])

    def fit(self, epoch_batches: Callable[[int], Iterable[Any]], steps_per_epoch: int,
            stop_after: int | None = None) -> list[float]:
        """Train to the end of the recipe (or until `stop_after` total steps, for tests). Returns the losses
        of the steps run by this call."""
        total = max(1, int(round(self.config.epochs * steps_per_epoch)))
        self._resume()
        factor = cosine_with_warmup(total, self.config.warmup)
        self.model.train()
        end = total if stop_after is None else min(total, stop_after)
        with progress_bar(self.progress) as bar:
            task = bar.add_task(self.label, total=total, completed=self.step, info="")
            while self.step < end:
                epoch, offset = divmod(self.step, steps_per_epoch)
                ran = 0
                for batch in _skip(epoch_batches(epoch), offset):
                    if self.step >= end or offset + ran >= steps_per_epoch:
                        break
                    self._train_step(batch, factor(self.step))
                    ran += 1
                    bar.update(task, advance=1, info=f"loss {self.losses[-1]:.4f}")
                    if self.step % self.config.checkpoint_every == 0:
                        self._save()
                if ran == 0:
                    raise ValueError(f"{self.label}: epoch {epoch} has fewer than {offset + 1} batches "
                                     f"(steps_per_epoch={steps_per_epoch})")
        if self.losses and self.step % self.config.checkpoint_every:
            self._save()  # the final state, unless just saved
        return self.losses

    def _train_step(self, batch: Any, lr_factor: float) -> None:
        dense, sparse, label = (t.to(self.device, non_blocking=True) for t in batch[:3])
        for opt in self.optimizers:
            if isinstance(opt, torch.optim.Optimizer):
                for group in opt.param_groups:
                    group["lr"] = self.config.lr * lr_factor
                opt.zero_grad(set_to_none=True)
            else:  # e.g. SlicedAdagrad: one lr, gradients cleared by its step
                opt.lr = self.config.lr * lr_factor
        logits = self.forward(dense, sparse, self.step).reshape(-1)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, label)
        mean = self.parallel.mean_loss(loss)
        if not torch.isfinite(mean):
            where = f" (last good checkpoint: {self.checkpoint})" if self.checkpoint and self.checkpoint.exists() \
                else ""
            raise TrainingDiverged(f"{self.label}: loss is {mean.item()} at step {self.step}; training stopped"
                                   f"{where}")
        self.backward_and_step(loss)
        self.step += 1
        self.losses.append(float(mean))

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
def evaluate(forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], batches: Iterable[Any],
             device: torch.device | str = "cpu") -> Metrics:
    """Log loss, AUC and normalized entropy of `forward` over `batches` (inputs moved to `device`)."""
    logits, labels = [], []
    for batch in batches:
        logits.append(forward(batch[0].to(device), batch[1].to(device)).reshape(-1).float().cpu().numpy())
        labels.append(batch[2].numpy())
    z, y = np.concatenate(logits), np.concatenate(labels)
    return Metrics(log_loss=log_loss_from_logits(y, z), auc=auc(y, z), ne=normalized_entropy(y, z),
                   examples=int(len(y)))


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
