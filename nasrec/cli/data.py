"""`nasrec data ...`: prepare raw files, inspect prepared folders, prepare the bundled samples."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperCommand

from nasrec.cli.common import check_seed, show_warning, table
from nasrec.data import DataError, PreparedData, load_sample, prepare
from nasrec.data.errors import ON_BAD_ROWS
from nasrec.data.inputs import ENCODING_FILE, VOCAB_FILE, InputEncoding, read_encoding
from nasrec.data.options import DELIMITER, FIXED_SEPARATORS, MIN_COUNT
from nasrec.data.samples import SAMPLES

app = typer.Typer(help="Prepare and inspect CTR data.", no_args_is_help=True, add_completion=False)
out_console = Console(markup=False)  # file names and values printed as written
err_console = Console(stderr=True, soft_wrap=True, markup=False)


def _fail(message: str) -> None:
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _os_error(exc: OSError) -> str:
    """An operating system's refusal (no permission, disk full, a read-only folder) as one line naming the
    path."""
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Warnings raised meanwhile (e.g. a vocabulary grown too large) printed as they come, one `warning:` line
    each on stderr (`show_warning`), even those Python's filters show once or not at all."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show_warning
        yield


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _report(data: PreparedData) -> None:
    where = "cached" if data.cache_hit else "prepared"
    out_console.print(
        f"{where}: {data.path}  ({len(data):,} rows, positive rate {data.positive_rate:.4f})",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if data.positive_rate in (0.0, 1.0):
        err_console.print(
            f"warning: every row has label {data.positive_rate:g}: a model learns nothing from it, and AUC is "
            "undefined",
            markup=False,
            highlight=False,
        )
    if data.meta.bad_rows.total:
        unit = "rows" if data.meta.format == "parquet" else "lines"
        err_console.print(data.meta.bad_rows.summary(data.meta.source, unit), markup=False, highlight=False)
    if data.prob is not None:
        import numpy as np

        p = np.clip(np.asarray(data.prob, dtype=np.float64), 1e-12, 1 - 1e-12)
        bayes = float(np.mean(-(p * np.log(p) + (1 - p) * np.log1p(-p))))
        out_console.print(
            f"true click probabilities stored (prob.npy); Bayes rate {bayes:.4f} "
            f"(teacher: {data.meta.options.get('teacher', 'planted pairs')})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


class _KeepsArgs(TyperCommand):
    """A command that keeps its raw arguments (`ctx.meta["argv"]`): where they stand relative to each other."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.meta["argv"] = list(args)
        return super().parse_args(ctx, args)


def _files_before_option(ctx: typer.Context, option: str, n_positional: int) -> int:
    """How many of the `n_positional` positional arguments come before `option`'s value on the command line
    (0 where the raw arguments do not tell)."""
    argv: list[str] = ctx.meta.get("argv", [])
    takes_value = {
        name
        for p in ctx.command.params
        if p.param_type_name == "option" and not getattr(p, "is_flag", False)
        for name in p.opts
    }
    before, positional, i = None, 0, 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            positional += len(argv) - i - 1
            break
        if token.startswith("-") and len(token) > 1:
            name = token.split("=", 1)[0]
            before = positional if name == option else before
            i += name in takes_value and "=" not in token
        else:
            positional += 1
        i += 1
    return before if before is not None and positional == n_positional else 0


@app.command("prepare", cls=_KeepsArgs)
def prepare_cmd(
    ctx: typer.Context,
    more: list[Path] | None = typer.Argument(
        None,
        metavar="FILE",
        help="more Parquet files, with --parquet FILE (one table, rows in the command line's order)",
    ),
    criteo: Path | None = typer.Option(None, "--criteo", help="Criteo train.txt or day_N (plain or .gz)"),
    avazu: Path | None = typer.Option(None, "--avazu", help="Avazu train.csv (plain or .gz)"),
    kdd: Path | None = typer.Option(None, "--kdd", help="KDD Cup 2012 track 2 training.txt"),
    kdd_profile: Path | None = typer.Option(None, "--kdd-profile", help="KDD userid_profile.txt"),
    csv: Path | None = typer.Option(None, "--csv", help="any delimited file with a header"),
    parquet: Path | None = typer.Option(
        None, "--parquet", help="Parquet file(s): --parquet FILE [FILE ...], prepared as one table (pyarrow)"
    ),
    label: str | None = typer.Option(None, "--label", help="CSV/Parquet: label column (0/1)"),
    dense: str = typer.Option("", "--dense", help="CSV/Parquet: dense columns, comma-separated"),
    sparse: str = typer.Option("", "--sparse", help="CSV/Parquet: sparse columns, comma-separated"),
    delimiter: str | None = typer.Option(None, "--delimiter", help=f"CSV: field delimiter (default: {DELIMITER})"),
    out: Path | None = typer.Option(None, "--out", help="output folder (default: the cache)"),
    encoding: str = typer.Option("vocab", "--encoding", help="vocab or hash"),
    min_count: int | None = typer.Option(
        None, "--min-count", help=f"vocab: values seen fewer times share index 1 (default: {MIN_COUNT})"
    ),
    hash_size: int | None = typer.Option(None, "--hash-size", help="hash: rows per table (default: paper's)"),
    cap: int | None = typer.Option(None, "--cap", help="cap every embedding table at this many rows"),
    on_bad_rows: str = typer.Option("skip", "--on-bad-rows", help="skip (report) or error"),
) -> None:
    """Prepare a raw file into memory-mapped arrays (cached; re-running is free)."""
    formats = {"criteo": criteo, "avazu": avazu, "kdd": kdd, "csv": csv, "parquet": parquet}
    given = {k: v for k, v in formats.items() if v}
    if len(given) != 1:
        _fail("give exactly one of --criteo, --avazu, --kdd, --csv, --parquet")
    fmt, source = next(iter(given.items()))
    if more and fmt != "parquet":
        _fail(f"unexpected argument(s) {' '.join(map(str, more))} (only --parquet takes several files)")
    more = more or []
    k = _files_before_option(ctx, "--parquet", len(more)) if fmt == "parquet" else 0
    sources = [*more[:k], source, *more[k:]]  # the command line's order: it orders the rows
    if kdd_profile is not None and fmt != "kdd":
        _fail("--kdd-profile goes with --kdd")
    # checked here, naming the flags (prepare() names its parameters: on_bad_rows, min_count)
    if on_bad_rows not in ON_BAD_ROWS:
        _fail(f"--on-bad-rows: {' or '.join(ON_BAD_ROWS)}, got {on_bad_rows!r}")
    if encoding not in ("vocab", "hash"):
        _fail(f"--encoding: vocab or hash, got {encoding!r}")
    # given (None: left out) but meaningless with the other flags: refused, not silently ignored
    if min_count is not None and encoding == "hash":
        _fail("--min-count: applies only to vocab encoding (--encoding hash hashes every value)")
    if delimiter is not None and fmt != "csv":
        _fail(f"--delimiter: applies only to --csv ({FIXED_SEPARATORS[fmt]})")
    if min_count is not None and min_count < 1:
        _fail(f"--min-count: at least 1, got {min_count}")
    if cap is not None and cap < 2:
        _fail(f"--cap: at least 2 rows per table, got {cap}")
    try:
        with _warnings_as_lines():
            data = prepare(
                sources if fmt == "parquet" else source,
                fmt,
                out=out,
                label=label,
                dense=_names(dense),
                sparse=_names(sparse),
                delimiter=delimiter,
                kdd_profile=kdd_profile,
                encoding=encoding,  # type: ignore[arg-type]  # a str from the CLI; prepare() checks vocab or hash
                min_count=min_count,
                hash_sizes=hash_size,
                cap=cap,
                on_bad_rows=on_bad_rows,
                progress=None,
            )
    except (DataError, ValueError) as e:
        _fail(str(e))
    except OSError as e:
        _fail(_os_error(e))
    _report(data)


@app.command("info")
def info_cmd(
    folder: str = typer.Argument(..., help=f"a prepared data folder or sample:NAME ({', '.join(SAMPLES)})"),
) -> None:
    """Print the FeatureSpec, row count, positive rate and split sizes."""
    try:  # `sample:NAME` as everywhere else `--data` is taken (prepared on first use)
        data = (
            load_sample(folder.removeprefix("sample:")) if folder.startswith("sample:") else PreparedData.open(folder)
        )
    except DataError as e:
        _fail(str(e))
    except OSError as e:
        _fail(_os_error(e))
    spec, meta = data.spec, data.meta
    try:
        kept, damaged = read_encoding(data.path) if data.path is not None else None, None
    except (DataError, OSError) as e:  # the rest of the folder is still worth showing
        kept, damaged = None, str(e).removeprefix(f"{data.path}: ")
    head = table("field", "value", title=f"{folder}", show_header=False)
    for k, v in [
        ("format", meta.format),
        ("source", meta.source),
        ("rows", f"{len(data):,}"),
        ("positive rate", f"{data.positive_rate:.4f}"),
        ("dense", f"{spec.n_dense}"),
        ("sparse", f"{spec.n_sparse}"),
        ("embedding dim", str(spec.embedding_dim)),
        ("cap", str(spec.cap)),
        ("sparse dtype", str(data.sparse.dtype)),
        ("encoding", str(meta.options.get("encoding"))),
        ("dense transform", kept.dense_transform if kept else "-"),
        ("kept for serving", damaged or _kept_for_serving(data, kept)),
        ("bad rows skipped", str(meta.bad_rows.total)),
    ]:
        head.add_row(k, v)
    out_console.print(head)
    splits = table("split", "rows", "positive rate", title="split (stratified 10-fold, seed 2018)")
    for name in ("train", "valid", "test"):
        s = data.split(name)
        splits.add_row(name, f"{len(s):,}", f"{s.positive_rate:.4f}")
    out_console.print(splits)
    feats = table("kind", "name", "cardinality", "table rows", title="features")
    for n in spec.dense_names:
        feats.add_row("dense", n, "", "")
    for n, c, r in zip(spec.sparse_names, spec.cardinalities, spec.table_rows, strict=True):
        feats.add_row("sparse", n, f"{c:,}", f"{r:,}")
    out_console.print(feats)


def _kept_for_serving(data: PreparedData, kept: InputEncoding | None) -> str:
    """What `RowEncoder` encodes new raw rows with: the folder's encoding files (the vocabulary's size), or why
    there are none."""
    if kept is None:
        return "nothing: prepared before nasrec kept its encoding (prepare again to serve raw rows)"
    if kept.encoding == "hash":
        return ENCODING_FILE
    return f"{ENCODING_FILE}, {VOCAB_FILE} ({sum(c - 2 for c in kept.cardinalities):,} values)"


@app.command("sample")
def sample_cmd(name: str = typer.Argument("criteo", help=f"one of: {', '.join(SAMPLES)}")) -> None:
    """Prepare a bundled real sample and print where it is."""
    try:
        data = load_sample(name)
    except DataError as e:
        _fail(str(e))
    except OSError as e:
        _fail(_os_error(e))
    _report(data)


@app.command("synthetic")
def synthetic_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="folder to write the prepared data to"),
    rows: int = typer.Option(100_000, help="number of rows"),
    seed: int = typer.Option(0, help="random seed (data and teacher)"),
    positive_rate: float = typer.Option(0.25, help="target positive rate"),
    teacher: str = typer.Option(
        "planted",
        help="planted (pairwise interactions), zoo:<name>, random:<space> "
        "(a sampled genotype) or a genotype file: the network whose "
        "click probabilities draw the labels",
    ),
    teacher_scale: float = typer.Option(1.0, help="genotype teachers: the standard deviation of their logits"),
) -> None:
    """Write Criteo-shaped oracle data: labels drawn from a teacher, each row's true click probability kept
    (prob.npy), so scores also report expected log loss and regret."""
    if out.exists():
        _fail(f"{out} already exists; choose a new folder")
    if rows < 10:
        _fail(f"--rows: at least 10 (one row per fold), got {rows}")
    check_seed(seed)
    if teacher_scale <= 0:
        _fail(f"--teacher-scale: positive, got {teacher_scale}")
    if teacher == "planted" and teacher_scale != 1.0:
        _fail("--teacher-scale: applies only to a genotype teacher (zoo:<name>, random:<space> or a file), not planted")
    if not 0 < positive_rate < 1:
        _fail(f"--positive-rate: between 0 and 1, got {positive_rate}")
    from nasrec.evaluators.oracle import make_oracle

    try:
        data = make_oracle(
            rows, None if teacher == "planted" else teacher, scale=teacher_scale, seed=seed, positive_rate=positive_rate
        ).save(out)
    except OSError as exc:
        writing = exc.filename is not None and str(out) in str(exc.filename)  # --out: no permission, disk full
        _fail(_os_error(exc) if writing or teacher == "planted" else f"--teacher {teacher}: {exc}")
    except DataError as exc:
        if exc.rule != "split":
            raise
        _fail(f"--rows {rows}: {exc}; draw more rows")  # e.g. 10 rows, a few of them clicks
    except ValueError as exc:  # planted: not the teacher's; a genotype file's errors name the file themselves
        if teacher == "planted":
            _fail(str(exc))
        _fail(f"--teacher {exc}" if str(exc).startswith(f"{teacher}: ") else f"--teacher {teacher}: {exc}")
    _report(data)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
