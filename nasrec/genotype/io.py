"""Genotype files: load and atomic save, and the reference implementation's (NasRec-ref) JSON format.

NasRec-ref stores a model as `micro` (per block: `active_nodes`, positional indices into its space's
operator list, the two dims and the merger flags as 0/1) and `macro` (per block: `dense_idx`,
`sparse_idx`, `dense_left_idx`, `dense_right_idx` node lists), plus `num_blocks`, `config` (`xlarge` =
NASRec-Full, `autoctr` = NASRec-Small) and `use_layernorm`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import PlainSerializer

from nasrec.genotype.errors import GenotypeError, check_keys
from nasrec.genotype.schema import SCHEMA_VERSION, Genotype, parse_json
from nasrec.state import atomic_write_text

# Positional operator lists of NasRec-ref (`ops_config_lib` in its supernet.py): index -> our name.
REF_OPERATORS: dict[str, tuple[str, ...]] = {
    "xlarge": ("fc", "dot", "gating", "sum", "attention", "efc"),
    "autoctr": ("fc", "dot", "efc"),
}
REF_SPACE = {"xlarge": "nasrec-full", "autoctr": "nasrec-small"}
REF_CONFIG = {space: config for config, space in REF_SPACE.items()}
_REF_KEYS = ("micro", "macro")

GenotypeJSON = Annotated[Genotype, PlainSerializer(lambda g: g.to_dict(), return_type=dict[str, Any])]
"""A `Genotype` field of a pydantic record, written as the genotype's own JSON (`Genotype.to_dict()`)."""


def read_json(path: str | Path) -> Any:
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise GenotypeError(f"cannot read file: {exc.strerror or exc}") from None
    return parse_json(text)


def is_nasrec_ref(data: Any) -> bool:
    """Whether a parsed document is a NasRec-ref file: one of its structure keys (`micro`, `macro`) and none of
    ours (`blocks`, `schema_version`), so that a NasRec-ref file missing a key is told so, by its own name."""
    return (
        isinstance(data, dict)
        and any(k in data for k in _REF_KEYS)
        and not any(k in data for k in ("blocks", "schema_version"))
    )


def load(path: str | Path, fmt: str = "auto") -> Genotype:
    """Load a genotype file (`fmt`: `nasrec`, `nasrec-ref`, or `auto` to tell them apart); errors name the file
    (`PATH: blocks[0].dense.dim: ...`)."""
    return load_with_format(path, fmt)[0]


def load_with_format(path: str | Path, fmt: str = "auto") -> tuple[Genotype, str]:
    """`load`, also returning the file's format (`nasrec` or `nasrec-ref`; `auto` tells them apart)."""
    if fmt not in ("auto", "nasrec", "nasrec-ref"):
        raise GenotypeError(f"unknown genotype format {fmt!r} (nasrec, nasrec-ref, auto)")
    try:
        data = read_json(path)
        if fmt == "nasrec-ref" or (fmt == "auto" and is_nasrec_ref(data)):
            return from_nasrec_ref(data), "nasrec-ref"
        return Genotype.from_dict(data), "nasrec"
    except GenotypeError as exc:
        raise GenotypeError(f"{path}: {exc}") from None


def save(genotype: Genotype, path: str | Path, fmt: str = "nasrec") -> Path:
    """Write atomically as our JSON (`nasrec`) or as a NasRec-ref file (`nasrec-ref`)."""
    if fmt not in ("nasrec", "nasrec-ref"):
        raise GenotypeError(f"unknown genotype format {fmt!r} (nasrec, nasrec-ref)")
    data = to_nasrec_ref(genotype) if fmt == "nasrec-ref" else genotype.to_dict()
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    return Path(path)


# -- NasRec-ref ----------------------------------------------------------------------------------
_REF_STRUCTURE = ("micro", "macro", "config", "num_blocks")
NASREC_META = "nasrec_meta"
"""The key under which a NasRec-ref file written by nasrec keeps the genotype's `meta` (name, scores, lineage)."""
_REF_REQUIRED = ("micro", "macro", "config", "num_blocks", "use_layernorm")
_REF_OPTIONAL = ("test_loss", NASREC_META)  # the reference's own score; nasrec's meta
_REF_MICRO = ("active_nodes", "dense_in_dims", "sparse_in_dims", "dense_sparse_interact", "deep_fm")
_REF_MACRO = ("dense_idx", "sparse_idx", "dense_left_idx", "dense_right_idx")
_REF_HINTS = {
    "use_layernorm": "1: the model has LayerNorm, 0: it has none",
    "dense_sparse_interact": "the dense-to-sparse merger: 1 on, 0 off",
    "deep_fm": "the sparse-to-dense (FM) merger: 1 on, 0 off",
}


def from_nasrec_ref(data: Any) -> Genotype:
    """Convert a NasRec-ref model file (already parsed JSON) into a genotype (not canonicalised, so
    it converts back to the same file). Every key the reference writes is required; a block entry holds no
    other key, and the file no other top-level key spelled like one of its own (the rest is kept in `meta`)."""
    if not isinstance(data, dict):
        raise GenotypeError("a NasRec-ref file is a JSON object", "<document>")
    check_keys(
        data,
        _REF_REQUIRED,
        optional=_REF_OPTIONAL,
        missing_rule="required key of a NasRec-ref file is missing",
        hints=_REF_HINTS,
        extras_unless_close=0.8,
    )
    config = data["config"]
    if not isinstance(config, str) or config not in REF_OPERATORS:
        raise GenotypeError(f"unknown NasRec-ref space {config!r} (known: {', '.join(REF_OPERATORS)})", "config")
    micro, macro = data["micro"], data["macro"]
    if not isinstance(micro, list) or not isinstance(macro, list) or len(micro) != len(macro):
        raise GenotypeError("micro and macro must be lists of the same length (one entry per block)", "micro")
    if type(data["num_blocks"]) is not int or data["num_blocks"] != len(micro):
        raise GenotypeError(f"says {json.dumps(data['num_blocks'])} blocks but micro has {len(micro)}", "num_blocks")
    flag = data["use_layernorm"]
    if isinstance(flag, float) or flag not in (0, 1):  # True and False are 1 and 0
        raise GenotypeError(f"0 or 1 (or false, true), got {json.dumps(flag)}", "use_layernorm")
    saved = data.get(NASREC_META, {})
    if not isinstance(saved, dict):
        raise GenotypeError("must be a JSON object (the genotype's meta, as nasrec writes it)", NASREC_META)
    ops = REF_OPERATORS[config]
    blocks = [_ref_block(i, m, c, ops) for i, (m, c) in enumerate(zip(micro, macro, strict=True))]
    extra = {k: v for k, v in data.items() if k not in (*_REF_STRUCTURE, NASREC_META)}
    document = {"schema_version": SCHEMA_VERSION, "space": REF_SPACE[config], "blocks": blocks}
    try:
        return Genotype.from_dict({**document, "meta": {**saved, "nasrec_ref": extra}})
    except GenotypeError as exc:  # name the file's own keys, not the converted document's
        raise GenotypeError(exc.rule, ref_path(exc.path)) from None


_REF_PATHS = {
    "dense.ops": "micro[{i}].active_nodes",
    "sparse.ops": "micro[{i}].active_nodes",
    "dense.dim": "micro[{i}].dense_in_dims",
    "sparse.dim": "micro[{i}].sparse_in_dims",
    "dense_to_sparse": "micro[{i}].dense_sparse_interact",
    "sparse_to_dense": "micro[{i}].deep_fm",
    "inputs.dense": "macro[{i}].dense_idx",
    "inputs.sparse": "macro[{i}].sparse_idx",
    "inputs.left": "macro[{i}].dense_left_idx",
    "inputs.right": "macro[{i}].dense_right_idx",
}


def ref_path(path: str) -> str:
    """A JSON path of a converted genotype (`blocks[2].inputs.sparse[1]`) as the NasRec-ref file's
    (`macro[2].sparse_idx[1]`); paths with no counterpart are kept."""
    match = re.fullmatch(r"blocks\[(\d+)\]\.([a-z_]+(?:\.[a-z_]+)?)(.*)", path)
    if match is None:
        return path
    block, key, rest = match.groups()
    if key not in _REF_PATHS:
        return path
    if key.endswith(".ops"):  # active_nodes lists both branches' operators: an index into it would mislead
        rest = ""
    return _REF_PATHS[key].format(i=block) + rest


def _ref_block(i: int, micro: Any, macro: Any, ops: tuple[str, ...]) -> dict[str, Any]:
    for name, entry, keys in (("micro", micro, _REF_MICRO), ("macro", macro, _REF_MACRO)):
        if not isinstance(entry, dict):
            raise GenotypeError("block entries must be JSON objects", f"{name}[{i}]")
        check_keys(entry, keys, f"{name}[{i}]", hints=_REF_HINTS)
    nodes = micro["active_nodes"]
    if not isinstance(nodes, list) or not all(type(n) is int and 0 <= n < len(ops) for n in nodes):
        raise GenotypeError(f"active_nodes must list indices into {list(ops)}", f"micro[{i}].active_nodes")
    names = [ops[n] for n in nodes]
    from nasrec.genotype.operators import get_signature

    def single(key: str) -> Any:
        value = macro[key]
        if not isinstance(value, list) or len(value) != 1:
            raise GenotypeError("must be a list with one node id", f"macro[{i}].{key}")
        return value[0]

    return {
        "dense": {"ops": [n for n in names if get_signature(n).branch == "dense"], "dim": micro["dense_in_dims"]},
        "sparse": {"ops": [n for n in names if get_signature(n).branch == "sparse"], "dim": micro["sparse_in_dims"]},
        "inputs": {
            "dense": macro["dense_idx"],
            "sparse": macro["sparse_idx"],
            "left": single("dense_left_idx"),
            "right": single("dense_right_idx"),
        },
        "dense_to_sparse": _flag(micro, "dense_sparse_interact", f"micro[{i}]"),
        "sparse_to_dense": _flag(micro, "deep_fm", f"micro[{i}]"),
    }


def _flag(entry: dict[str, Any], key: str, at: str) -> bool:
    value = entry[key]
    if value not in (0, 1) or isinstance(value, float):
        raise GenotypeError("must be 0 or 1", f"{at}.{key}")
    return bool(value)


def ref_layernorm(genotype: Genotype) -> bool | None:
    """Whether the NasRec-ref file `genotype` was read from builds its model with LayerNorm (its `use_layernorm`,
    kept in `meta` on import); None for a genotype that does not say."""
    ref = genotype.meta.get("nasrec_ref")
    flag = ref.get("use_layernorm") if isinstance(ref, dict) else None
    return bool(flag) if flag in (0, 1) and not isinstance(flag, float) else None


def to_nasrec_ref(genotype: Genotype) -> dict[str, Any]:
    """Convert to a NasRec-ref model file. Inputs no operator reads (dropped by the canonical form)
    are written as node 0, which NasRec-ref ignores for those operators too."""
    space = genotype.space or ""
    if space not in REF_CONFIG:
        raise GenotypeError(f"{space!r}: NasRec-ref knows only the spaces {', '.join(REF_CONFIG)}", "space")
    config = REF_CONFIG[space]
    ops = REF_OPERATORS[config]
    micro, macro = [], []
    for b, block in enumerate(genotype.blocks):
        for branch in ("dense", "sparse"):
            for j, op in enumerate(getattr(block, branch).ops):
                if op not in ops:
                    raise GenotypeError(f"{op!r} has no NasRec-ref {config} index", f"blocks[{b}].{branch}.ops[{j}]")
        ins = block.inputs
        micro.append(
            {
                "active_nodes": [ops.index(op) for op in block.dense.ops + block.sparse.ops],
                "dense_in_dims": block.dense.dim,
                "sparse_in_dims": block.sparse.dim,
                "dense_sparse_interact": int(block.dense_to_sparse),
                "deep_fm": int(block.sparse_to_dense),
            }
        )
        macro.append(
            {
                "dense_idx": list(ins.dense or (0,)),
                "sparse_idx": list(ins.sparse or (0,)),
                "dense_left_idx": [ins.left or 0],
                "dense_right_idx": [ins.right or 0],
            }
        )
    extra = genotype.meta.get("nasrec_ref", {}) if isinstance(genotype.meta.get("nasrec_ref"), dict) else {}
    meta = {k: v for k, v in genotype.meta.items() if k != "nasrec_ref"}
    return {
        "micro": micro,
        "macro": macro,
        "num_blocks": genotype.num_blocks,
        "use_layernorm": extra.get("use_layernorm", 1),
        "config": config,
        **{k: v for k, v in extra.items() if k not in ("use_layernorm", *_REF_STRUCTURE, NASREC_META)},
        **({NASREC_META: meta} if meta else {}),
    }
