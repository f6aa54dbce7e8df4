"""Atomic checkpoints of plain tensors and JSON-able values, loaded without pickle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from nasrec.errors import UsageError
from nasrec.state import atomic_open


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write `state` through a temporary file and a rename: a crash never leaves half a checkpoint."""
    with atomic_open(path, "wb") as fh:
        torch.save(state, fh)
    return Path(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load with `weights_only=True` (no pickle); a missing or unreadable file is a `UsageError` naming it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UsageError(f"checkpoint {path} does not exist") from None
    except Exception as exc:  # torch raises several types for corrupt or non-weights files
        raise UsageError(f"checkpoint {path} cannot be read as weights: {exc}") from None


def drop_optimizer_state(path: str | Path) -> Path:
    """Rewrite a finished training's checkpoint without its optimizer state (atomically): resuming a finished
    run reloads only the weights and the step, and Adagrad's accumulators are as large as the weights."""
    state = load_checkpoint(path)
    if state.get("optimizers"):
        save_checkpoint({**state, "optimizers": []}, path)
    return Path(path)
