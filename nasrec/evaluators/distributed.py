"""Devices and data-parallel training on PyTorch's own engine (torchrun + torch.distributed).

`resolve_device("auto")` picks CUDA when present. `DataParallel.from_env()` reads torchrun's environment
(RANK, WORLD_SIZE, LOCAL_RANK) and joins the process group: gloo on CPU, nccl on CUDA.

Why not wrap the supernet in `torch.nn.parallel.DistributedDataParallel`: DDP all-reduces every registered
parameter's bucket (the whole supernet, ~50M floats, each step) and only sees gradients on the parameters
themselves, while the supernet trains through exact-size leaves of the sampled subnet (`SlicedAdagrad`). So
the gradient averaging DDP would do is done here on what the step touched: the subnet's leaf gradients
(all-reduce) and the embedding's sparse gradient (all-gather of its rows). Every rank draws the same subnet
at every step (the path is a function of seed and step), so the leaves line up across ranks.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

from nasrec.errors import UsageError


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """`cpu`, `cuda`, `cuda:N` or `auto` (CUDA when available). Under torchrun, `cuda` is this rank's GPU."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"--device {device}: CUDA is not available on this machine (use cpu or auto)")
        return torch.device(device if ":" in device else f"cuda:{local_rank % torch.cuda.device_count()}")
    if device != "cpu":
        raise UsageError(f"--device must be cpu, cuda, cuda:N or auto, got {device!r}")
    return torch.device("cpu")


@dataclass
class DataParallel:
    """This process's place in a data-parallel job (world_size 1: a plain single process)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: torch.device) -> DataParallel:
        """Join the torchrun job described by the environment, if any (idempotent)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return cls(
            rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=int(os.environ.get("LOCAL_RANK", "0"))
        )

    def check_batch(self, batch_size: int) -> int:
        """Rows per rank of one global batch."""
        if batch_size % self.world_size:
            raise UsageError(
                f"batch size {batch_size} does not split over {self.world_size} processes; use a "
                f"multiple of {self.world_size}"
            )
        return batch_size // self.world_size

    def broadcast_(self, module: nn.Module) -> None:
        """Start every rank from rank 0's parameters and buffers (as DDP does)."""
        if self.enabled:
            for t in [*module.parameters(), *module.buffers()]:
                dist.broadcast(t.data, src=0)

    def mean_loss(self, loss: Tensor) -> Tensor:
        """The global batch's mean loss (for logs and the NaN guard: every rank stops together)."""
        if not self.enabled:
            return loss.detach()
        total = loss.detach().clone()
        dist.all_reduce(total)
        return total / self.world_size

    def average_gradients(self, leaves: Iterable[Tensor], sparse: Iterable[nn.Parameter]) -> None:
        """Average dense leaf gradients (all-reduce) and sparse embedding gradients (all-gather of the looked-up
        rows, values divided by the world size) over the ranks: the gradient of the global batch's mean loss."""
        if not self.enabled:
            return
        for leaf in leaves:
            if leaf.grad is None:
                leaf.grad = torch.zeros_like(leaf)
            dist.all_reduce(leaf.grad)
            leaf.grad.div_(self.world_size)
        for p in sparse:
            if p.grad is None:
                continue
            g = p.grad  # uncoalesced: one row per lookup, the same count on every rank (equal batch shares)
            idx, val = g._indices().contiguous(), g._values().contiguous()
            idxs = [torch.empty_like(idx) for _ in range(self.world_size)]
            vals = [torch.empty_like(val) for _ in range(self.world_size)]
            dist.all_gather(idxs, idx)
            dist.all_gather(vals, val)
            p.grad = torch.sparse_coo_tensor(torch.cat(idxs, 1), torch.cat(vals) / self.world_size, g.shape)

    def any(self, flag: bool, device: torch.device) -> bool:
        """Whether `flag` holds on any rank: every rank gets the same answer (one all-reduce on `device`)."""
        if not self.enabled:
            return flag
        t = torch.tensor([float(flag)], device=device)
        dist.all_reduce(t, dist.ReduceOp.MAX)
        return bool(t.item())

    def raise_together(self, error: Exception | None, device: torch.device) -> None:
        """After checks rank 0 alone makes (its folder's lock and config): every rank raises rank 0's `error`
        (the others as a `UsageError` of its message), or none does; one broadcast of the message's bytes."""
        if not self.enabled:
            if error is not None:
                raise error
            return
        said = str(error or "")
        if isinstance(error, OSError) and error.filename:  # as the CLI words it on rank 0
            said = f"{error.filename}: {error.strerror}"
        message = torch.tensor(list(said.encode()), dtype=torch.uint8, device=device)
        size = torch.tensor([message.numel()], device=device)
        dist.broadcast(size, src=0)
        if not size.item():
            return
        if not self.is_main:
            message = torch.empty(int(size.item()), dtype=torch.uint8, device=device)
        dist.broadcast(message, src=0)
        if error is not None:
            raise error
        raise UsageError(bytes(message.tolist()).decode())

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def all_equal(self, module: nn.Module) -> bool:
        """Whether every rank holds the same parameters (compares a float64 checksum per tensor)."""
        if not self.enabled:
            return True
        sums = torch.stack([p.detach().double().sum() for p in module.parameters()])
        lo, hi = sums.clone(), sums.clone()
        dist.all_reduce(lo, dist.ReduceOp.MIN)
        dist.all_reduce(hi, dist.ReduceOp.MAX)
        return bool(torch.equal(lo, hi))
