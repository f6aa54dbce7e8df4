"""The input contract an exported model carries: ONNX `metadata_props` and `doc_string`, a `.pt2`'s extra file.

props = metadata(model, features)      # str -> str: feature order, dtypes, dense transform, encoding
doc = doc_string(model, features)      # the same, as a paragraph
"""

from __future__ import annotations

import json
from typing import Any

from torch import nn

from nasrec import __version__
from nasrec.data.spec import FeatureSpec

PT2_EXTRA = "nasrec_inputs.json"
"""The extra file of an exported `.pt2` holding `contract()` as JSON (`torch.export.load(f, extra_files=...)`)."""
UNKNOWN = "unknown: not recorded (export with --data naming the prepared data, or weights that record it)"


def contract(model: nn.Module, features: FeatureSpec) -> dict[str, Any]:
    """What the model's inputs are: its training data's input contract (`model.inputs`, see
    `nasrec.data.inputs.input_contract`) where known, else the features' order and dtypes alone; with the
    cardinalities and cap (indices past a table's rows are folded by the model itself)."""
    inputs = getattr(model, "inputs", None)
    out: dict[str, Any] = {
        "dense": list(features.dense_names),
        "sparse": list(features.sparse_names),
        "dense_dtype": "float32",
        "sparse_dtype": "int64",
        "dense_transform": UNKNOWN,
        "encoding": UNKNOWN,
    }
    if inputs:
        out.update({k: v for k, v in inputs.items() if k not in ("dense", "sparse")})
    out.update(cardinalities=list(features.cardinalities), cap=features.cap, output="logits float32 [batch]")
    return out


def metadata(model: nn.Module, features: FeatureSpec) -> dict[str, str]:
    """ONNX `metadata_props`: the contract as JSON (`nasrec.inputs`) and its main facts one by one."""
    facts = contract(model, features)
    genotype = getattr(model, "genotype", None)
    props = {
        "nasrec.version": __version__,
        "nasrec.inputs": json.dumps(facts),
        "dense_features": ",".join(facts["dense"]),
        "sparse_features": ",".join(facts["sparse"]),
        **{key: facts[key] for key in ("dense_dtype", "sparse_dtype", "dense_transform", "encoding")},
    }
    if genotype is not None:
        props["nasrec.active_digest"] = genotype.active_digest()
    return props


def doc_string(model: nn.Module, features: FeatureSpec) -> str:
    """The contract as a paragraph: inputs, their order, dtypes, transform and encoding, and the output."""
    facts = contract(model, features)
    if facts["encoding"] == "vocab":
        encoding = (
            f"vocabulary indices of {facts.get('data')} (0 missing, 1 a value it does not hold); "
            f"nasrec.data.RowEncoder.from_prepared({facts.get('data')!r}) encodes raw rows"
        )
    elif facts["encoding"] == "hash":
        encoding = (
            "hashed: key mod (hash size - 1) + 1 with the uncapped hash_sizes in nasrec.inputs (0 missing); "
            "nasrec.data.RowEncoder encodes raw rows"
        )
    else:
        encoding = f"encoding {UNKNOWN}"
    return (
        f"nasrec {__version__} model. Inputs: dense float32 [batch, {features.n_dense}] "
        f"({', '.join(facts['dense'])}; {facts['dense_transform']}) and sparse int64 [batch, {features.n_sparse}] "
        f"({', '.join(facts['sparse'])}; {encoding}). Output: logits float32 [batch], click probability "
        "sigmoid(logits). Metadata nasrec.inputs holds these facts as JSON."
    )
