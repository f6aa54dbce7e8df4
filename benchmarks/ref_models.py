"""The six NasRec-ref published models at their datasets' shapes: live blocks, dead parts, dense parameters
and FLOPs per example against the reference README's FLOPs column. Prints the Markdown table that README.md
and docs/compiler.md carry (a test checks they match).

    .venv/bin/python benchmarks/ref_models.py
"""

from __future__ import annotations

from pathlib import Path

from nasrec.compiler import cost
from nasrec.data.spec import preset
from nasrec.genotype import load

REF = Path(__file__).resolve().parents[1] / "tests" / "data" / "nasrec_ref"
MODELS = (  # (label, file stem, reference README FLOPs in millions)
    ("Criteo Small", "criteo_ea_criteo_kaggle_autoctr", 2.20),
    ("Criteo Full", "criteo_ea_criteo_kaggle_xlarge", 1.45),
    ("Avazu Small", "avazu_ea_avazu_kaggle_autoctr", 3.08),
    ("Avazu Full", "avazu_ea_avazu_kaggle_xlarge", 1.87),
    ("KDD Small", "kdd_ea_kdd_kaggle_autoctr", 3.48),
    ("KDD Full", "kdd_ea_kdd_kaggle_xlarge", 1.09),
)
HEADER = (
    "| model | blocks reaching the head | unused parts inside them | dense params, LN off | dense params, LN on "
    "| FLOPs, reference convention | reference README | diff | FLOPs, every operator |"
)


def rows() -> list[str]:
    out = [HEADER, "|---|---|---|---|---|---|---|---|---|"]
    for label, stem, ref in MODELS:
        g = load(REF / f"{stem}_best_1shot.json")
        features = preset(stem.split("_")[0], cap=1000)  # table sizes do not change dense params or FLOPs
        off, on = cost(g, features, layernorm=False), cost(g, features, layernorm=True)
        live = g.active_blocks()
        dead = [
            f"{k}: {', '.join(lv.dead_parts(b))}"
            for k, (b, lv) in enumerate(zip(g.canonical().blocks, g.liveness(), strict=True), start=1)
            if lv.live and lv.dead_parts(b)
        ]
        diff = (off.flops_ref / 1e6 - ref) / ref
        out.append(
            f"| {label} | {len(live)}/{g.num_blocks} | {'; '.join(dead) or '-'} | {off.dense_params / 1e6:.3f}M "
            f"| {on.dense_params / 1e6:.3f}M | {off.flops_ref / 1e6:.3f}M | {ref:.2f}M | {diff:+.1%} "
            f"| {off.flops / 1e6:.3f}M |"
        )
    return out


if __name__ == "__main__":
    print("\n".join(rows()))
