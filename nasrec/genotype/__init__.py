"""Genotypes: the JSON description of one CTR architecture, search spaces, samplers, mutations, files.

This package is free of torch; the compiler turns genotypes into modules.
"""

from nasrec.genotype.errors import GenotypeError
from nasrec.genotype.io import from_nasrec_ref, load, save, to_nasrec_ref
from nasrec.genotype.mutation import MUTATIONS, mutate
from nasrec.genotype.operators import OperatorSignature, get_signature, list_signatures, register_signature
from nasrec.genotype.sampling import SAMPLERS, list_samplers, sample
from nasrec.genotype.schema import SCHEMA_VERSION, Block, BranchChoice, Genotype, Inputs
from nasrec.genotype.space import NASREC_FULL, NASREC_SMALL, PRESETS, SearchSpace, get_space

__all__ = [
    "MUTATIONS",
    "NASREC_FULL",
    "NASREC_SMALL",
    "PRESETS",
    "SAMPLERS",
    "SCHEMA_VERSION",
    "Block",
    "BranchChoice",
    "Genotype",
    "GenotypeError",
    "Inputs",
    "OperatorSignature",
    "SearchSpace",
    "from_nasrec_ref",
    "get_signature",
    "get_space",
    "list_samplers",
    "list_signatures",
    "load",
    "mutate",
    "register_signature",
    "sample",
    "save",
    "to_nasrec_ref",
]
