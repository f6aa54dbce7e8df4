"""Dense parameters as views of one flat buffer, so that the slices a supernet view uses are one gather away.

A view's slices of ~100 parameters become one position list into the buffer (`FlatParams.positions`, a few
kernels on the buffer's device); on CUDA its local-gradient leaf is then one `index_select`, and `SlicedAdagrad`
updates it with a few index ops, instead of several small kernels per parameter (`INDEXED_DEVICES`). The parameters stay
ordinary `nn.Parameter`s with their names and shapes (state dicts are unchanged); only their storage is shared.

    flat = FlatParams([("a", nn.Parameter(torch.ones(2, 3))), ("b", nn.Parameter(torch.zeros(4)))])
    flat.data.shape                                 # torch.Size([11]); a is flat.data[:6].view(2, 3)
    pos = flat.positions([(a, Slicer((2, 3), (1, (0, 2))))])   # tensor([0, 2]): a[:1][:, [0, 2]]
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from nasrec.compiler.base import Slicer

INDEXED_DEVICES = frozenset({"cuda"})
"""Device types where a view's leaf is gathered, and `SlicedAdagrad` writes it back, by index over the flat buffer
(a few large kernels). Elsewhere (CPU) the same values are copied and updated slice by slice: there the ops cost
little to launch, and the scattered index ops more in memory traffic (~3x on the NASRec-Full supernet)."""


ALIGN = 16
"""Each slice in a view's flat leaf starts at a multiple of this many elements (64 bytes in float32), as a tensor
of its own would: GEMM and LayerNorm kernels take slower paths on misaligned operands (issue 18: -10 % steps/s at
batch 8,192 on an H200 without it). The gaps read and write the buffer's spare last element."""


def by_index(t: Tensor) -> bool:
    return t.device.type in INDEXED_DEVICES


def padded_sizes(sizes: list[int]) -> tuple[list[int], list[int]]:
    """The split sizes of a flat leaf holding pieces of `sizes` in turn, each aligned to `ALIGN` (gaps between
    them), and where each piece is among those splits."""
    out: list[int] = []
    where: list[int] = []
    done = 0
    for n in sizes:
        if done % ALIGN:
            out.append(ALIGN - done % ALIGN)
            done += out[-1]
        where.append(len(out))
        out.append(n)
        done += n
    return out, where


class FlatParams:
    """`params` (name, parameter) made views of one 1-D buffer `data`, in order; all of one dtype and device."""

    def __init__(self, params: list[tuple[str, nn.Parameter]]) -> None:
        self.names = [n for n, _ in params]
        self.params = [p for _, p in params]
        self.offsets: dict[int, int] = {}  # id(parameter) -> its first element in `data`
        total = 0
        for p in self.params:
            self.offsets[id(p)] = total
            total += p.numel()
        if len({(p.dtype, p.device) for p in self.params}) > 1:
            raise ValueError("a flat buffer needs its parameters on one dtype and device")
        first = self.params[0] if self.params else torch.empty(0)
        self.data = torch.empty(total + 1, dtype=first.dtype, device=first.device)
        self.spare = total  # belongs to no parameter: the gaps of `positions` point here
        with torch.no_grad():
            self.data[total] = 0
            for p in self.params:
                off = self.offsets[id(p)]
                view = self.data[off : off + p.numel()].view(p.shape)
                view.copy_(p)
                p.data = view

    def intact(self) -> bool:
        """True while every parameter is still the view of `data` it was made (a `.to()` or an assignment to
        `.data` replaces it)."""
        ptr, size = self.data.data_ptr(), self.data.element_size()
        return all(p.data_ptr() == ptr + self.offsets[id(p)] * size and p.is_contiguous() for p in self.params)

    def chunk(self, t: Tensor, p: nn.Parameter) -> Tensor:
        """The view of `t` (shaped like `data`, e.g. optimizer state) that `p` is of `data`."""
        off = self.offsets[id(p)]
        return t[off : off + p.numel()].view(p.shape)

    def chunks(self, t: Tensor) -> dict[str, Tensor]:
        """`t` cut into per-parameter views (`chunk`), by name."""
        return {n: self.chunk(t, p) for n, p in zip(self.names, self.params, strict=True)}

    def positions(self, slices: list[tuple[nn.Parameter, Slicer]]) -> Tensor:
        """Positions in `data` of the elements of every `slicer(p)` in turn (row-major), each slice aligned as
        `padded_sizes` says (gaps: `spare`), on `data`'s device.

        Each slice is an outer sum `rows[:, None] + cols[None, :]` (`Slicer.outer`); the host sends those short
        vectors in one copy and the device expands them to one position per element."""
        rows, shifts, lens = [], [], []
        cols = [np.zeros(ALIGN, dtype=np.int64)]  # a gap of k reads cols[:k]: k times `spare`
        done, n_cols = 0, ALIGN
        for p, s in slices:
            if done % ALIGN:
                gap = ALIGN - done % ALIGN
                rows.append(np.array([self.spare], dtype=np.int64))
                lens.append(np.array([gap], dtype=np.int64))
                shifts.append(np.array([-done], dtype=np.int64))
                done += gap
            r, c = s.outer(tuple(p.shape))
            off = self.offsets[id(p)]
            rows.append(r + off)
            lens.append(np.full(len(r), len(c), dtype=np.int64))
            # element e of row i reads cols[n_cols + (e - first element of row i)]
            shifts.append(n_cols - done - len(c) * np.arange(len(r), dtype=np.int64))
            done += len(r) * len(c)
            n_cols += len(c)
            cols.append(c)
        if not done:
            return torch.empty(0, dtype=torch.long, device=self.data.device)
        n_rows = sum(len(r) for r in rows)
        packed = torch.from_numpy(np.concatenate([*rows, *shifts, *lens, *cols]))
        packed = packed.to(self.data.device, non_blocking=True)  # pageable source: staged before it returns
        row_base, shift, length, col = packed.split([n_rows, n_rows, n_rows, n_cols])
        row = torch.repeat_interleave(length, output_size=done)  # row of each element
        col_at = torch.arange(done, device=packed.device).add_(shift.index_select(0, row))
        return row_base.index_select(0, row).add_(col.index_select(0, col_at))
