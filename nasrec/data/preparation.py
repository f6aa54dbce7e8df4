"""Raw file -> prepared folder, in one streaming pass, cached by content hash and options.

The folder is built under a temporary name beside its target and renamed into place when complete, so an
interrupted run never leaves a folder that looks prepared; stale temporaries of dead processes are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from nasrec.data import avazu, criteo, kdd, parquet
from nasrec.data.encoding import HashEncoder, VocabEncoder
from nasrec.data.errors import BadRowReport, DataError
from nasrec.data.inputs import ENCODING_FILE, ENCODING_VERSION, InputEncoding, write_vocab
from nasrec.data.npy import NpyAppender
from nasrec.data.options import DELIMITER, MIN_COUNT, check_options, check_sources
from nasrec.data.parsing import Layout, Parsed, parse_chunk
from nasrec.data.prepared import FORMAT_VERSION, PreparedData, PrepMeta, dumps, sparse_dtype
from nasrec.data.rawio import file_digest, iter_chunks
from nasrec.data.spec import FeatureSpec
from nasrec.data.split import N_FOLDS, SPLIT_SEED, stratified_folds
from nasrec.data.tabular import csv_layout
from nasrec.state import atomic_folder
from nasrec.state.folders import clean_stale_in

CSV_RULES = 2
"""The CSV rules' revision, part of a CSV's cache key: 2 since a quote only at a field's start makes a bad row and a
blank dense cell is missing (1: any quote, and a blank cell, made a bad row)."""
Encoding = Literal["vocab", "hash"]
_DEFAULT_HASH = {"criteo": criteo.HASH_CARDINALITIES, "avazu": avazu.HASH_CARDINALITIES, "kdd": kdd.HASH_CARDINALITIES}


def cache_root() -> Path:
    """$NASREC_CACHE, else ~/.cache/nasrec."""
    env = os.environ.get("NASREC_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "nasrec"


def _key(keyed: dict) -> str:
    return hashlib.blake2b(dumps(keyed).encode(), digest_size=16).hexdigest()


def _layout(
    fmt: str,
    source: Path,
    label: str | None,
    dense: Sequence[str],
    sparse: Sequence[str],
    delimiter: str,
    kdd_profile: Path | None,
    log_dense: bool,
) -> Layout:
    if fmt == "criteo":
        return criteo.criteo_layout()
    if fmt == "avazu":
        return avazu.avazu_layout(source)
    if fmt == "kdd":
        return kdd.kdd_layout(kdd_profile)
    if label is None:
        raise DataError("a CSV needs --label (and --dense/--sparse column names)", file=str(source), rule="columns")
    return csv_layout(source, label, dense, sparse, delimiter=delimiter, log_dense=log_dense)


def _hash_sizes(fmt: str, n_sparse: int, hash_sizes: int | Sequence[int] | None) -> tuple[int, ...]:
    if hash_sizes is None:
        if fmt not in _DEFAULT_HASH:
            raise DataError(f"hash encoding of a {fmt} file needs hash sizes (--hash-size)", rule="options")
        return tuple(_DEFAULT_HASH[fmt])
    sizes = (hash_sizes,) * n_sparse if isinstance(hash_sizes, int) else tuple(int(h) for h in hash_sizes)
    if len(sizes) != n_sparse or min(sizes) < 2:
        raise DataError(f"need {n_sparse} hash sizes >= 2, got {sizes}", rule="options")
    return sizes


@contextlib.contextmanager
def _progress(total: int, label: str, show: bool | None) -> Iterator:
    if show is None:
        show = sys.stderr.isatty()
    if not show:
        yield lambda done: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


def prepare(
    source: str | Path | Sequence[str | Path],
    format: str = "criteo",
    *,
    out: str | Path | None = None,
    label: str | None = None,
    dense: Sequence[str] = (),
    sparse: Sequence[str] = (),
    delimiter: str | None = None,
    kdd_profile: str | Path | None = None,
    encoding: Encoding = "vocab",
    min_count: int | None = None,
    hash_sizes: int | Sequence[int] | None = None,
    cap: int | None = None,
    embedding_dim: int = 16,
    on_bad_rows: str = "skip",
    log_dense: bool = True,
    progress: bool | None = None,
) -> PreparedData:
    """Prepare a raw file (or reuse its cached preparation) and return it memory-mapped.

    format: criteo | avazu | kdd | csv | parquet (csv and parquet need `label`, `dense`, `sparse` column
    names; parquet takes one file or a list of files with those columns, prepared as one table).
    delimiter: csv only (default `DELIMITER`). encoding: `vocab` (ids by first appearance for values seen >=
    min_count times, default `MIN_COUNT`, else 1 = other) or `hash` (key mod (C - 1) + 1, C from `hash_sizes` or
    the paper's table sizes). An option given where it means nothing (delimiter, min_count, hash_sizes) is an error.
    on_bad_rows: `skip` (count them; `data.meta.bad_rows` and meta.json keep the count per rule and the first 20
    with their line numbers, and `nasrec data prepare` prints their summary) or `error` (stop at the first).
    `out`: the folder to write; default `cache_root()/prepared/<format>-<file>-<key>`.
    """
    sources = [Path(source)] if isinstance(source, (str, Path)) else [Path(s) for s in source]
    check_options(
        format,
        label=label,
        dense=dense,
        sparse=sparse,
        delimiter=delimiter,
        kdd_profile=kdd_profile,
        encoding=encoding,
        min_count=min_count,
        hash_sizes=hash_sizes,
        cap=cap,
        embedding_dim=embedding_dim,
        on_bad_rows=on_bad_rows,
    )
    check_sources(format, sources)
    min_count, delimiter = MIN_COUNT if min_count is None else min_count, DELIMITER if delimiter is None else delimiter
    source = sources[0]
    profile = Path(kdd_profile) if kdd_profile is not None else None
    if profile is not None and not profile.is_file():
        raise DataError("no such file (the KDD user profile)", file=str(profile), rule="file")
    if format == "parquet":
        if label is None:
            raise DataError(
                "Parquet needs --label (and --dense/--sparse column names)", file=str(source), rule="columns"
            )
        layout = parquet.parquet_layout(sources, label, dense, sparse, log_dense=log_dense)
    else:
        layout = _layout(format, source, label, dense, sparse, delimiter, profile, log_dense)
    sizes = _hash_sizes(format, len(layout.all_sparse_names), hash_sizes) if encoding == "hash" else None
    options = {
        "encoding": encoding,
        "min_count": min_count if encoding == "vocab" else None,
        "hash_sizes": sizes,
        "cap": cap,
        "embedding_dim": embedding_dim,
        "on_bad_rows": on_bad_rows,
        "log_dense": log_dense,
        "label": label,
        "dense": list(dense),
        "sparse": list(sparse),
        "delimiter": delimiter if format == "csv" else None,
    }
    digests = [file_digest(p) for p in sources]
    digest = (
        digests[0] if len(digests) == 1 else hashlib.blake2b(",".join(digests).encode(), digest_size=20).hexdigest()
    )
    keyed = {
        "version": FORMAT_VERSION,
        "format": format,
        "source": digest,
        "options": options,
        "profile": file_digest(profile) if profile else None,
        "split": [SPLIT_SEED, N_FOLDS],
    }
    if layout.constant_dense is not None:  # 0.0 since the constant followed the reference (was 1.0)
        keyed["constant_dense"] = layout.constant_dense
    if format == "csv" and CSV_RULES > 1:
        keyed["csv_rules"] = CSV_RULES
    unkept = _key(keyed)  # before preparation kept encoding.json
    keyed["encoding"] = ENCODING_VERSION
    key = _key(keyed)
    earlier = {
        _key({k: v for k, v in keyed.items() if k not in drop}) for drop in (("csv_rules",), ("csv_rules", "encoding"))
    }
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", source.name) + (f"+{len(sources) - 1}" if len(sources) > 1 else "")
    if out is None:  # a killed run's temporary of another key (other options, a changed file) goes too
        clean_stale_in(cache_root() / "prepared")
    target = Path(out) if out is not None else cache_root() / "prepared" / f"{format}-{stem}-{key[:16]}"
    if out is not None:  # the folder is built beside its target and renamed into place: never these
        where = target.resolve()
        if where == Path.cwd().resolve() or not where.name:
            what = "the working directory" if where.name else "a file system root"
            raise DataError(f"is {what}; choose a new folder for the prepared data", file=str(out), rule="out")
    for path in (target, *target.parents):
        if path.exists() and not path.is_dir():
            what = "" if path == target else f"{path} "
            raise DataError(f"{what}is a file, not a folder; choose another --out", file=str(target), rule="out")

    if (target / "meta.json").is_file():
        found = PreparedData.open(target, cache_hit=True)
        if found.meta.key in (key, unkept):  # one prepared before the encoding was kept trains as it did
            return found
        if out is not None:
            if format == "csv" and found.meta.key in earlier:  # before the CSV rules' revision
                raise DataError(
                    "folder holds this file prepared under nasrec's earlier CSV rules (a quote inside a field or a "
                    "blank dense cell made a bad row); remove it to prepare the file again",
                    file=str(target),
                    rule="out",
                )
            raise DataError(
                "folder holds other prepared data; remove it or choose another --out", file=str(target), rule="out"
            )
    elif target.exists() and any(target.iterdir()):
        raise DataError(
            "folder exists and is not prepared data; remove it or choose another --out", file=str(target), rule="out"
        )
    built = False
    try:
        with atomic_folder(target) as tmp:
            name = ", ".join(p.name for p in sources)
            if format == "parquet":
                chunks = _parquet_chunks(sources, label or "", layout, progress)
                unit = "row" if len(sources) == 1 else "row across files"
                counts = [parquet.total_rows([p]) for p in sources]
                starts = {p: sum(counts[:i]) for i, p in enumerate(sources)}
                meta, spec = _build(chunks, layout, tmp, sizes, min_count, on_bad_rows, name, unit=unit, starts=starts)
            else:
                chunks = _text_chunks(source, layout, progress)
                meta, spec = _build(chunks, layout, tmp, sizes, min_count, on_bad_rows, str(source))
            spec = spec.model_copy(
                update={
                    "cap": cap,
                    "embedding_dim": embedding_dim,
                    "label_name": label or ("click" if format == "avazu" else "label"),
                }
            )
            meta = meta.model_copy(
                update={"source": name, "source_digest": digest, "key": key, "options": options, "format": format}
            )
            spec.save(tmp / "spec.json")
            kept = InputEncoding.of(
                layout,
                format,
                spec.label_name,
                spec.cardinalities,
                min_count,
                sizes,
                keyed["profile"],  # type: ignore[arg-type]  # a digest or None
            )
            (tmp / ENCODING_FILE).write_text(kept.model_dump_json(indent=2) + "\n")
            (tmp / "meta.json").write_text(meta.model_dump_json(indent=2) + "\n")
            built = True
    except OSError as exc:  # the rename lost: another process (e.g. another torchrun rank) finished the same one
        if not built and exc.filename == str(target):
            raise DataError(f"cannot write here: {exc.strerror or exc}", file=str(target), rule="out") from exc
        if not (built and (target / "meta.json").is_file()):
            raise
        if PreparedData.open(target).meta.key != key:
            raise DataError(
                "another process wrote other prepared data here meanwhile; choose another --out",
                file=str(target),
                rule="out",
            ) from None
    return PreparedData.open(target)


def _text_chunks(source: Path, layout: Layout, progress: bool | None) -> Iterator[tuple[Path, Parsed]]:
    """(file, parsed chunk) over a delimited text file, its header skipped."""
    header_pending = layout.header
    with _progress(source.stat().st_size, f"preparing {source.name}", progress) as tick:
        for first, buf in iter_chunks(source, on_progress=tick):
            if header_pending:
                cut = buf.index(b"\n") + 1
                buf, first, header_pending = buf[cut:], first + 1, False
                if not buf:
                    continue
            yield source, parse_chunk(buf, first, layout)


def _parquet_chunks(
    files: Sequence[Path], label: str, layout: Layout, progress: bool | None
) -> Iterator[tuple[Path, Parsed]]:
    with _progress(parquet.total_rows(files), f"preparing {files[0].name}", progress) as tick:
        yield from parquet.iter_parquet(files, label, layout, on_progress=tick)


def _build(
    chunks: Iterator[tuple[Path, Parsed]],
    layout: Layout,
    tmp: Path,
    sizes: tuple[int, ...] | None,
    min_count: int,
    on_bad_rows: str,
    name: str,
    unit: str = "line",
    starts: dict[Path, int] | None = None,
) -> tuple[PrepMeta, FeatureSpec]:
    """Encode and write `chunks`; `name` names the input in messages, `unit` is how bad rows are numbered
    (`starts`: several Parquet files' rows counted before each)."""
    names = layout.all_sparse_names
    encoder: HashEncoder | VocabEncoder = HashEncoder(sizes) if sizes else VocabEncoder(len(names))
    dense_names = layout.all_dense_names
    w_dense = NpyAppender(tmp / "dense.npy", np.float32, (len(dense_names),))
    w_label = NpyAppender(tmp / "label.npy", np.float32)
    sparse_path = tmp / ("sparse.npy" if sizes else "sparse_raw.npy")
    w_sparse = NpyAppender(sparse_path, sparse_dtype(max(sizes)) if sizes else np.uint32, (len(names),))
    report = BadRowReport()
    source = first_bad = None
    try:
        for source, parsed in chunks:
            for line, rule, detail in parsed.bad:
                if on_bad_rows == "error":
                    raise _bad(detail, source, line, rule, unit, starts)
                report.add(line, rule, detail)
                first_bad = first_bad or source
            if len(parsed.label):
                w_dense.append(parsed.dense)
                w_label.append(parsed.label)
                w_sparse.append(encoder.encode(parsed.keys, parsed.missing))
    except BaseException:
        for w in (w_dense, w_label, w_sparse):
            w.file.close()
        raise
    for w in (w_dense, w_label, w_sparse):
        w.close()
    rows = w_label.rows
    if rows == 0:
        if report.examples:
            e = report.examples[0]
            hint = f" (is this a {layout.name} file?)" if unit == "line" else ""  # Parquet read as Parquet: it is one
            raise _bad(
                f"no valid rows; the first bad row: {e.detail}{hint}",
                first_bad,
                e.line,
                e.rule,
                unit,
                starts,
            )
        raise DataError("no data rows", file=str(source or name), line=1 if unit == "line" else None, rule="empty")
    if isinstance(encoder, VocabEncoder):
        tables, cards = encoder.finish(min_count)
        write_vocab(tmp, encoder.kept_keys(min_count))
        raw = np.load(sparse_path, mmap_mode="r", allow_pickle=False)
        w = NpyAppender(tmp / "sparse.npy", sparse_dtype(max(cards)), (len(names),))
        for lo in range(0, rows, 1 << 18):
            block = raw[lo : lo + (1 << 18)]
            w.append(np.stack([tables[f][block[:, f]] for f in range(len(names))], axis=1))
        w.close()
        del raw
        sparse_path.unlink()
    else:
        assert sizes is not None  # the hash encoder was built from them
        cards = tuple(sizes)
    label = np.load(tmp / "label.npy", mmap_mode="r", allow_pickle=False)
    try:
        np.save(tmp / "folds.npy", stratified_folds(label))
    except DataError as e:
        raise DataError(str(e), file=name, rule="split") from None
    positives = int(np.asarray(label, dtype=np.float64).sum())
    del label
    spec = FeatureSpec(dense_names=dense_names, sparse_names=names, cardinalities=cards)
    return PrepMeta(format=layout.name, rows=rows, positives=positives, bad_rows=report), spec


def _bad(
    detail: str, source: Path | None, line: int, rule: str, unit: str, starts: dict[Path, int] | None = None
) -> DataError:
    """A bad row as an error: `file, line N: ...` (text) or `file: row N: ...` (Parquet; with several files N
    counts the file's own rows and the message also gives the count across the files, the report's numbering)."""
    if unit == "line":
        return DataError(detail, file=str(source), line=line, rule=rule)
    if unit == "row across files" and starts is not None and source in starts:
        own = line - starts[source]
        return DataError(
            f"row {own} (row {line} counted across the files, in order): {detail}", file=str(source), rule=rule
        )
    return DataError(f"row {line}: {detail}", file=str(source), rule=rule)
