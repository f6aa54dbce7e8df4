"""Rendering to files: svg, png, pdf and dot through graphviz, and the one-line errors."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasrec.cli.genotype import app
from nasrec.errors import UsageError
from nasrec.genotype import Genotype, load
from nasrec.genotype.errors import GenotypeError
from nasrec.viz.render import render, to_dot
from tests.viz.drawing import known as _known

render_module = importlib.import_module("nasrec.viz.render")  # the module, even if nasrec.viz re-exports `render`
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")


# -- files ------------------------------------------------------------------------------------------
@needs_dot
def test_render_svg_png_pdf(tmp_path: Path) -> None:
    g = _known()
    svg = render(g, tmp_path / "g.svg")
    assert svg == tmp_path / "g.svg"
    assert "<svg" in svg.read_text() and "Attention" in svg.read_text()
    assert render(g, tmp_path / "g.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert render(g, tmp_path / "g.pdf").read_bytes().startswith(b"%PDF")
    assert render(g, tmp_path / "out" / "g", format="PNG").read_bytes().startswith(b"\x89PNG")  # folder made


def test_render_dot_needs_no_graphviz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render_module.shutil, "which", lambda name: None)
    assert render(_known(), tmp_path / "g.dot").read_text() == to_dot(_known())
    assert render(_known(), tmp_path / "g.gv", format="dot").read_text() == to_dot(_known())


def test_dot_text_of_more_blocks_than_graphviz_lays_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = _known().to_dict()
    deep = Genotype.from_dict({**doc, "space": None, "blocks": [doc["blocks"][0]] * 17})
    monkeypatch.setattr(render_module.shutil, "which", lambda name: None)  # DOT text needs no graphviz
    assert render(deep, tmp_path / "deep.dot").read_text() == to_dot(deep)
    with pytest.raises(GenotypeError, match=r"^blocks: 17 blocks; render draws at most 16 \(graphviz's layout"):
        render(deep, tmp_path / "deep.svg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep.dot"]


def test_suffixless_path_defaults_to_svg(tmp_path: Path) -> None:
    if shutil.which("dot") is None:
        pytest.skip("graphviz `dot` is not installed")
    assert "<svg" in render(_known(), tmp_path / "drawing").read_text()


# -- user errors ------------------------------------------------------------------------------------
def test_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown render format 'jpeg' \(known: svg, png, pdf, dot\)"):
        render(_known(), tmp_path / "g.svg", format="jpeg")
    with pytest.raises(ValueError, match="'txt'"):
        render(_known(), tmp_path / "g.txt")
    assert not list(tmp_path.iterdir())


def test_unwritable_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(UsageError, match=r"cannot write .*a-file/g\.dot"):
        render(_known(), blocker / "g.dot")


def test_dot_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render_module.shutil, "which", lambda name: None)
    with pytest.raises(UsageError, match="graphviz's `dot` executable was not found"):
        render(_known(), tmp_path / "g.svg")
    assert not (tmp_path / "g.svg").exists()


def test_viz_does_not_import_torch() -> None:
    code = "import sys, nasrec.viz.render; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dot_failing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    false = shutil.which("false")
    if false is None:
        pytest.skip("no `false` executable")
    monkeypatch.setattr(render_module.shutil, "which", lambda name: false)
    with pytest.raises(RuntimeError, match=r"graphviz `dot -Tpng` failed"):
        render(_known(), tmp_path / "g.png")


def test_hide_unused_reaches_the_file(tmp_path: Path) -> None:
    out = render(_known(), tmp_path / "g.dot", hide_unused=True)
    assert out.read_text() == to_dot(_known(), hide_unused=True)
    assert "b3_dense" not in out.read_text()


def test_cli_hide_unused(tmp_path: Path) -> None:
    ref = Path(__file__).parents[1] / "data" / "nasrec_ref" / "criteo_ea_criteo_kaggle_xlarge_best_1shot.json"
    for flags, name in (([], "all.dot"), (["--hide-unused"], "live.dot")):
        result = CliRunner().invoke(app, ["render", str(ref), "-o", str(tmp_path / name), *flags])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "all.dot").read_text() == to_dot(load(ref))
    assert (tmp_path / "live.dot").read_text() == to_dot(load(ref), hide_unused=True)
    assert "b5_dense" in (tmp_path / "all.dot").read_text() and "b5_dense" not in (tmp_path / "live.dot").read_text()
