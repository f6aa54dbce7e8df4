"""Proxies that score genotypes with a trained supernet's weights: as inherited (`supernet`), or after
re-fitting the head (`finetune`, recipes `paper`, `fast`, `fast-std`, `bias` and `scale`). Candidates evaluated
together share every validation batch and its embedding lookup (and the training rows' where the head inputs
are computed for all candidates at once)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from nasrec.compiler import Supernet, SupernetView
from nasrec.compiler.supernet import Embedded
from nasrec.data.batching import Batch
from nasrec.evaluators.base import Score, genotype_list, register_evaluator
from nasrec.evaluators.data_ref import open_data
from nasrec.evaluators.distributed import resolve_device
from nasrec.evaluators.scoring import EvalRows, eval_rows, make_score, subset_batches
from nasrec.evaluators.supernet_training import load_supernet
from nasrec.genotype import Genotype

PAPER_CACHE_BYTES = 1 << 30
"""`paper` over several passes caches a candidate's head inputs up to this size (1 GiB); larger, each step's rows
run through the body again."""


VALID_ROWS = 500_000
"""`valid_rows`' default: the validation rows a proxy scores at most (full Criteo's 4.58M took ~14 min a candidate
on one CPU thread; the bundled rows and the oracle sets have fewer and are scored whole)."""


class ProxyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str = Field(description="`sample:criteo` or a prepared data folder")
    supernet: str = Field(description="path of the trained supernet's checkpoint.pt")
    valid_rows: int | None = Field(
        default=VALID_ROWS,
        gt=0,
        description="validation rows scored: a seeded sample (`seed`) where the split has more, else all of them "
        "(None: the whole split, however large)",
    )
    batch_size: int = Field(default=4096, gt=0)
    group: int = Field(default=8, gt=0, description="candidates scored together in one pass")
    seed: int = Field(default=0, ge=0)
    device: str = Field(default="cpu", description="cpu, cuda or auto")


class FinetuneConfig(ProxyConfig):
    recipe: Literal["paper", "fast", "fast-std", "bias", "scale"] = "fast-std"
    steps: int = Field(default=500, gt=0, description="paper: head fine-tune steps")
    max_passes: int | None = Field(
        default=None,
        ge=1,
        description="paper: passes over the training split at most (None: as many as `steps` needs; 1: the "
        "one-pass recipe of the studies committed before commit ec9e3ea, 24 steps on the bundled Criteo rows)",
    )
    step_batch: int = Field(default=512, gt=0, description="paper: rows per step")
    lr: float = Field(default=0.04, gt=0, description="paper: Adagrad learning rate")
    train_rows: int = Field(
        default=8192, gt=0, description="fast, fast-std, bias, scale: training rows whose head inputs are cached"
    )
    max_iter: int = Field(default=100, gt=0, description="fast, fast-std, bias, scale: L-BFGS iterations")
    l2: float = Field(
        default=0.1,
        ge=0,
        description="fast, fast-std: L2 penalty on the head weights (0.5 * l2 * |w|^2; fast-std: "
        "the weights of the standardised inputs)",
    )


class _SupernetEvaluator:
    name = "supernet"
    Config: type[ProxyConfig] = ProxyConfig

    def __init__(self, **config: Any) -> None:
        self.cfg = self.Config(**config)
        self.data = open_data(self.cfg.data)

    @property
    def config(self) -> dict[str, Any]:
        return self.cfg.model_dump()

    @cached_property
    def device(self) -> torch.device:
        return resolve_device(self.cfg.device)

    @cached_property
    def supernet(self) -> Supernet:
        return load_supernet(self.cfg.supernet, self.device)

    def _embed(self, batch: Batch) -> Embedded:
        return self.supernet.embed(batch.dense.to(self.device), batch.sparse.to(self.device))

    @cached_property
    def valid_rows(self) -> EvalRows:
        return eval_rows(self.data, "valid", self.cfg.batch_size, self.cfg.valid_rows, self.cfg.seed)

    @property
    def valid(self) -> list:
        return self.valid_rows.batches

    def evaluate(self, genotypes: Sequence[Genotype]) -> list[Score]:
        genotypes = genotype_list(genotypes)
        out: list[Score] = []
        for i in range(0, len(genotypes), self.cfg.group):
            out.extend(self._evaluate_group(list(genotypes[i : i + self.cfg.group])))
        return out

    @torch.no_grad()
    def _head_inputs(self, views: list[SupernetView], batches: list) -> list[Tensor]:
        """Each view's head inputs for every row of `batches`, concatenated (the training rows a head is fitted
        on: `train_rows` of them, never the validation split)."""
        feats: list[list[Tensor]] = [[] for _ in views]
        for batch in batches:
            emb = self._embed(batch)  # one lookup for every candidate
            for acc, view in zip(feats, views, strict=True):
                acc.append(view.head_inputs(emb))
        return [torch.cat(f) for f in feats]

    @torch.no_grad()
    def _logits(self, views: list[SupernetView], heads: list[tuple[Tensor, Tensor]], batches: list) -> list[np.ndarray]:
        """Each view's logits on `batches` under its head, batch by batch: one embedding lookup per batch for
        every candidate, and only the logits kept (memory O(batch x width), whatever the number of rows)."""
        logits: list[list[Tensor]] = [[] for _ in views]
        for batch in batches:
            emb = self._embed(batch)
            for acc, view, (w, b) in zip(logits, views, heads, strict=True):
                acc.append(nn.functional.linear(view.head_inputs(emb), w, b).squeeze(-1))
        return [torch.cat(z).cpu().numpy() for z in logits]  # to the host once: no sync per batch

    def _evaluate_group(self, genotypes: list[Genotype]) -> list[Score]:
        start = time.perf_counter()
        views = [self.supernet.view(g) for g in genotypes]
        heads = self._heads(views, genotypes)  # from the training rows (or inherited): no validation row needed
        logits = self._logits(views, heads, self.valid)
        seconds = (time.perf_counter() - start) / len(genotypes)
        return [
            make_score(
                g,
                self.data.spec,
                self.valid_rows,
                z,
                seconds,
                self.name,
                self.config,
                self.supernet.layernorm,
                self.supernet.norm_raw_fm,
            )
            for g, z in zip(genotypes, logits, strict=True)
        ]

    def _heads(self, views: list[SupernetView], genotypes: list[Genotype]) -> list[tuple[Tensor, Tensor]]:
        return [(w.detach(), b.detach()) for w, b in (v.head_weights() for v in views)]


@register_evaluator("supernet")
class SupernetProxy(_SupernetEvaluator):
    """The supernet's view of each candidate, scored on validation rows with no training."""


@register_evaluator("finetune")
class FinetunedProxy(_SupernetEvaluator):
    """Inherited body, re-fitted head. `paper`: Adagrad on the head for `steps` batches of `step_batch`
    training rows (the body runs without autograd), passing over the training split again, in a new order, as
    often as the steps need (21.4 passes on the bundled Criteo rows, whose head inputs are then computed once;
    `max_passes` caps it). `fast`: the head's inputs for
    `train_rows` training rows are computed once, and the head is fitted on them to convergence (L-BFGS, from
    the inherited weights).
    `fast-std` (the default): the same fit on the inputs standardised feature by feature (mean and standard
    deviation over the cached rows, the per-coordinate scaling that `paper`'s Adagrad applies), folded back
    into the head, so the L2 penalty weighs every input alike whatever its scale. `bias`:
    the inherited head with only its bias re-fitted on those rows — each subnet's offset recalibrated, as
    one-shot NAS recalibrates BatchNorm statistics per subnet (SPOS). `scale`: the inherited head with its
    logits' scale and bias re-fitted on those rows (Platt scaling: two numbers per subnet, which also repair
    an over-confident path)."""

    name = "finetune"
    Config = FinetuneConfig
    cfg: FinetuneConfig

    @cached_property
    def train_batches(self) -> list:
        """The training rows: `paper`'s (`steps` batches of `step_batch` rows, or the whole split where it has
        fewer, its passes then drawn by `paper_schedule`); the other recipes' `train_rows`, whose head inputs
        they cache."""
        cfg = self.cfg
        rows, batch = (
            (cfg.steps * cfg.step_batch, cfg.step_batch) if cfg.recipe == "paper" else (cfg.train_rows, cfg.batch_size)
        )
        return subset_batches(self.data, "train", rows, batch, cfg.seed + 1)

    @cached_property
    def train_row_count(self) -> int:
        """How many rows `train_batches` holds."""
        return sum(len(b.label) for b in self.train_batches)

    @cached_property
    def paper_passes(self) -> int:
        """`paper`: passes over its training rows (`train_batches`) that its steps need, at most `max_passes`."""
        cfg = self.cfg
        need = -(-cfg.steps * cfg.step_batch // self.train_row_count)
        return min(need, cfg.max_passes or need)

    @cached_property
    def paper_schedule(self) -> list[Tensor]:
        """`paper`'s steps, each as positions into `train_batches`' rows in order. One pass: those batches as
        they are (the last may be short). Several: each pass in a new order (rng (seed + 1, k)), the passes one
        stream cut into steps of `step_batch` rows."""
        cfg, n = self.cfg, self.train_row_count
        if self.paper_passes == 1:
            return list(torch.arange(n).split(cfg.step_batch))[: cfg.steps]
        rng = [np.random.default_rng((cfg.seed + 1, k)) for k in range(self.paper_passes)]
        stream = torch.from_numpy(np.concatenate([r.permutation(n) for r in rng]))
        return list(stream.split(cfg.step_batch))[: cfg.steps]

    def _heads(self, views: list[SupernetView], genotypes: list[Genotype]) -> list[tuple[Tensor, Tensor]]:
        init = [(w.detach().clone(), b.detach().clone()) for w, b in (v.head_weights() for v in views)]
        if self.cfg.recipe == "paper":
            return self._paper(views, init)
        feats = self._head_inputs(views, self.train_batches)
        y = torch.cat([b.label for b in self.train_batches]).to(self.device)
        if self.cfg.recipe in ("fast", "fast-std"):
            fit = self._fit_standardised if self.cfg.recipe == "fast-std" else self._fit
            return [fit(x, y, w, b) for x, (w, b) in zip(feats, init, strict=True)]
        scale = self.cfg.recipe == "scale"
        return [self._calibrate(x, y, w, b, scale) for x, (w, b) in zip(feats, init, strict=True)]

    def _calibrate(self, x: Tensor, y: Tensor, w: Tensor, b: Tensor, scale: bool) -> tuple[Tensor, Tensor]:
        """The inherited head's logits `a * z + b'`: `b'` re-fitted, and `a` too when `scale` (else 1)."""
        z = nn.functional.linear(x, w).squeeze(-1)  # the inherited head's logits without its bias
        a = torch.ones((), dtype=z.dtype, device=z.device, requires_grad=scale)
        b = b.clone().requires_grad_(True)
        params = [a, b] if scale else [b]
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=self.cfg.max_iter, line_search_fn="strong_wolfe")

        def closure() -> Tensor:
            opt.zero_grad()
            loss = nn.functional.binary_cross_entropy_with_logits(a * z + b, y)
            loss.backward()
            return loss

        opt.step(closure)
        return w * a.detach(), b.detach()

    def _fit_standardised(self, x: Tensor, y: Tensor, w: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
        """`_fit` on `(x - mean) / std` per input (a constant input left unscaled), from the inherited head
        written in those coordinates; returns the head on the raw inputs."""
        mean, std = x.mean(0), x.std(0)
        std = torch.where(std > 1e-6, std, torch.ones_like(std))
        ws, bs = self._fit((x - mean) / std, y, w * std, b + (w * mean).sum())
        w = ws / std
        return w, bs - (w * mean).sum()

    def _fit(self, x: Tensor, y: Tensor, w: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
        w, b = w.clone().requires_grad_(True), b.clone().requires_grad_(True)
        opt = torch.optim.LBFGS(
            [w, b],
            lr=1.0,
            max_iter=self.cfg.max_iter,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-6,
            tolerance_change=1e-9,
        )

        def closure() -> Tensor:
            opt.zero_grad()
            logits = nn.functional.linear(x, w, b).squeeze(-1)
            loss = nn.functional.binary_cross_entropy_with_logits(logits, y) + 0.5 * self.cfg.l2 * (w * w).sum()
            loss.backward()
            return loss

        opt.step(closure)
        return w.detach(), b.detach()

    def _paper(self, views: list[SupernetView], init: list[tuple[Tensor, Tensor]]) -> list[tuple[Tensor, Tensor]]:
        params = [(w.requires_grad_(True), b.requires_grad_(True)) for w, b in init]
        opts = [torch.optim.Adagrad([w, b], lr=self.cfg.lr) for w, b in params]
        if self.paper_passes == 1:  # the rows stream through every body, one lookup per batch for all candidates
            for batch in self.train_batches[: len(self.paper_schedule)]:
                with torch.no_grad():
                    emb = self._embed(batch)
                    feats = [v.head_inputs(emb) for v in views]
                    label = batch.label.to(self.device)
                for x, head, opt in zip(feats, params, opts, strict=True):
                    _adagrad_step(x, label, head, opt)
            return [(w.detach(), b.detach()) for w, b in params]
        # several passes: a candidate's head inputs computed once where they fit PAPER_CACHE_BYTES, every pass
        # run on them; else each step's rows through the body
        dense, sparse, y = (
            torch.cat([getattr(b, f) for b in self.train_batches]) for f in ("dense", "sparse", "label")
        )
        y, schedule = y.to(self.device), [(rows, rows.to(self.device)) for rows in self.paper_schedule]
        for view, head, opt in zip(views, params, opts, strict=True):
            cached = self._cached_inputs(view)
            for rows, on_device in schedule:
                if cached is None:
                    with torch.no_grad():
                        x = view.head_inputs(
                            self.supernet.embed(dense[rows].to(self.device), sparse[rows].to(self.device))
                        )
                else:
                    x = cached[on_device]
                _adagrad_step(x, y[on_device], head, opt)
        return [(w.detach(), b.detach()) for w, b in params]

    @torch.no_grad()
    def _cached_inputs(self, view: SupernetView) -> Tensor | None:
        """`view`'s head inputs for every row of `train_batches`, or None where they exceed PAPER_CACHE_BYTES."""
        n = self.train_row_count
        out: Tensor | None = None
        at = 0
        for batch in self.train_batches:
            x = view.head_inputs(self._embed(batch))
            if out is None:
                if n * x.shape[1] * x.element_size() > PAPER_CACHE_BYTES:
                    return None
                out = x.new_empty((n, x.shape[1]))
            out[at : at + len(x)] = x
            at += len(x)
        return out


def _adagrad_step(x: Tensor, label: Tensor, head: tuple[Tensor, Tensor], opt: torch.optim.Optimizer) -> None:
    """One step of the head's logistic loss on features `x`."""
    w, b = head
    opt.zero_grad()
    nn.functional.binary_cross_entropy_with_logits(nn.functional.linear(x, w, b).squeeze(-1), label).backward()
    opt.step()
