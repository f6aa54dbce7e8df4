"""Atomic checkpoints of plain tensors and JSON-able values, loaded without pickle."""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path
from typing import Any, NoReturn

import torch

from nasrec.errors import UsageError
from nasrec.state import atomic_open


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write `state` through a temporary file and a rename: a crash never leaves half a checkpoint."""
    with atomic_open(path, "wb") as fh:
        torch.save(state, fh)
    return Path(path)


ZIP_MAGIC = b"PK\x03\x04"
"""How `torch.save` files begin (a zip archive); the legacy format is a pickle (`\\x80`)."""


def load_checkpoint(path: str | Path, mmap: bool = False) -> dict[str, Any]:
    """Load with `weights_only=True` (no pickle); a file that is missing, not a `torch.save` file, truncated,
    or not a dict (of which a `model` entry, where there is one, is a dict of tensors) is a `UsageError`
    naming it and giving one short reason. `mmap`: map the tensors rather than read them (a look at a large
    file's entries; the legacy format is read)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(ZIP_MAGIC))
    except FileNotFoundError:
        raise UsageError(f"checkpoint {path} does not exist") from None
    except OSError as exc:  # a directory, no permission
        raise UsageError(f"checkpoint {path} cannot be read: {exc.strerror or exc}") from None
    if not head:
        _unreadable(path, "the file is empty")
    if len(head) < len(ZIP_MAGIC) and ZIP_MAGIC.startswith(head):
        _unreadable(path, "the file is truncated")
    if head != ZIP_MAGIC and head[:1] != b"\x80":  # JSON, ONNX, text: not even a pickle
        _unreadable(path, "not a torch.save file")
    try:
        with warnings.catch_warnings():  # a pickle of another protocol: refused below, without torch's advice
            warnings.filterwarnings("ignore", "Detected pickle protocol")
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap and head == ZIP_MAGIC)
    except Exception as exc:  # torch raises several types for corrupt or non-weights files
        _unreadable(path, _reason(exc))
    if not isinstance(state, dict):
        _unreadable(path, f"it holds {_a(state)}, not a dict of weights")
    model = state.get("model", {})
    if not isinstance(model, dict):
        _unreadable(path, f"its 'model' holds {_a(model)}, not a dict of weights")
    for name, value in model.items():
        if not isinstance(value, torch.Tensor):
            _unreadable(path, f"its 'model' entry {name!r} holds {_a(value)}, not a tensor")
    return state


def _unreadable(path: str | Path, reason: str) -> NoReturn:
    raise UsageError(f"checkpoint {path} cannot be read as weights: {reason}")


def _a(value: Any) -> str:
    """`a Tensor`, `an int`: the type of a value that is not what a checkpoint holds."""
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _reason(exc: Exception) -> str:
    """One short reason for what `torch.load(weights_only=True)` raised (torch's own texts run to paragraphs,
    advise `weights_only=False` and hold terminal escapes)."""
    text = str(exc)
    pickled = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if pickled:
        return f"it holds a pickled {pickled.group(1)}, not only tensors and plain values (not loaded without pickle)"
    if isinstance(exc, EOFError) or "unexpected EOF" in text:
        return "the file is truncated"
    if "central directory" in text:  # a zip archive without its end
        return "the file is truncated or corrupt"
    if isinstance(exc, pickle.UnpicklingError) or "magic number" in text or "inline_container" in text:
        return "not a torch.save file"
    first = re.sub(r"\x1b\[[0-9;]*m", "", text).strip().split("\n")[0].strip()
    return first or type(exc).__name__


def drop_optimizer_state(path: str | Path) -> Path:
    """Rewrite a finished training's checkpoint without its optimizer state (atomically): resuming a finished
    run reloads only the weights and the step, and Adagrad's accumulators are as large as the weights."""
    state = load_checkpoint(path)
    if state.get("optimizers"):
        save_checkpoint({**state, "optimizers": []}, path)
    return Path(path)
