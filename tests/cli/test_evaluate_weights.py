"""`nasrec evaluate --save-weights FILE` keeps the trained model for `nasrec export --weights` (which needs no
`--data`: the file records its features)."""

import json

import torch
from typer.testing import CliRunner

from nasrec.cli import main
from nasrec.compiler.standalone import recorded_build, recorded_digest
from nasrec.genotype.zoo import load_zoo


def invoke(args: list[str]):
    return CliRunner().invoke(main.app, args, env={"COLUMNS": "200"})


def test_the_saved_weights_export_and_an_existing_file_is_refused(tmp_path):
    weights = tmp_path / "w" / "dlrm.pt"
    result = invoke(["evaluate", "zoo:dlrm", "--epochs", "0.2", "--save-weights", str(weights)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == f"weights: {weights}"
    state = torch.load(weights, weights_only=True)
    assert recorded_digest(state) == load_zoo("dlrm").active_digest()
    inputs = recorded_build(state).inputs  # the input contract: which data's encoding, and how
    assert inputs is not None and {k: inputs[k] for k in ("format", "encoding", "min_count", "data")} == {
        "format": "criteo",
        "encoding": "vocab",
        "min_count": 2,
        "data": "sample:criteo",
    }
    assert inputs["dense_transform"] == "log(max(x, 0) + 1), missing 0" and inputs["sparse"][-1] == "C26"
    onnx = tmp_path / "dlrm.onnx"
    exported = invoke(["export", "zoo:dlrm", "--weights", str(weights), "-o", str(onnx)])  # its features recorded
    assert exported.exit_code == 0 and onnx.exists(), exported.output
    import onnx as onnx_lib

    model = onnx_lib.load(str(onnx))
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["nasrec.inputs"])["data"] == "sample:criteo"
    assert (props["encoding"], props["sparse_dtype"], props["dense_features"].split(",")[0]) == ("vocab", "int64", "I1")
    assert model.doc_string.startswith("nasrec ") and "sparse int64 [batch, 26] (C1, C2," in model.doc_string

    again = invoke(["evaluate", "zoo:dlrm", "--epochs", "0.2", "--save-weights", str(weights)])
    assert (again.exit_code, again.stderr) == (
        1,
        f"error: --save-weights {weights}: the file exists; remove it or name another\n",
    )
