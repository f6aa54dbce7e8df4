"""Genotypes that differ from a given one only in a dead part (shared by the genotype and compiler tests)."""

from __future__ import annotations

from nasrec.genotype import Genotype, SearchSpace, get_signature


def dead_twins(g: Genotype, space: SearchSpace) -> list[tuple[str, Genotype]]:
    """(what changed, genotype) for each dead part of `g` that can be changed within `space`: a dead merger
    switched off, a dead branch given another operator (with any input it then needs) or another dim, and a
    dead block given another dense dim."""
    g = g.canonical()
    out = []
    for k, (block, lv) in enumerate(zip(g.blocks, g.liveness(), strict=True), start=1):
        data = block.model_dump()
        for merger in ("dense_to_sparse", "sparse_to_dense"):
            if getattr(block, merger) and not getattr(lv, merger):
                out.append((f"block {k} {merger} off", {**data, merger: False}))
        for branch in ("dense", "sparse"):
            if getattr(lv, f"{branch}_ops"):
                continue
            choice = getattr(block, branch)
            for op in getattr(space, f"{branch}_ops"):
                if op not in choice.ops:
                    new = {**data, branch: {"ops": (op,), "dim": choice.dim}, "inputs": dict(data["inputs"])}
                    reads = get_signature(op).reads
                    for field in ("dense", "sparse"):
                        if field in reads and new["inputs"][field] is None:
                            new["inputs"][field] = (0,)
                    if "pair" in reads and new["inputs"]["left"] is None:
                        new["inputs"] |= {"left": 0, "right": 0}
                    out.append((f"block {k} {branch} op {op}", new))
                    break
            dims = [d for d in getattr(space, f"{branch}_dims") if d != choice.dim]
            if dims:
                out.append((f"block {k} {branch} dim {dims[0]}", {**data, branch: {**data[branch], "dim": dims[0]}}))
    twins = []
    for what, block in out:
        k = int(what.split()[1])
        blocks = [b.model_dump() for b in g.blocks]
        blocks[k - 1] = block
        twins.append((what, Genotype.from_dict({"schema_version": 1, "space": g.space, "blocks": blocks}).canonical()))
    return twins
