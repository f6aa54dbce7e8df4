"""`genotype`: validate, inspect, sample, mutate, diff, convert and render genotype files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from nasrec.cli.common import (
    COMPACT,
    Version,
    check_seed,
    console,
    err_console,
    features_of,
    load_checked,
    load_genotype,
    load_with_format,
    space_path,
    table,
    user_errors,
    warnings_as_lines,
    write_or_print,
)
from nasrec.genotype.sampling import DEFAULT_SAMPLER

app = typer.Typer(
    help="Work with genotype files (JSON descriptions of CTR architectures).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(version: Version = False) -> None:
    """`genotype`'s own options (--version); its commands do the work."""
    warnings_as_lines()


Out = Annotated[Path | None, typer.Option("-o", "--out", help="Write here instead of stdout.")]
Space = Annotated[str | None, typer.Option(help="Check against this space (preset or JSON file; default: the file's).")]


FORMATS = ("auto", "nasrec", "nasrec-ref")


def input_format(value: str) -> str:
    """`--from`'s value, checked (a one-line error, like every other bad option, not click's usage box)."""
    from nasrec.errors import UsageError

    if value not in FORMATS:
        raise UsageError(f"--from: {', '.join(FORMATS)}, got {value!r}")
    return value


@app.command()
@user_errors
def validate(
    files: Annotated[list[str], typer.Argument(help="Genotype files (ours or NasRec-ref) or zoo:<name>.")],
    space: Space = None,
) -> None:
    """Check files structurally and against their search space; exit 1 on the first bad one. Connections no
    operator reads (legal, and ignored) are warned about, except in genotypes read from NasRec-ref files, which
    list every connection of every block."""
    for ref in files:
        g = load_checked(ref, space)
        warn_unread(ref, g)
        console.print(
            f"ok  {ref}  {g.digest()}  space={space or g.space or '-'}  active={g.active_blocks()}", highlight=False
        )


def warn_unread(ref: str, g) -> None:
    """A `warning:` line on stderr per connection of `g` (read from `ref`) that no operator reads, except in
    genotypes read from NasRec-ref files, which list every connection of every block."""
    if "nasrec_ref" not in g.meta:
        for path, rule in g.unread_inputs():
            err_console.print(f"warning: {ref}: {path}: {rule}", highlight=False)


@app.command()
@user_errors
def info(
    file: Annotated[str, typer.Argument(help="Genotype file, NasRec-ref file or zoo:<name>.")],
    features: Annotated[
        str | None,
        typer.Option(
            help="Features for the cost: criteo, avazu or kdd (the paper's shapes, 500,000 rows a table), sample:NAME "
            "or a prepared data folder."
        ),
    ] = None,
    layernorm: Annotated[
        bool | None,
        typer.Option(
            "--layernorm/--no-layernorm",
            help="Count LayerNorm parameters in the cost (default: on, or a NasRec-ref file's use_layernorm, as "
            "the model is built).",
        ),
    ] = None,
    space: Space = None,
) -> None:
    """Blocks, active blocks, dead parts, digest, space (and parameters and FLOPs with --features); connections
    no operator reads are warned about, as by validate."""
    g = load_checked(file, space)
    warn_unread(file, g)
    if features is not None:
        shape = features_of(features, None, "--features")  # a bad name fails before anything is printed
    active = set(g.active_blocks())
    rows = table(
        "block",
        "dense",
        "sparse",
        "dense in",
        "sparse in",
        "left/right",
        "mergers",
        "active",
        title=f"{file}  space={g.space or '-'}  digest={g.digest()}",
        **COMPACT,  # NASRec-Full's widest rows fit 80 columns
    )
    dead = []
    for k, (b, lv) in enumerate(zip(g.canonical().blocks, g.liveness(), strict=True), start=1):
        ins = b.inputs
        mergers = " ".join(n for n, on in (("d2s", b.dense_to_sparse), ("s2d/fm", b.sparse_to_dense)) if on)
        rows.add_row(
            str(k),
            f"{'+'.join(b.dense.ops)} {b.dense.dim}",
            f"{'+'.join(b.sparse.ops)} {b.sparse.dim}",
            _fmt(ins.dense),
            _fmt(ins.sparse),
            "-" if ins.left is None else f"{ins.left}/{ins.right}",
            mergers or "-",
            ("partly" if lv.dead_parts(b) else "yes") if k in active else "no",
        )
        if k in active:
            dead += [f"block {k} {part}" for part in lv.dead_parts(b)]
    console.print(rows)
    console.print(f"active blocks: {sorted(active)}", highlight=False)
    console.print(f"unused parts of active blocks: {', '.join(dead) or 'none'}", highlight=False)
    if g.meta:
        console.print(f"meta: {json.dumps(g.meta)}", highlight=False, soft_wrap=True)
    if features is not None:
        from nasrec.compiler.cost import cost
        from nasrec.genotype.io import ref_layernorm

        if layernorm is None:  # as `nasrec evaluate` and `export` build it
            layernorm = ref_layernorm(g) is not False
        c = cost(g, shape, layernorm=layernorm)
        console.print(
            f"cost on {features}: dense params {c.dense_params:,}  embedding params "
            f"{c.embedding_params:,}  FLOPs/example {c.flops:,} (reference convention "
            f"{c.flops_ref:,})  embedding lookups/example {c.embedding_lookups}",
            highlight=False,
        )


def _fmt(nodes) -> str:
    return "-" if nodes is None else ",".join(map(str, nodes))


@app.command()
@user_errors
def sample(
    space: Annotated[str, typer.Option(help="Preset name or search-space JSON file.")] = "nasrec-full",
    sampler: Annotated[
        str, typer.Option(help="Path sampler: single-operator-any-connection, single-path, any-path or all-operators.")
    ] = DEFAULT_SAMPLER,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    out: Out = None,
) -> None:
    """Draw a genotype from a search space with a path sampler."""
    from nasrec.genotype.sampling import sample as draw

    check_seed(seed)
    write_or_print(draw(space_path(space), sampler, seed).to_json(), out)


@app.command()
@user_errors
def mutate(
    file: Annotated[str, typer.Argument(help="Genotype file, NasRec-ref file or zoo:<name>.")],
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    space: Annotated[str | None, typer.Option(help="Search space (default: the file's).")] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            help="Mutation: dense_dim, sparse_dim, dense_op, sparse_op, connections, mergers (default: random)."
        ),
    ] = None,
    multi_op: Annotated[
        bool,
        typer.Option(
            "--multi-op",
            help="An operator mutation may give a one-operator branch several operators (a search over several"
            " operators per branch; default: one operator stays one, as in the paper).",
        ),
    ] = False,
    out: Out = None,
) -> None:
    """Apply one of the paper's six mutations; the child records its parent's digest."""
    from nasrec.errors import UsageError
    from nasrec.genotype.errors import GenotypeError
    from nasrec.genotype.mutation import MUTATIONS
    from nasrec.genotype.mutation import mutate as do_mutate
    from nasrec.registry import UnknownNameError

    check_seed(seed)
    if out is not None and Path(out).exists() and Path(out).resolve() == Path(file).resolve():
        raise UsageError(f"-o {out} is the parent's file; write the child to another file")
    if kind is not None:
        try:
            MUTATIONS.get(kind)
        except UnknownNameError as exc:  # the registry's words, naming the option
            raise UsageError(f"--kind: {exc}") from None
    g = load_checked(file, space)  # outside the space: the file and the JSON path are named
    if space is None and g.space is None:
        raise UsageError(f"{file}: the genotype names no space; name one with --space")
    try:
        child = do_mutate(g, seed, None if space is None else space_path(space), kind, multi_op=multi_op)
    except GenotypeError as exc:
        raise GenotypeError(f"{file}: {exc}") from None
    write_or_print(child.to_json(), out)


@app.command()
@user_errors
def diff(
    a: Annotated[str, typer.Argument(help="Genotype file, NasRec-ref file or zoo:<name>.")],
    b: Annotated[str, typer.Argument(help="The other genotype, the same ways.")],
) -> None:
    """Per-block, per-field differences between two genotypes (exit 0 either way). The architectures are
    compared: connections no operator reads are ignored, and warned about as by validate."""
    from nasrec.genotype.diff import diff as do_diff

    ga, gb = load_genotype(a), load_genotype(b)
    warn_unread(a, ga)
    warn_unread(b, gb)
    lines = do_diff(ga, gb)
    console.print("\n".join(lines) if lines else "same architecture", highlight=False)


@app.command()
@user_errors
def convert(
    file: Annotated[str, typer.Argument(help="Input file.")],
    from_: Annotated[
        str, typer.Option("--from", help="Input format: auto (told apart by the keys), nasrec or nasrec-ref.")
    ] = "auto",
    to: Annotated[
        str | None, typer.Option(help="Output format, nasrec or nasrec-ref (default: the other one).")
    ] = None,
    out: Out = None,
) -> None:
    """Convert between our format and NasRec-ref files (`micro`/`macro`)."""
    from nasrec.errors import UsageError
    from nasrec.genotype.errors import GenotypeError
    from nasrec.genotype.io import to_nasrec_ref

    if to is not None and to not in ("nasrec", "nasrec-ref"):
        raise UsageError(f"--to: nasrec or nasrec-ref, got {to!r}")
    if out is not None and Path(out).exists() and Path(out).resolve() == Path(file).resolve():
        raise UsageError(f"-o {out} is the input file; write the converted genotype to another file")
    g, source = load_with_format(file, input_format(from_))
    target = to if to is not None else ("nasrec" if source == "nasrec-ref" else "nasrec-ref")
    try:
        data = to_nasrec_ref(g) if target == "nasrec-ref" else g.to_dict()
    except GenotypeError as exc:
        raise UsageError(f"{file}: {exc}") from None
    write_or_print(json.dumps(data, indent=2), out)


@app.command()
@user_errors
def encode(
    file: Annotated[str, typer.Argument(help="Genotype file, NasRec-ref file or zoo:<name>.")],
    space: Space = None,
    canonical: Annotated[
        bool, typer.Option("--canonical/--as-written", help="Encode the canonical form (sources nothing reads: 0).")
    ] = True,
    out: Out = None,
) -> None:
    """The reference tokenizer's vector (280 numbers for NASRec-Full, 259 for NASRec-Small) as a JSON list:
    the encoding predictor-guided evolution's surrogate reads (`--as-written`: exactly the reference's own
    tokenizer's vector of a NasRec-ref file)."""
    from nasrec.errors import UsageError
    from nasrec.genotype import get_space
    from nasrec.genotype.encoding import reference_tokens

    g = load_checked(file, space)
    name = space or g.space
    if name is None:
        raise UsageError(f"{file}: the encoding is over a search space's choices; name one with --space")
    write_or_print(json.dumps(reference_tokens(g, get_space(name), canonical).tolist()), out)


@app.command()
@user_errors
def schema(out: Out = None) -> None:
    """Print the JSON Schema of the genotype format."""
    from nasrec.genotype.schema import Genotype

    write_or_print(json.dumps(Genotype.json_schema(), indent=2), out)


@app.command()
@user_errors
def render(
    file: Annotated[str, typer.Argument(help="Genotype file, NasRec-ref file or zoo:<name>.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--out",
            help="Output path (default: FILE with the format's suffix; zoo:NAME: NAME.<format> here).",
        ),
    ] = None,
    format: Annotated[
        str | None, typer.Option("--format", help="svg, png, pdf or dot (default: from the -o suffix, else svg).")
    ] = None,
    from_: Annotated[str, typer.Option("--from", help="Input format: auto, nasrec or nasrec-ref.")] = "auto",
    space: Space = None,
    hide_unused: Annotated[
        bool, typer.Option("--hide-unused", help="Leave out the operators and blocks that reach nothing.")
    ] = False,
) -> None:
    """Draw the architecture like the paper's figures (graphviz)."""
    from nasrec.errors import UsageError
    from nasrec.genotype.errors import GenotypeError
    from nasrec.viz.render import render as do_render
    from nasrec.viz.render import render_format

    suffix = f".{render_format('x', format)}"
    target = out or (
        Path(file.removeprefix("zoo:") + suffix) if file.startswith("zoo:") else Path(file).with_suffix(suffix)
    )
    if not file.startswith("zoo:") and target.resolve() == Path(file).resolve():
        if out is None:
            raise UsageError(
                f"{file}: the default output (FILE with the {suffix} suffix) is the genotype file itself; "
                "name the drawing with -o"
            )
        raise UsageError(f"-o {target}: that is the genotype file itself; choose another name")
    g = load_checked(file, space, input_format(from_))
    try:
        written = do_render(g, target, format=format, hide_unused=hide_unused)
    except GenotypeError as exc:
        raise GenotypeError(f"{file}: {exc}") from None
    console.print(f"wrote {written}", highlight=False)


@app.command()
@user_errors
def spaces() -> None:
    """List the preset search spaces with their exact sizes."""
    from nasrec.genotype.space import PRESETS

    rows = table("space", "blocks", "dense ops", "sparse ops", "dense dims", "sparse dims", "genotypes")
    for s in PRESETS.values():
        rows.add_row(
            s.name,
            str(s.num_blocks),
            ", ".join(s.dense_ops),
            ", ".join(s.sparse_ops),
            ",".join(map(str, s.dense_dims)),
            ",".join(map(str, s.sparse_dims)),
            f"{s.cardinality():.3e}",
        )
    console.print(rows)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
