"""Supernet training: the paper's recipe with path sampling per step and a full-supernet warm-up."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from torch import Tensor, nn

from nasrec.compiler import Supernet, SupernetView
from nasrec.compiler.optim import SlicedAdagrad
from nasrec.data.batching import DeviceRows
from nasrec.data.prepared import DataSplit
from nasrec.errors import NasrecError, UsageError
from nasrec.evaluators.checkpoint import drop_optimizer_state, load_checkpoint
from nasrec.evaluators.data_ref import open_data
from nasrec.evaluators.distributed import DataParallel, resolve_device
from nasrec.evaluators.optimizers import sparse_adagrad
from nasrec.evaluators.recipe import RESUME_MAY_CHANGE
from nasrec.evaluators.schedule import logit
from nasrec.evaluators.seeding import seeded
from nasrec.evaluators.training import TrainConfig, Trainer, total_steps
from nasrec.genotype import Block, Genotype, SearchSpace, get_space, sample
from nasrec.genotype.sampling import DEFAULT_SAMPLER, SAMPLERS
from nasrec.state import RunLock, atomic_write_text, pin_config, validation_reason

SUPERNET_RECIPE = TrainConfig(min_warmup_steps=1000)
"""The paper's supernet recipe (1 epoch, Adagrad lr 0.12, cosine, 10 % warm-up) with a warm-up of at least
1,000 steps: weight-shared parameters take Adagrad's sign-like first steps from every sampled path, and on
short runs a shorter warm-up diverges (docs/training.md has the measurements)."""


DEVICE_DATA_BYTES = 2 << 30
"""`train_supernet(device_data=None)` on CUDA holds the train split on the device when it takes at most this."""


class SupernetTrainingConfig(BaseModel):
    """What `train_supernet` does; recorded beside the checkpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str = Field(description="`sample:criteo` or a prepared data folder")
    space: str = "nasrec-full"
    layernorm: bool = True
    norm_raw_fm: bool = Field(
        default=False,
        description="LayerNorm also the raw FM term of D == 16 mergers "
        "(the reference skips it; docs/compiler.md has the measurements)",
    )
    cap: int | None = Field(
        default=500_000, ge=2, description="embedding rows per table, replacing the data's own cap (None: full tables)"
    )
    sampler: str = Field(default=DEFAULT_SAMPLER, description="path sampler of each step")
    warmup_fraction: float = Field(default=0.2, ge=0, le=1, description="steps with the full-supernet warm-up")
    warmup_mode: Literal["whole", "per-block"] = "whole"
    center_logits: bool = Field(
        default=False,
        description="train on each batch's logits minus their mean (plus the base rate's logit): the loss sees "
        "how a path ranks the rows, not its offset; score such a supernet with finetune recipe `bias` or `fast`",
    )
    distill: bool = Field(
        default=False,
        description="in-place distillation (BigNAS): each step first trains the whole supernet (`all-operators`) "
        "on the labels, then the sampled path on the whole supernet's predicted probabilities: the whole supernet's "
        "forward and backward every step (measured: docs/results/rank-oracle-75-distill.json)",
    )
    train: TrainConfig = SUPERNET_RECIPE

    @field_validator("sampler")
    @classmethod
    def _known_sampler(cls, name: str) -> str:
        SAMPLERS.get(name)  # an unknown name raises, listing the known ones
        return name

    def build_supernet(self) -> Supernet:
        data = open_data(self.data)
        features = data.spec.with_cap(self.cap)
        with seeded(self.train.seed):
            return Supernet(self.space, features, layernorm=self.layernorm, norm_raw_fm=self.norm_raw_fm)


class PathSampler:
    """The architecture trained at each step, a function of (seed, step) only, so runs resume exactly.

    Warm-up: during the first `warmup_fraction` of steps, the full supernet is used with a probability
    falling linearly from 1 to 0 — one coin for the whole net (`whole`) or one per block (`per-block`)."""

    def __init__(
        self, space: SearchSpace, sampler: str, total_steps: int, warmup_fraction: float, mode: str, seed: int
    ) -> None:
        SAMPLERS.get(sampler)  # an unknown name fails here, naming the known ones
        self.space, self.sampler, self.mode, self.seed = space, sampler, mode, seed
        self.warm_steps = int(total_steps * warmup_fraction)

    def full_probability(self, step: int) -> float:
        return max(0.0, 1.0 - step / self.warm_steps) if self.warm_steps else 0.0

    def whole(self, step: int) -> Genotype:
        """The whole supernet of `step` (its binary operators' sources drawn by (seed, step)): the teacher of
        in-place distillation."""
        return sample(self.space, "all-operators", np.random.default_rng([self.seed, step, 1]))

    def __call__(self, step: int) -> Genotype:
        rng = np.random.default_rng([self.seed, step])
        p = self.full_probability(step)
        path = sample(self.space, self.sampler, rng)
        if p == 0.0:
            return path
        full = sample(self.space, "all-operators", rng)
        if self.mode == "whole":
            return full if rng.random() < p else path
        blocks: list[Block] = [f if rng.random() < p else s for f, s in zip(full.blocks, path.blocks, strict=True)]
        return path.model_copy(update={"blocks": tuple(blocks)})


class SupernetTrainer(Trainer):
    """The shared loop with the supernet's fast path: each step runs the sampled view in local-gradient mode,
    so gradients and Adagrad updates touch only the slices that view used (`SlicedAdagrad`); the embedding
    table keeps its sparse gradient and Adagrad on its rows. Same updates as plain autograd, at the subnet's cost.
    `teacher`: in-place distillation, the step's whole supernet trained on the labels first and the sampled path
    then on its predicted probabilities (two updates per batch; the guard sees the path's loss)."""

    def __init__(
        self,
        supernet: Supernet,
        config: TrainConfig,
        paths: Callable[[int], Genotype],
        center: float | None = None,
        teacher: Callable[[int], Genotype] | None = None,
        **kw: Any,
    ) -> None:
        self.supernet, self.paths, self.center, self.teacher = supernet, paths, center, teacher
        self.view: SupernetView | None = None
        super().__init__(supernet, config, forward=self._forward, label="supernet", **kw)

    def make_optimizers(self, dense: list[nn.Parameter], sparse: list[nn.Parameter]) -> list[object]:
        """`SlicedAdagrad` for the dense parameters (no full-size accumulator sweep per step; torch's Adagrad
        would also allocate one for the whole supernet up front), row-sparse Adagrad for the embedding table."""
        self.dense_opt = SlicedAdagrad(self.supernet, lr=self.config.lr, eps=self.config.eps)
        return [self.dense_opt, sparse_adagrad(sparse, self.config)]

    def _forward(self, dense: Tensor, sparse: Tensor, step: int) -> Tensor:
        self.view = self.supernet.cached_view(self.paths(step), local_grads=True)
        return self._centred(self.view(dense, sparse))

    def _centred(self, logits: Tensor) -> Tensor:
        if self.center is None:
            return logits
        return logits - logits.mean() + self.center  # no gradient reaches the path's offset

    def _train_step(self, batch: Any, lr_factor: float) -> None:
        if self.teacher is None:
            return super()._train_step(batch, lr_factor)
        dense, sparse, label = (t.to(self.device, non_blocking=True) for t in batch[:3])
        self.prepare_optimizers(lr_factor)
        self.view = self.supernet.view(self.teacher(self.step)).set_local_grads()  # a new draw each step: no cache
        logits = self._centred(self.view(dense, sparse)).reshape(-1)
        self.backward_and_step(nn.functional.binary_cross_entropy_with_logits(logits, label))
        super()._train_step((dense, sparse, torch.sigmoid(logits.detach())), lr_factor)

    def backward_and_step(self, loss: Tensor) -> None:
        loss.backward()
        assert self.view is not None
        leaves = [] if self.view.flat_leaf is None else [self.view.flat_leaf]  # the view's slices, in one tensor
        self.parallel.average_gradients(leaves, self.sparse_params)  # no-op in one process
        leaves = [leaf for leaf in leaves if leaf.grad is not None]
        if self.config.clip is not None and leaves:
            nn.utils.clip_grad_norm_(leaves, self.config.clip)
        self.dense_opt.step(self.view)
        self.optimizers[1].step()


GUARD = tuple(f"train.{name}" for name in RESUME_MAY_CHANGE)
"""A supernet folder's settings a resume may change: the training recipe's (the divergence guard's thresholds)."""


def train_supernet(
    config: SupernetTrainingConfig,
    out: str | Path,
    progress: bool = False,
    stop_after: int | None = None,
    device: str = "cpu",
    tag: str = "supernet",
    device_data: bool | None = None,
) -> Supernet:
    """Train a supernet on the train split; checkpoint (and resume) at `out/checkpoint.pt`: weights, step and
    recipe, and while unfinished the optimizers' state (an exact resume needs Adagrad's accumulators).

    `device`: cpu, cuda or auto (the whole supernet moves there; the embedding table keeps its sparse
    gradient). Under torchrun (WORLD_SIZE > 1) the ranks split every global batch of `config.train.batch_size`
    rows, average gradients, and draw the same path each step: the result equals one process on the same
    global batches up to float rounding. Only rank 0 writes `out`, holding its lock (a second trainer on the
    folder raises `RunFolderBusy`). `tag`: the TensorBoard prefix of its scalars (see `scalars`). `device_data`: hold
    the train split on `device` and cut batches there (the same batches); None: on CUDA when it takes at most
    `DEVICE_DATA_BYTES`. With `config.center_logits` each rank centres the logits of its own rows."""
    out = Path(out)
    dev = resolve_device(device, int(os.environ.get("LOCAL_RANK", "0")))
    parallel = DataParallel.from_env(dev)
    per_rank = parallel.check_batch(config.train.batch_size)
    space = get_space(config.space)  # the space and the data are checked before anything is written
    train = open_data(config.data).split("train")
    steps_per_epoch = train.full_batches(config.train.batch_size)
    if device_data is None:
        size = DeviceRows.nbytes(len(train), train.data.spec.n_dense, train.data.spec.n_sparse)
        device_data = dev.type == "cuda" and size <= DEVICE_DATA_BYTES
    rows: DataSplit | DeviceRows = train.on_device(dev) if device_data else train
    with ExitStack() as held:
        problem = None
        if parallel.is_main:  # rank 0 writes, and locks; the others raise its refusal with it, not a broken broadcast
            try:
                held.enter_context(RunLock(out, "supernet folder"))
                pin_config(out / "config.json", config, what="supernet", paths=("data", "space"), ignore=GUARD)
            except (NasrecError, OSError) as exc:
                problem = exc
        parallel.raise_together(problem, dev)
        supernet = config.build_supernet().to(dev)
        parallel.broadcast_(supernet)
        total = total_steps(config.train.epochs, steps_per_epoch)
        paths = PathSampler(space, config.sampler, total, config.warmup_fraction, config.warmup_mode, config.train.seed)
        trainer = SupernetTrainer(
            supernet,
            config.train,
            paths,
            center=logit(train.positive_rate) if config.center_logits else None,
            teacher=paths.whole if config.distill else None,
            checkpoint=out / "checkpoint.pt",
            progress=progress,
            device=dev,
            parallel=parallel,
            tag=tag,
        )
        # global batch i = rows [i*B, (i+1)*B) of the epoch's order; rank r reads its B/W rows of it
        trainer.fit(
            lambda epoch: rows.batches(
                per_rank,
                shuffle=True,
                seed=config.train.seed,
                epoch=epoch,
                drop_last=True,
                shard=parallel.rank,
                num_shards=parallel.world_size,
            ),
            steps_per_epoch,
            stop_after=stop_after,
            base_rate=train.positive_rate,
        )
        previous = training_report(out) or {}
        if parallel.is_main and trainer.step and (trainer.losses or previous.get("steps") != trainer.step):
            first, last = trainer.first_losses, list(trainer.last_losses)  # over every call that trained the run
            if not trainer.loss_history:  # resumed from a checkpoint that kept neither: the last report's
                earlier = previous if trainer.step > len(trainer.losses) else {}
                first = (earlier.get("first_losses", []) + trainer.losses)[:5]
                last = (earlier.get("last_losses", []) + trainer.losses)[-5:]
            report = {"steps": trainer.step, "divergence": trainer.divergence.model_dump()}
            report |= {"first_losses": first, "last_losses": last}
            atomic_write_text(out / "training.json", json.dumps(report, indent=2))
        if parallel.is_main and trainer.step >= total:
            drop_optimizer_state(out / "checkpoint.pt")  # finished: a resume needs only the weights and the step
        if not parallel.all_equal(supernet):
            raise RuntimeError("supernet parameters differ between ranks after training (gradients out of sync)")
        parallel.barrier()  # rank 0's last checkpoint is on disk before anyone returns
    return supernet


def training_report(out: str | Path) -> dict | None:
    """What `train_supernet` recorded about its run in `out/training.json` (steps, diverged steps), if any."""
    path = Path(out) / "training.json"
    return json.loads(path.read_text()) if path.exists() else None


def _misfit(weights: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> str | None:
    """Why a checkpoint's model weights do not fit a supernet (parameters missing or unknown, another shape,
    integers for floats), in a few words; None where they fit."""
    missing = [name for name in expected if name not in weights]
    unknown = [name for name in weights if name not in expected]
    if missing or unknown:
        parts = [
            f"{len(names)} {what}{'s' if len(names) > 1 else ''}{where} (first {names[0]!r})"
            for names, what, where in ((missing, "parameter", " missing"), (unknown, "unknown parameter", ""))
            if names
        ]
        return "its weights do not fit: " + ", ".join(parts)
    for name, want in expected.items():
        got = weights[name]
        if got.shape != want.shape:
            return f"its weights do not fit: {name!r} is {list(got.shape)} where the supernet has {list(want.shape)}"
        if got.dtype.is_floating_point != want.dtype.is_floating_point or got.is_complex() != want.is_complex():
            return f"its weights do not fit: {name!r} is {got.dtype} where the supernet has {want.dtype}"
    return None


def load_supernet(checkpoint: str | Path, device: str | torch.device = "cpu") -> Supernet:
    """Rebuild a trained supernet from `checkpoint` and the `config.json` beside it, on `device`."""
    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        inside = checkpoint / "checkpoint.pt"
        give = inside if inside.is_file() else "the checkpoint.pt of a `nasrec train-supernet` folder"
        raise UsageError(f"supernet {checkpoint}: a folder, not a checkpoint; give {give}")
    for path in (checkpoint, checkpoint.parent / "config.json"):
        if not path.is_file():
            raise UsageError(f"supernet {checkpoint}: {path} does not exist (train one with `nasrec train-supernet`)")
    try:
        config = SupernetTrainingConfig.model_validate_json((checkpoint.parent / "config.json").read_text())
    except ValidationError as exc:
        raise UsageError(
            f"supernet {checkpoint}: {checkpoint.parent / 'config.json'} is not a train-supernet config "
            f"({validation_reason(exc)}); give the checkpoint.pt of a `nasrec train-supernet` folder"
        ) from None
    supernet = config.build_supernet()
    state = load_checkpoint(checkpoint)  # a dict; its "model", where there is one, a dict of tensors
    reason = "it holds no model weights" if "model" not in state else _misfit(state["model"], supernet.state_dict())
    if reason is None:
        try:
            supernet.load_state_dict(state["model"])
        except RuntimeError as exc:  # what _misfit does not foresee: torch's first specific line
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            reason = f"its weights do not fit: {lines[min(1, len(lines) - 1)] if lines else type(exc).__name__}"
    if reason is not None:
        raise UsageError(
            f"supernet {checkpoint}: not the checkpoint of the supernet its config.json describes ({reason}); "
            "give the checkpoint.pt of a `nasrec train-supernet` folder"
        ) from None
    supernet.to(device).eval()
    return supernet
