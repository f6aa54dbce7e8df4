"""`nasrec export`: a genotype's standalone model as an ONNX file or a torch.export program, checked."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nasrec.cli.common import check_cap, console, features_of, load_checked, note, user_errors
from nasrec.errors import UsageError
from nasrec.genotype.io import ref_layernorm

if TYPE_CHECKING:
    from nasrec.evaluators.supernet_training import SupernetTrainingConfig


def model_for(
    genotype, weights: Path | None, data: str | None, cap: int | None, layernorm: bool | None, name: str = "genotype"
):
    """The standalone model: weights sliced from a supernet checkpoint (`is_supernet`; `layernorm`, when given,
    must be the supernet's), loaded from standalone weights (`save_weights`' file, which records its
    architecture and build: one of another architecture is refused, and `data`, `cap` and `layernorm` are
    optional and must match it; or a state dict, which needs `data`), or fresh (seed 0) without `weights`
    (`layernorm` None: with LayerNorm). `name`: the genotype as the user gave it, in messages."""
    from nasrec.evaluators.checkpoint import load_checkpoint

    state = None if weights is None else peek(weights)
    if weights is not None and is_supernet(weights, state):
        return _inherited(genotype, weights, state or {}, data, cap, layernorm, name)
    if weights is None:
        if data is None:
            raise UsageError(
                "--data is needed (the features) without --weights (a supernet checkpoint or saved weights)"
            )
        return _with_inputs(_fresh(genotype, features_of(data, cap), layernorm), data)
    state = state if state is not None else load_checkpoint(weights, mmap=True)
    return _loaded(genotype, weights, state, data, cap, layernorm, name)


def _with_inputs(model, data: str | None, recorded: dict | None = None):
    """`model` with the input contract it is exported with: `recorded` (a weights file's), else that of the
    prepared data `data` names (none for the paper's shapes, or data prepared before nasrec kept it)."""
    from nasrec.data.inputs import input_contract
    from nasrec.data.spec import PRESETS

    if recorded is None and data is not None and data not in PRESETS:
        from nasrec.evaluators.data_ref import open_data

        recorded = input_contract(open_data(data), data)
    model.inputs = recorded
    return model


def _fresh(genotype, features, layernorm: bool | None, norm_raw_fm: bool = False):
    import torch

    from nasrec.compiler import compile_standalone

    torch.manual_seed(0)
    if layernorm is None:
        layernorm = ref_layernorm(genotype)  # a NasRec-ref file's use_layernorm, else None: on
    return compile_standalone(genotype, features, layernorm=layernorm is not False, norm_raw_fm=norm_raw_fm)


def _loaded(genotype, weights: Path, state: dict, data: str | None, cap: int | None, layernorm: bool | None, name):
    """`genotype`'s model with the standalone weights `weights` (loaded: `state`), built as the file records or,
    for a file that records no build, for `data`'s features."""
    from nasrec.compiler.standalone import recorded_build, recorded_digest

    theirs, ours = recorded_digest(state), genotype.active_digest()
    if theirs is not None and theirs != ours:
        raise UsageError(
            f"--weights {weights}: weights of another architecture (active digest {theirs}) than {name}'s "
            f"({ours}); export them with the genotype they were saved for, or give {name}'s own weights"
        )
    try:
        build = recorded_build(state)
    except ValueError as exc:
        raise UsageError(f"--weights {weights}: {exc}; was it written by another nasrec version?") from None
    if build is None:
        if data is None:
            raise UsageError(
                f"--data is needed (the features): --weights {weights} holds a standalone model's weights that "
                "record no features"
            )
        model = _fresh(genotype, features_of(data, cap), layernorm)
    else:
        _check_build(weights, build, data, cap, layernorm)
        model = _fresh(genotype, build.features, build.layernorm, build.norm_raw_fm)
    state = state.get("model", state)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        lines = str(exc).splitlines()
        first = (lines[1] if len(lines) > 1 else lines[0]).strip()
        if build is not None:  # no flag can help: the file says how it was built
            reason = f"its weights do not fit the build it records ({first})"
        else:
            misfit = _misfit(genotype, model.features, model, state, model.ctx.layernorm)
            reason = misfit or f"not this genotype's standalone weights ({first})"
        raise UsageError(f"--weights {weights}: {reason}") from None
    return _with_inputs(model, data, None if build is None else build.inputs)


def _check_build(weights: Path, build, data: str | None, cap: int | None, layernorm: bool | None) -> None:
    """Flags that contradict the build a standalone weights file records are refused, as for a supernet."""
    recorded = build.features.cap or 0
    if cap is not None and cap != recorded:
        theirs = f"{recorded:,} rows" if recorded else "uncapped tables"
        raise UsageError(f"--cap {cap}: the weights {weights} were trained with {theirs}; leave --cap out")
    if data is not None and features_of(data, recorded) != build.features:
        raise UsageError(f"--data {data}: not the features the weights {weights} were trained on; leave --data out")
    if layernorm is not None and layernorm != build.layernorm:
        flag, has = ("--layernorm", "without") if layernorm else ("--no-layernorm", "with")
        raise UsageError(f"{flag}: the weights {weights} are of a model {has} LayerNorm; leave the flag out")


def peek(weights: Path) -> dict | None:
    """The entries of `weights` (tensors mapped, not read) where a `config.json` lies beside it, so that its
    content can say what it is; None without one, or where it cannot be read (`load_supernet` names why)."""
    from nasrec.evaluators.checkpoint import load_checkpoint

    if not (weights.parent / "config.json").is_file():
        return None
    try:
        return load_checkpoint(weights, mmap=True)
    except UsageError:
        return None


def is_supernet(weights: Path, state: dict | None) -> bool:
    """Whether `weights` is a supernet checkpoint: a training checkpoint (weights under `model`) with the
    supernet's `config.json` beside it. Standalone weights (a state dict, or a file recording its
    architecture's digest) are standalone wherever they lie; an unreadable file beside a config.json is taken
    for a supernet's (its error names the file)."""
    from nasrec.compiler.standalone import DIGEST_ENTRY

    if not (weights.parent / "config.json").is_file():
        return False
    return state is None or ("model" in state and DIGEST_ENTRY not in state)


def _inherited(
    genotype, weights: Path, state: dict, data: str | None, cap: int | None, layernorm: bool | None, name: str
):
    """`genotype`'s model with its weights sliced from the supernet checkpoint `weights` (peeked: `state`);
    a note on stderr when its training is unfinished."""
    from nasrec.compiler import compile_standalone
    from nasrec.evaluators.supernet_training import SupernetTrainingConfig, load_supernet
    from nasrec.genotype.errors import GenotypeError

    try:
        supernet = load_supernet(weights)
    except GenotypeError as exc:  # its space: e.g. a file named relative to where it was trained
        raise UsageError(
            f"--weights {weights}: the supernet's space ({weights.parent / 'config.json'}): {exc}"
        ) from None
    if cap is not None and (cap or None) != supernet.features.cap:
        theirs = f"{supernet.features.cap:,} rows" if supernet.features.cap else "uncapped tables"
        raise UsageError(f"--cap {cap}: the supernet {weights} was trained with {theirs}; leave --cap out")
    wanted = None if data is None else features_of(data, supernet.features.cap or 0)
    if wanted is not None and wanted != supernet.features:
        raise UsageError(f"--data {data}: not the features the supernet {weights} was trained on")
    if layernorm is not None and layernorm != supernet.layernorm:
        flag, has = ("--layernorm", "without") if layernorm else ("--no-layernorm", "with")
        raise UsageError(f"{flag}: the supernet {weights} builds its models {has} LayerNorm; leave the flag out")
    try:
        supernet.space.check(genotype)
    except GenotypeError as exc:
        raise UsageError(f"{name}: not in the space of supernet {weights}: {exc}") from None
    config = SupernetTrainingConfig.model_validate_json((weights.parent / "config.json").read_text())  # read above
    progress = unfinished(config, state)
    if progress is not None:
        note(
            f"{weights} is an unfinished supernet (step {progress[0]:,} of {progress[1]:,}); its weights are "
            "exported as they are"
        )
    if config.center_logits:
        note(
            f"{weights} was trained on batch-centred logits (center_logits): the model ranks rows as its subnet "
            "does, but its logits carry an offset no training set, so its click probabilities are not calibrated; "
            f"fine-tune it first (nasrec evaluate {name} --data {config.data} --inherit {weights} --save-weights FILE) "
            "and export FILE"
        )
    return _with_inputs(compile_standalone(genotype, supernet.features, inherit=supernet), config.data)


def unfinished(config: SupernetTrainingConfig, state: dict) -> tuple[int, int] | None:
    """(step, total) of a supernet checkpoint (`state`, trained by `config`) whose training stopped before its
    last step: the step it records, the total the recipe plans over its data's train split. None when finished
    or when the checkpoint records no step."""
    from nasrec.evaluators.data_ref import open_data
    from nasrec.evaluators.training import total_steps

    step = state.get("step")
    if not isinstance(step, int):
        return None
    total = total_steps(
        config.train.epochs, open_data(config.data).split("train").full_batches(config.train.batch_size)
    )
    return (step, total) if step < total else None


def _shapes(state) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items() if hasattr(v, "shape")}


def _misfit(genotype, features, model, state, layernorm: bool) -> str | None:
    """Why a standalone state dict that does not load into `model` is still this genotype's, where it can be
    told: built with the other LayerNorm setting (its keys and shapes are those of that model), over other
    embedding tables (only `embedding.table.weight` has another number of rows), or for other features (the
    tables and the layers whose widths follow the numbers of features). None: none of these."""
    from nasrec.compiler import compile_standalone

    table = "embedding.table.weight"
    given, ours = _shapes(state), _shapes(model.state_dict())
    if given.keys() != ours.keys():
        other = _shapes(compile_standalone(genotype, features.with_cap(2), layernorm=not layernorm).state_dict())
        if other.keys() == given.keys() and all(other[k] == given[k] for k in other if k != table):  # 2-row tables
            has, flag = ("without", "--no-layernorm") if layernorm else ("with", "--layernorm")
            return f"this genotype's standalone weights {has} LayerNorm; try {flag}"
        return None
    differ = [k for k in ours if ours[k] != given[k]]
    if table in differ and ours[table][1:] == given[table][1:]:
        rows = f"its embedding tables have {given[table][0]:,} rows in all, these features' {ours[table][0]:,}"
        if differ == [table]:
            return f"{rows}; the tables differ: check --cap and --data"
        return (  # layers whose widths follow the number of dense or sparse features differ too
            f"the weights are for other features ({rows}, and {len(differ) - 1} layers sized by the numbers of "
            "dense and sparse features differ): check --data"
        )
    return None


SUFFIXES = {".onnx": "onnx", ".pt2": "torch-export"}


def format_for(out: Path, format: str | None) -> str:
    """The export format: `format`, else the one `out`'s suffix names (ONNX for any other). A suffix that names
    the other format is an error rather than a file whose name misleads; an unknown format is named first."""
    from nasrec.compiler.export import FORMATS

    if format is not None and format not in FORMATS:
        raise UsageError(f"--format: one of {', '.join(FORMATS)}, got {format!r}")
    by_suffix = SUFFIXES.get(out.suffix.lower())
    if format is None:
        return by_suffix or "onnx"
    if by_suffix is not None and by_suffix != format:
        raise UsageError(f"-o {out}: a {out.suffix} file holds {by_suffix}, not --format {format}; rename one of them")
    return format


@user_errors
def export_cmd(
    genotype: Annotated[str, typer.Argument(help="Genotype file, NasRec-ref file or zoo:<name>.")],
    out: Annotated[
        Path,
        typer.Option("-o", "--out", help="File to write: .pt2 a torch.export program, any other name ONNX (.onnx)."),
    ],
    data: Annotated[
        str | None,
        typer.Option(
            help="Features: criteo, avazu, kdd (the paper's shapes), sample:NAME or a prepared folder (default: "
            "those the --weights file records, a supernet's or save_weights')."
        ),
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            help="A supernet checkpoint (weights inherited) or standalone weights (a search's final/nasrecnet.pt, "
            "evaluate --save-weights' file, a state dict); default: fresh."
        ),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option("--format", help="onnx or torch-export (default: by the file's suffix, .pt2 or .onnx)."),
    ] = None,
    cap: Annotated[
        int | None,
        typer.Option(
            help="Embedding rows per table, 0: uncapped (default: 500,000 for criteo, avazu, kdd, as in training; "
            "a prepared folder's own; a supernet's, or what a --weights file records)."
        ),
    ] = None,
    layernorm: Annotated[
        bool | None, typer.Option(help="LayerNorm in every operator (default: on; as --weights records it).")
    ] = None,
    space: Annotated[str | None, typer.Option(help="Check against this space (default: the file's).")] = None,
) -> None:
    """Export a genotype's model for serving (batch dimension dynamic), then load the file back and check
    that it gives PyTorch's logits within 1e-5, relative above 1 (onnxruntime for ONNX)."""
    from nasrec.compiler.export import check_output, export_file

    check_cap(cap)
    check_output(out)
    if weights is not None and out.resolve() == weights.resolve():
        raise UsageError(f"-o {out}: that is the --weights file; write the export to another file")
    if out.exists():  # as evaluate --save-weights: a file is never replaced unasked
        raise UsageError(f"-o {out}: the file exists; remove it or name another")
    format = format_for(out, format)
    g = load_checked(genotype, space)
    model = model_for(g, weights, data, cap, layernorm, name=genotype)
    check = export_file(model, model.features, out, format)
    console.print(f"wrote {check}", highlight=False)
