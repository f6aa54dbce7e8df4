"""Shared CLI helpers: one-line errors, genotype references (files, `zoo:` names)."""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from nasrec.errors import NasrecError, UsageError

TensorBoard = Annotated[
    Path | None,
    typer.Option(
        "--tensorboard",
        help="Write TensorBoard scalars (loss, lr, validation, best score) to this folder (extra `tensorboard`).",
    ),
]
# markup off: file names, genotype names and paths are printed as written (`[red]x.svg` is a file name)
console = Console(soft_wrap=True, markup=False)
err_console = Console(stderr=True, soft_wrap=True, markup=False)
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> None:
    """Print `error: ...` on stderr (one line per problem) and exit with `code` (no traceback)."""
    for line in message.splitlines() or [""]:
        err_console.print(Text.assemble(("error:", "bold red"), " ", line), highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def show_warning(message: Warning | str, *args: Any, **kwargs: Any) -> None:
    """`warnings.showwarning` for the CLI: one `warning: ...` line on stderr, not Python's file, line and source."""
    err_console.print(f"warning: {message}", highlight=False, soft_wrap=True)


def warnings_as_lines() -> None:
    """Show warnings as `show_warning` does: a CLI user is told what happened (a damaged log line dropped), not
    where in nasrec it was noticed."""
    import warnings

    warnings.showwarning = show_warning


def print_version(value: bool) -> None:
    """`--version`'s callback: print `nasrec X.Y.Z` and exit (eager: before any command runs or checks)."""
    if value:
        from nasrec import __version__

        console.print(f"nasrec {__version__}", highlight=False)
        raise typer.Exit()


Version = Annotated[
    bool,
    typer.Option("--version", callback=print_version, is_eager=True, help="Print nasrec's version and exit."),
]


def check_cap(cap: int | None) -> None:
    """Refuse a `--cap` below a table's two rows where 0 means the full tables (a cap replacing the data's own),
    worded as `data prepare` words its own refusal."""
    if cap is not None and cap != 0 and cap < 2:
        raise UsageError(f"--cap: at least 2 rows per table, or 0 for the full tables, got {cap}")


def features_of(ref: str, cap: int | None, flag: str = "--data"):  # -> FeatureSpec
    """A FeatureSpec from `criteo` / `avazu` / `kdd` (the paper's shapes), `sample:NAME` or a prepared folder,
    with `cap` rows per table: 0 uncapped; None the default, a preset's 500,000 (as `train-supernet --cap` and
    `genotype info --features`) or the prepared data's own. Anything else is an error naming `flag`."""
    from nasrec.data.spec import PRESETS, preset

    if ref in PRESETS:
        return preset(ref) if cap is None else preset(ref, cap=cap or None)
    if not ref.startswith("sample:") and not Path(ref).expanduser().is_dir():
        raise UsageError(f"{flag} {ref}: {', '.join(PRESETS)}, sample:NAME or a prepared data folder")
    from nasrec.evaluators.data_ref import open_data

    spec = open_data(ref).spec
    return spec if cap is None else spec.with_cap(cap or None)


def note(text: str) -> None:
    """`note: TEXT` on stderr: something the user should know, not an error."""
    err_console.print(Text.assemble(("note:", "bold yellow"), " ", text), highlight=False)


def note_cpu_on_cuda(device: str) -> None:
    """A note on stderr when a command is to train on the CPU of a machine with CUDA (`--device` defaults to cpu,
    which a user with a GPU easily forgets); once per job under torchrun."""
    import torch

    if device == "cpu" and torch.cuda.is_available() and os.environ.get("RANK", "0") == "0":
        note("training on the CPU; this machine has CUDA: --device cuda (or auto)")


def check_inputs(space: str, data: str) -> None:
    """Open the search space and the data a training command names, as its training first does (the data is
    cached, not read twice): an error there comes alone, before `note_cpu_on_cuda`'s note."""
    from nasrec.evaluators.data_ref import open_data
    from nasrec.genotype.space import get_space

    get_space(space)
    open_data(data)


def data_path(value: str) -> str:
    """A `--data` value as configs store it: an existing path made absolute (a run folder then means the same
    data from any directory); anything else (`sample:criteo`, a name) as typed."""
    return str(Path(value).expanduser().resolve()) if Path(value).expanduser().exists() else value


def space_path(value: str) -> str:
    """A `--space` value as genotypes and configs record it: a preset name as typed; an existing file made
    absolute, like `data_path` (a genotype, supernet or run folder then names the same space from any directory)."""
    from nasrec.genotype.space import PRESETS

    return value if value in PRESETS else data_path(value)


def folder_space(config: Path, value: str) -> str:
    """`value` (from `space_path`), or the space the folder's `config` JSON records where that names the same
    file: a folder begun with a relative path (as nasrec wrote before) is resumed from where it resolves."""
    from nasrec.state import same_place

    try:
        stored = json.loads(config.read_text()).get("space")
    except (OSError, ValueError, AttributeError):
        return value
    return stored if isinstance(stored, str) and stored != value and same_place(value, stored) else value


def check_seed(seed: int) -> None:
    """numpy's generators take seeds of 0 or more: say so for `--seed` instead of numpy's traceback."""
    if seed < 0:
        fail(f"--seed: Input should be greater than or equal to 0, got {seed}")  # the config models' words


OS_REFUSALS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT})
"""What the operating system refuses for a reason outside nasrec (permissions, a read-only or full disk)."""


def check_writable(path: Path, flag: str) -> None:
    """A `UsageError` now, not after hours of training, when the folder of `path` (made if missing) refuses a file:
    one is created there and removed."""
    import tempfile

    blocked = next((p for p in (path.parent, *path.parent.parents) if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        raise UsageError(f"{flag} {path}: {blocked} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.probe-"):
            pass
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot write in {path.parent}: {exc.strerror or exc}") from None


def user_errors(fn: F) -> F:
    """Turn the project's own errors (`GenotypeError`, `DataError`, `UsageError`) and the operating system's
    refusals (`OS_REFUSALS`: a read-only folder, a full disk) into one-line messages, and Ctrl-C into one line and
    exit code 130; anything else is a bug and keeps its traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except NasrecError as exc:
            fail(str(exc))
        except OSError as exc:
            if exc.errno not in OS_REFUSALS:
                raise
            fail(f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc.strerror or exc))
        except KeyboardInterrupt:  # a command without a run folder (`resumable` says more for those)
            err_console.print("interrupted; run the command again")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps fn's signature, which typer reads


def interrupt_on_sigterm(signum: int = 0, frame: Any = None) -> None:
    """A SIGTERM handler (Slurm, Kubernetes, `timeout`, `kill`): stop as Ctrl-C does (`resumable`)."""
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """Within: SIGTERM raises KeyboardInterrupt (`interrupt_on_sigterm`); the handler before is put back after. In
    the main thread only (where Python runs signal handlers); `RayExecutor` installs it again after `ray.init`."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGTERM, interrupt_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def resumable(fn: F) -> F:
    """A command whose run folder a rerun goes on from: Ctrl-C, or SIGTERM, says so and exits with 130, not a bare
    traceback, "Aborted" or nothing."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with sigterm_as_ctrl_c():
                return fn(*args, **kwargs)
        except KeyboardInterrupt:
            out = kwargs.get("out")
            if out is not None and not _holds_work(Path(out)):
                err_console.print(
                    f"interrupted before any work was saved in {out}; run the same command again to start"
                )
            else:
                where = f" in {out}" if out is not None else ""
                err_console.print(f"interrupted: finished work is kept{where}; run the same command again to go on")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps fn's signature, which typer reads


def _holds_work(folder: Path) -> bool:
    """Whether a run folder holds a result, a log or a checkpoint: a file that is neither a pinned config nor the
    run's lock."""
    try:
        return any(p.is_file() and p.name not in ("config.json", ".lock") for p in folder.rglob("*"))
    except OSError:
        return True  # unknown: say what is true of a folder that holds work


def flag_errors(exc: ValidationError, flags: dict[str, str] | None = None) -> list[str]:
    """One line per problem a config model found, naming the CLI flag: the field's name as a flag
    (`--top-k`), or `flags[dotted field path]` where the flag is named otherwise (`supernet.train.epochs`
    -> `--supernet-epochs`)."""
    lines = []
    for e in exc.errors(include_url=False):
        names = [part for part in e["loc"] if isinstance(part, str)]
        flag = (flags or {}).get(".".join(names)) or (f"--{names[-1].replace('_', '-')}" if names else "")
        msg, value = str(e["msg"]).removeprefix("Value error, "), e.get("input")
        if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
            value = ",".join(value)  # a comma-separated flag (--zoo, --objectives), shown as typed
        got = "" if isinstance(value, dict) or repr(value) in msg else f", got {value!r}"  # said, or a whole model
        lines.append(f"{flag + ': ' if flag else ''}{msg}{got}")
    return list(dict.fromkeys(lines))  # one flag can reach several fields (e.g. --seed)


@contextlib.contextmanager
def flag_values(flags: dict[str, str] | None = None) -> Iterator[None]:
    """Around building config models from CLI flags: a value a model rejects becomes a `UsageError`, one
    line per problem naming the flag (`--epochs: Input should be greater than 0, got 0`; see `flag_errors`)."""
    try:
        yield
    except ValidationError as exc:
        raise UsageError("\n".join(flag_errors(exc, flags))) from None


def default(model: type[BaseModel], field: str) -> Any:
    """A config model's default for `field`: CLI defaults come from the models, never repeated."""
    return model.model_fields[field].get_default(call_default_factory=True)


COMPACT: dict[str, Any] = {
    "box": box.SIMPLE_HEAD,
    "show_edge": False,
    "padding": 0,
}
"""`table` options for a table of many short columns: a rule under the header, one space between columns."""


def table(*columns: str, **options: Any) -> Table:
    """A rich table whose cells fold long words instead of cutting them ("attenti…") when output is narrow."""
    t = Table(**options)
    for column in columns:
        t.add_column(column, overflow="fold")
    return t


def load_genotype(ref: str, fmt: str = "auto"):
    """A genotype from a file path (our JSON or a NasRec-ref file) or `zoo:<name>`; errors name the file."""
    return load_with_format(ref, fmt)[0]


def load_with_format(ref: str, fmt: str = "auto"):  # -> (Genotype, "nasrec" | "nasrec-ref")
    """`load_genotype`, also returning the format the genotype was read in (`zoo:` models: `nasrec`; `fmt`
    nasrec-ref, from `--from`, is refused for them)."""
    from nasrec.genotype import io

    if ref.startswith("zoo:"):
        if fmt == "nasrec-ref":
            raise UsageError(f"{ref}: --from nasrec-ref reads NasRec-ref files; a zoo model is a nasrec genotype")
        from nasrec.genotype.zoo import load_zoo

        return load_zoo(ref[4:]), "nasrec"
    return io.load_with_format(ref, fmt)  # its errors name the file


def load_checked(ref: str, space: str | None = None, fmt: str = "auto"):
    """`load_genotype`, then checked against `space` (default: the space the genotype names; one naming
    none is held to the schema's structural limits only). Every command that compiles or draws uses this."""
    from nasrec.genotype.errors import GenotypeError
    from nasrec.genotype.space import get_space

    g, source = load_with_format(ref, fmt)
    if space is None:
        g = _space_beside(ref, g)
    name = space or g.space
    if name is not None:
        try:
            get_space(name).check(g)
        except GenotypeError as exc:
            from nasrec.genotype.io import ref_path

            where = ref_path(exc.path) if source == "nasrec-ref" else exc.path  # a NasRec-ref file's own keys
            raise GenotypeError(f"{ref}: {where}: {exc.rule}" if where else f"{ref}: {exc}") from None
    return g


def _space_beside(ref: str, g):  # -> Genotype
    """`g`, or `g` naming the space file beside `ref` where the file it names is not there: a genotype names its
    space file by the path it was drawn with, and one handed to another machine comes with the file, not the path."""
    from nasrec.genotype.errors import GenotypeError
    from nasrec.genotype.space import PRESETS

    named = g.space
    if named is None or named in PRESETS or ref.startswith("zoo:") or Path(named).exists():
        return g
    beside = Path(ref).parent / Path(named).name
    if not beside.is_file():
        raise GenotypeError(
            f"{ref}: its space file {named} is not there, nor {Path(named).name} beside it; pass the space as --space"
        )
    note(f"{ref}: its space file {named} is not there; using {beside}, beside the genotype")
    return g.model_copy(update={"space": str(beside.resolve())})


def write_or_print(text: str, out: Path | None) -> None:
    """`text` to stdout, or atomically to `out` (a path that cannot be written is a `UsageError`)."""
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        from nasrec.state import atomic_write_text

        try:
            atomic_write_text(out, text if text.endswith("\n") else text + "\n")
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
        err_console.print(f"wrote {out}", highlight=False)
