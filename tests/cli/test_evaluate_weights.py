"""`nasrec evaluate --save-weights FILE` keeps the trained model for `nasrec export --weights` (which needs no
`--data`: the file records its features)."""

import torch
from typer.testing import CliRunner

from nasrec.cli import main
from nasrec.compiler.standalone import recorded_digest
from nasrec.genotype.zoo import load_zoo


def invoke(args: list[str]):
    return CliRunner().invoke(main.app, args, env={"COLUMNS": "200"})


def test_the_saved_weights_export_and_an_existing_file_is_refused(tmp_path):
    weights = tmp_path / "w" / "dlrm.pt"
    result = invoke(["evaluate", "zoo:dlrm", "--epochs", "0.2", "--save-weights", str(weights)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == f"weights: {weights}"
    assert recorded_digest(torch.load(weights, weights_only=True)) == load_zoo("dlrm").active_digest()
    onnx = tmp_path / "dlrm.onnx"
    exported = invoke(["export", "zoo:dlrm", "--weights", str(weights), "-o", str(onnx)])  # its features recorded
    assert exported.exit_code == 0 and onnx.exists(), exported.output

    again = invoke(["evaluate", "zoo:dlrm", "--epochs", "0.2", "--save-weights", str(weights)])
    assert (again.exit_code, again.stderr) == (
        1,
        f"error: --save-weights {weights}: the file exists; remove it or name another\n",
    )
