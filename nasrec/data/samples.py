"""The real rows bundled with nasrec, prepared on first use into the user cache (never into the package)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from nasrec.data.errors import DataError
from nasrec.data.preparation import cache_root, prepare
from nasrec.data.prepared import PreparedData
from nasrec.state import atomic_open

CRITEO_HEAD = "criteo_train_head10k.tsv.gz"
CRITEO_SCATTERED = "criteo_train_scattered.tsv.gz"
CRITEO_MORE = "criteo_train_more.tsv.gz"
CRITEO_DEEPCTR = "criteo_sample_deepctr_extra.tsv.gz"
AVAZU_HEAD = "avazu_train_head10k.csv.gz"
SAMPLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "criteo": ("criteo", (CRITEO_HEAD, CRITEO_SCATTERED, CRITEO_MORE, CRITEO_DEEPCTR)),  # 14,949 rows
    "criteo-head": ("criteo", (CRITEO_HEAD,)),  # 10,000 rows
    "criteo-scattered": ("criteo", (CRITEO_SCATTERED,)),  # 4,370 rows
    "avazu": ("avazu", (AVAZU_HEAD,)),  # 9,999 rows
}


def sample_file(name: str) -> Path:
    """Path of one bundled file (inside the installed package; read-only use)."""
    return Path(str(resources.files("nasrec.data") / "samples" / name))


def _joined(files: tuple[str, ...]) -> Path:
    """Several gzip files as one multi-member gzip file in the cache (written atomically)."""
    out = cache_root() / "samples" / ("+".join(f.split(".")[0] for f in files) + ".tsv.gz")
    if not out.is_file():
        with atomic_open(out, "wb") as w:
            for f in files:
                w.write(sample_file(f).read_bytes())
    return out


def load_sample(name: str = "criteo", **prepare_kw: Any) -> PreparedData:
    """Bundled real rows, prepared: `criteo` (14,949 = head 10k + scattered 4,370 + 400 + 179), `criteo-head`,
    `criteo-scattered`, `avazu` (9,999). Keyword arguments go to `prepare` (e.g. encoding="hash")."""
    if name not in SAMPLES:
        raise DataError(f"unknown sample {name!r}; known: {', '.join(SAMPLES)}", rule="sample")
    fmt, files = SAMPLES[name]
    source = sample_file(files[0]) if len(files) == 1 else _joined(files)
    prepare_kw.setdefault("progress", False)
    return prepare(source, fmt, **prepare_kw)
