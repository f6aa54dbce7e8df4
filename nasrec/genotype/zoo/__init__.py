"""Classic CTR models written as genotypes of the NASRec-Full space (`zoo:dlrm`, `zoo:deepfm`, ...).

Each file's `meta.note` says how faithful it is to the original model.
"""

from __future__ import annotations

from importlib.resources import files

from nasrec.genotype.errors import GenotypeError
from nasrec.genotype.schema import Genotype


def list_zoo() -> list[str]:
    return sorted(p.name.removesuffix(".json") for p in files(__name__).iterdir() if p.name.endswith(".json"))


def load_zoo(name: str) -> Genotype:
    """The zoo genotype `name` (see `list_zoo()`)."""
    names = list_zoo()
    if name not in names:
        raise GenotypeError(f"unknown zoo model {name!r} (known: {', '.join(names)})")
    return Genotype.from_json(files(__name__).joinpath(f"{name}.json").read_text())
