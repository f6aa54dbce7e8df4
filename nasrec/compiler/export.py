"""Standalone models as files for serving, with a dynamic batch dimension: ONNX (torch.onnx's dynamo exporter;
extra `export`) checked with onnxruntime, or a `torch.export` program (`.pt2`) checked by running it.

    program = export_program(model, features)                  # torch.export.ExportedProgram
    check = export_file(model, features, "m.onnx", "onnx")     # written atomically, then compared to eager
    session = onnx_session("m.onnx"); logits = run_onnx(session, dense, sparse)

Both formats carry the input contract (`nasrec.compiler.contract`): ONNX in `metadata_props` and `doc_string`,
a `.pt2` in its extra file `nasrec_inputs.json`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nasrec.compiler.contract import PT2_EXTRA, contract, doc_string, metadata
from nasrec.data.spec import FeatureSpec
from nasrec.errors import UsageError

FORMATS = ("onnx", "torch-export")
TOLERANCE = 1e-5
"""Largest logit difference accepted between an exported model and the eager one (float32), relative to the
logit's size where that is above 1 (|got - want| <= TOLERANCE * max(1, |want|)): float32 rounds a logit of 7.6
to within ~1e-6 of itself, and both runtimes round differently."""
CHECK_BATCHES = (1, 64, 333)


def example_inputs(features: FeatureSpec, batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A random (dense float32 [B, n_dense], sparse int64 [B, n_sparse]) batch of `features`' shape."""
    g = torch.Generator().manual_seed(seed)
    dense = torch.rand(batch, features.n_dense, generator=g) * 3
    high = torch.tensor(features.table_rows)
    sparse = (torch.rand(batch, features.n_sparse, generator=g) * high).long()
    return dense, sparse


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporters' own deprecation warnings and log lines (about torch internals) are not the user's."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _dynamic_batch(n: int = 2) -> tuple[dict[int, Any], ...]:
    batch = torch.export.Dim("batch", min=1)
    return tuple({0: batch} for _ in range(n))


def export_program(model: nn.Module, features: FeatureSpec) -> torch.export.ExportedProgram:
    """`torch.export` of `model` in eval mode, batch dimension dynamic."""
    model.eval()
    with _quiet():
        return torch.export.export(model, example_inputs(features, 8), dynamic_shapes=_dynamic_batch())


def export_onnx(model: nn.Module, features: FeatureSpec, path: str | Path, external_data: bool | None = None) -> None:
    """Write `model` as ONNX (dynamo exporter; inputs `dense`, `sparse`, output `logits`, batch dynamic) with its
    input contract (`metadata_props`, `doc_string`). The weights go to `PATH.data` beside it when
    `external_data`, or (None) when the model is over ONNX's 2 GB."""
    try:
        import onnx  # noqa: F401 (only to fail early when the extra is missing)
        import onnxscript  # noqa: F401 (only to fail early when the extra is missing)
    except ImportError:
        raise UsageError("--format onnx needs onnx and onnxscript: pip install 'nasrec[export]'") from None
    model.eval()
    with _quiet():
        program = torch.onnx.export(
            model,
            example_inputs(features, 8),
            dynamo=True,
            dynamic_shapes=_dynamic_batch(),
            input_names=["dense", "sparse"],
            output_names=["logits"],
            verbose=False,
        )
        assert program is not None  # dynamo=True always returns a program
        program.model.doc_string = doc_string(model, features)
        program.model.metadata_props.update(metadata(model, features))
        program.save(str(path), external_data=external_data)


def onnx_session(path: str | Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session on `path` (`threads`: intra-op threads; None: onnxruntime's default)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise UsageError("checking ONNX needs onnxruntime: pip install 'nasrec[export]'") from None
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(session: Any, dense: torch.Tensor, sparse: torch.Tensor) -> np.ndarray:
    return session.run(None, {"dense": dense.numpy(), "sparse": sparse.numpy()})[0]


@dataclass(frozen=True)
class ExportCheck:
    """How far the exported file's logits are from the eager model's, on random batches of each size."""

    path: Path
    format: str
    max_abs_diff: float
    batches: tuple[int, ...]
    max_scaled_diff: float = 0.0
    """|got - want| / max(1, |want|) at its largest: what `TOLERANCE` bounds."""

    def __str__(self) -> str:
        sizes = ", ".join(map(str, self.batches))
        runner = "onnxruntime" if self.format == "onnx" else "torch.export"
        return (
            f"{self.path}: {runner} gives the PyTorch logits within {self.max_abs_diff:.1e} "
            f"({self.max_scaled_diff:.1e} relative above 1; batches {sizes})"
        )


def check_output(path: str | Path) -> None:
    """Refuse an output path that cannot be a file (a folder, or below a file) with a `UsageError`, before
    anything is exported."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"cannot write {path}: Is a directory")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"cannot write {path}: {parent} is a file, not a folder")
            break


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """An `OSError` writing `path` (its folder, the move into place) as a one-line `UsageError`."""
    try:
        yield
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def export_file(
    model: nn.Module, features: FeatureSpec, path: str | Path, format: str, external_data: bool | None = None
) -> ExportCheck:
    """Write `model` to `path` in `format`, load it back, and compare its logits with the eager model's; a
    difference above `TOLERANCE` raises `RuntimeError` (a bug). Written in a temporary folder beside `path`
    under its final name, then moved into place, so an ONNX model's external weights (`PATH.data`, see
    `export_onnx`) keep the name the model refers to."""
    if format not in FORMATS:
        raise UsageError(f"unknown export format {format!r} (known: {', '.join(FORMATS)})")
    path = Path(path)
    check_output(path)
    work = path.parent / f".{path.name}.tmp-{os.getpid()}"
    with _writing(path):  # a folder that cannot be written to: said before the export, not after
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
    tmp = work / path.name
    try:
        if format == "onnx":
            export_onnx(model, features, tmp, external_data)
            session = onnx_session(tmp)
            run = lambda d, s: run_onnx(session, d, s)  # noqa: E731 (a one-line closure)
        else:
            facts = {PT2_EXTRA: json.dumps(contract(model, features))}
            torch.export.save(export_program(model, features), str(tmp), extra_files=facts)
            with _quiet():
                loaded = torch.export.load(str(tmp)).module()
            run = lambda d, s: loaded(d, s).detach().numpy()  # noqa: E731 (a one-line closure)
        worst, worst_scaled = 0.0, 0.0
        model.eval()
        for i, batch in enumerate(CHECK_BATCHES):
            dense, sparse = example_inputs(features, batch, seed=100 + i)
            with torch.no_grad():
                want = model(dense, sparse).numpy()
            diff = np.abs(run(dense, sparse) - want)
            worst = max(worst, float(diff.max()))
            worst_scaled = max(worst_scaled, float((diff / np.maximum(1.0, np.abs(want))).max()))
        if not worst_scaled <= TOLERANCE:
            raise RuntimeError(
                f"exported {format} model differs from PyTorch by {worst:.2e} "
                f"({worst_scaled:.2e} relative to logits above 1) > {TOLERANCE:g}"
            )
        with _writing(path):
            for extra in work.iterdir():  # the external weights first, the model last
                if extra != tmp:
                    os.replace(extra, path.parent / extra.name)
            os.replace(tmp, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ExportCheck(
        path=path, format=format, max_abs_diff=worst, batches=CHECK_BATCHES, max_scaled_diff=worst_scaled
    )
