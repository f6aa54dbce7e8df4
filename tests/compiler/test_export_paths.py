"""Export output paths that cannot be written: one `cannot write PATH: reason` line, before the export runs."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from nasrec.cli.main import app
from nasrec.compiler import compile_standalone, export
from nasrec.compiler.export import export_file
from nasrec.data.spec import preset
from nasrec.errors import UsageError
from nasrec.genotype.zoo import load_zoo

FEATURES = preset("criteo", cap=500)


@pytest.fixture
def no_export(monkeypatch):
    """Exporting fails the test: the path is refused first."""

    def never(*args, **kwargs):
        raise AssertionError("exported before the output path was checked")

    monkeypatch.setattr(export, "export_program", never)
    monkeypatch.setattr(export, "export_onnx", never)


def _model():
    torch.manual_seed(0)
    return compile_standalone(load_zoo("dlrm"), FEATURES)


@pytest.mark.parametrize("format", ["onnx", "torch-export"])
def test_a_folder_as_the_output_is_refused_before_exporting(tmp_path, no_export, format):
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(UsageError) as caught:
        export_file(_model(), FEATURES, tmp_path / "emptydir", format)
    assert str(caught.value) == f"cannot write {tmp_path / 'emptydir'}: Is a directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emptydir"] and not any((tmp_path / "emptydir").iterdir())


def test_an_output_below_a_file_is_refused_before_exporting(tmp_path, no_export):
    (tmp_path / "somefile").write_text("x")
    for out in (tmp_path / "somefile" / "x.onnx", tmp_path / "somefile" / "deeper" / "x.onnx"):
        with pytest.raises(UsageError) as caught:
            export_file(_model(), FEATURES, out, "onnx")
        assert str(caught.value) == f"cannot write {out}: {tmp_path / 'somefile'} is a file, not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["somefile"]


def test_a_move_into_place_that_fails_is_one_line_and_leaves_no_temporary(tmp_path, monkeypatch):
    out = tmp_path / "m.pt2"
    real = export.export_program

    def then_a_folder_appears(model, features):  # e.g. another process made one there meanwhile
        out.mkdir()
        return real(model, features)

    monkeypatch.setattr(export, "export_program", then_a_folder_appears)
    with pytest.raises(UsageError) as caught:
        export_file(_model(), FEATURES, out, "torch-export")
    assert str(caught.value) == f"cannot write {out}: Is a directory"
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt2"]  # the folder; no temporary left beside it


def test_cli_export_to_a_folder_is_one_error_line(tmp_path, no_export):
    (tmp_path / "emptydir").mkdir()
    (tmp_path / "somefile").write_text("x")
    runner = CliRunner()
    for out, reason in (
        (tmp_path / "emptydir", "Is a directory"),
        (tmp_path / "somefile" / "x.pt2", f"{tmp_path / 'somefile'} is a file, not a folder"),
    ):
        result = runner.invoke(app, ["export", "zoo:dlrm", "--data", "sample:criteo", "-o", str(out)])
        assert result.exit_code == 1 and result.stderr == f"error: cannot write {out}: {reason}\n"
