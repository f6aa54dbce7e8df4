"""The state layer: how nasrec writes files that must survive crashes and concurrent runs.

Atomic whole-file writes with the user's umask (`atomic_write_text`) and whole folders (`atomic_folder`),
crash-safe JSON Lines logs (`append_jsonl`, a read that never changes the file, an explicit `repair_jsonl`),
resumable stages over those logs (`Stage`), a folder's config pinned by its first run (`pin_config`), and a
one-process-per-folder lock (`RunLock`). Imports nothing else of nasrec but its error types (`nasrec.errors`).
"""

from nasrec.state.configs import ConfigDiffers, pin_config, same_place
from nasrec.state.files import atomic_open, atomic_write_bytes, atomic_write_text
from nasrec.state.folders import atomic_folder, clean_stale
from nasrec.state.jsonl import Scan, append_jsonl, read_jsonl, repair_jsonl, scan_jsonl, validation_reason
from nasrec.state.lock import RunFolderBusy, RunLock
from nasrec.state.stages import Stage

__all__ = [
    "ConfigDiffers",
    "RunFolderBusy",
    "RunLock",
    "Scan",
    "Stage",
    "append_jsonl",
    "atomic_folder",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_text",
    "clean_stale",
    "pin_config",
    "read_jsonl",
    "repair_jsonl",
    "same_place",
    "scan_jsonl",
    "validation_reason",
]
