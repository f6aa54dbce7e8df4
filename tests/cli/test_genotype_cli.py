import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasrec.cli.genotype import app
from nasrec.genotype import Genotype, load, sample, save

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.fixture()
def genotype_file(tmp_path):
    return save(sample("nasrec-full", rng=5), tmp_path / "g.json")


def test_sample_is_seeded_and_valid(tmp_path):
    a, b = run("sample", "--seed", "3"), run("sample", "--seed", "3", "--space", "nasrec-small")
    assert a.exit_code == 0 and b.exit_code == 0
    assert Genotype.from_json(a.stdout) == sample("nasrec-full", rng=3)
    assert Genotype.from_json(b.stdout).space == "nasrec-small"


def test_validate_and_info(genotype_file):
    g = load(genotype_file)
    result = run("validate", str(genotype_file))
    assert result.exit_code == 0 and g.digest() in result.stdout
    result = run("info", str(genotype_file))
    assert result.exit_code == 0
    assert f"digest={g.digest()}" in result.stdout and f"active blocks: {g.active_blocks()}" in result.stdout


def test_info_lists_unused_parts_and_both_flop_counts():
    ref = Path(__file__).parents[1] / "data" / "nasrec_ref" / "criteo_ea_criteo_kaggle_autoctr_best_1shot.json"
    result = run("info", str(ref), "--features", "criteo", "--no-layernorm")
    assert result.exit_code == 0
    assert "active blocks: [1, 2, 3, 4, 5, 7]" in result.stdout
    assert "unused parts of active blocks: block 3 sparse efc, block 3 dense_to_sparse" in result.stdout
    assert (
        "dense params 1,743,288" in result.stdout
        and "FLOPs/example 2,213,456 (reference convention 2,207,808)  embedding lookups/example 26" in result.stdout
    )


def test_bad_file_is_one_line_naming_file_and_path(tmp_path, genotype_file):
    doc = json.loads(genotype_file.read_text())
    doc["blocks"][2]["dense"]["dim"] = -4
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    result = run("validate", str(genotype_file), str(bad))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: {bad}: blocks[2].dense.dim: Input should be greater than 0"]
    assert "Traceback" not in result.output


def test_validate_against_another_space_fails(genotype_file):
    result = run("validate", str(genotype_file), "--space", "nasrec-small")
    assert result.exit_code == 1 and "is not in space 'nasrec-small'" in result.stderr


def test_mutate_records_lineage_and_diff_describes_it(tmp_path, genotype_file):
    out = tmp_path / "child.json"
    assert run("mutate", str(genotype_file), "--seed", "1", "--kind", "dense_dim", "-o", str(out)).exit_code == 0
    child, parent = load(out), load(genotype_file)
    assert child.meta["parent"] == parent.digest() and child.meta["mutation"] == "dense_dim"
    k = child.meta["mutated_block"]
    result = run("diff", str(genotype_file), str(out))
    assert result.stdout.strip() == (
        f"block {k}: dense dim {parent.blocks[k - 1].dense.dim} -> {child.blocks[k - 1].dense.dim}"
    )
    assert run("diff", str(genotype_file), str(genotype_file)).stdout.strip() == "same architecture"


def test_mutate_multi_op_may_grow_a_one_operator_branch(genotype_file):
    def ops(*extra: str) -> list[int]:  # operators in the mutated dense branch of each seed's child
        sizes = []
        for seed in range(12):
            result = run("mutate", str(genotype_file), "--seed", str(seed), "--kind", "dense_op", *extra)
            assert result.exit_code == 0, result.output
            child = Genotype.from_json(result.stdout)
            sizes.append(len(child.blocks[child.meta["mutated_block"] - 1].dense.ops))
        return sizes

    assert set(ops()) == {1}  # the paper's mutation: a one-operator branch keeps one operator
    assert max(ops("--multi-op")) > 1


def test_convert_both_ways(tmp_path, nasrec_ref_files):
    ref = next(p for p in nasrec_ref_files if "criteo_ea_criteo_kaggle_xlarge" in p.name)
    ours, back = tmp_path / "ours.json", tmp_path / "back.json"
    assert run("convert", "--from", "nasrec-ref", str(ref), "-o", str(ours)).exit_code == 0
    assert "blocks" in json.loads(ours.read_text())
    assert run("convert", str(ours), "--to", "nasrec-ref", "-o", str(back)).exit_code == 0
    assert json.loads(back.read_text()) == json.loads(ref.read_text())  # micro, macro (connections) and the rest


def test_schema_and_unknown_space():
    result = run("schema")
    assert json.loads(result.stdout)["title"] == "Genotype"
    result = run("sample", "--space", "nasrec-huge")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: unknown search space 'nasrec-huge' (presets: nasrec-small, nasrec-full, or a JSON file)"
    )


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs graphviz's dot")
def test_render_writes_beside_the_file_and_a_zoo_model_here(tmp_path, genotype_file, monkeypatch):
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = run("render", str(genotype_file))
    assert result.exit_code == 0, result.output
    assert genotype_file.with_suffix(".svg").read_bytes().startswith(b"<?xml")
    assert list(elsewhere.iterdir()) == []  # nothing written where it was run from
    assert run("render", "zoo:dlrm", "--format", "dot").exit_code == 0
    assert [p.name for p in elsewhere.iterdir()] == ["dlrm.dot"]


def test_render_to_a_link_writes_through_it_and_keeps_the_link(tmp_path, genotype_file):
    target = tmp_path / "drawing.dot"
    target.write_text("old")
    link = tmp_path / "link.dot"
    link.symlink_to(target)
    assert run("render", str(genotype_file), "-o", str(link)).exit_code == 0
    assert link.is_symlink() and target.read_text().startswith("digraph nasrec")


def test_user_text_is_printed_as_written_not_as_markup(tmp_path):
    g = sample("nasrec-small", rng=1)
    named = save(Genotype.from_dict({**g.to_dict(), "meta": {"name": "[/]odd [bold]name[/bold]"}}), tmp_path / "m.json")
    result = run("info", str(named))
    assert result.exit_code == 0, result.output  # rich read "[/]" as a closing tag and raised MarkupError
    assert 'meta: {"name": "[/]odd [bold]name[/bold]"}' in result.stdout
    result = run("validate", str(named), "--space", "nasrec-small")
    assert result.exit_code == 0 and str(named) in result.stdout


def test_render_of_a_file_named_like_its_drawing_asks_for_o(tmp_path):
    named_svg = save(sample("nasrec-small", rng=1), tmp_path / "m.svg")
    before = named_svg.read_bytes()
    result = run("render", str(named_svg))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {named_svg}: the default output (FILE with the .svg suffix) is the genotype file itself; "
        "name the drawing with -o\n"
    )
    assert named_svg.read_bytes() == before


def test_render_help_names_the_zoo_default_by_format():
    result = run("render", "--help")
    assert "zoo:NAME: NAME.<format> here" in " ".join(result.stdout.replace("│", " ").split())


def test_from_nasrec_ref_is_refused_for_a_zoo_model(tmp_path):
    for command in ("render", "convert"):
        result = run(command, "zoo:dlrm", "--from", "nasrec-ref", "-o", str(tmp_path / "out.dot"))
        assert result.exit_code == 1
        assert result.stderr == (
            "error: zoo:dlrm: --from nasrec-ref reads NasRec-ref files; a zoo model is a nasrec genotype\n"
        )
    assert list(tmp_path.iterdir()) == []
    assert run("render", "zoo:dlrm", "--from", "nasrec", "-o", str(tmp_path / "out.dot")).exit_code == 0


def test_info_costs_a_genotype_on_a_sample_or_a_prepared_folder_as_on_a_preset():
    from nasrec.evaluators.data_ref import open_data

    folder = open_data("sample:criteo").path  # the prepared folder behind the sample
    lines = [run("info", "zoo:dlrm", "--features", ref).stdout.splitlines()[-1] for ref in ("sample:criteo", folder)]
    assert lines[0] == (
        "cost on sample:criteo: dense params 846,225  embedding params 280,624  FLOPs/example 877,856 (reference "
        "convention 877,856)  embedding lookups/example 26"
    )
    assert lines[1] == lines[0].replace("sample:criteo", str(folder))


def _unread_dense(tmp_path) -> Path:
    """A genotype whose block 3 (gating, attention: no dense reader) lists a dense input."""
    doc = sample("nasrec-full", rng=5).to_dict()
    doc["blocks"][2] = {
        "dense": {"ops": ["gating"], "dim": 128},
        "sparse": {"ops": ["attention"], "dim": 48},
        "inputs": {"sparse": [0, 1, 2], "left": 1, "right": 1, "dense": [1]},
    }
    path = tmp_path / "unread.json"
    path.write_text(json.dumps(doc))
    return path


def test_validate_warns_of_a_connection_no_operator_reads(tmp_path):
    """It was accepted without a word, and `diff` calls it the same architecture as the file without it."""
    path = _unread_dense(tmp_path)
    result = run("validate", str(path))
    assert result.exit_code == 0 and result.stdout.startswith(f"ok  {path}  ")
    assert result.stderr == (
        f"warning: {path}: blocks[2].inputs.dense: no operator of this block (gating, attention) reads a dense "
        "input; the connection is ignored (leave it out, or choose an operator that reads it)\n"
    )
    canonical = save(load(path).canonical(), tmp_path / "canonical.json")
    assert run("validate", str(canonical)).stderr == ""


def test_diff_and_info_warn_of_a_connection_no_operator_reads_as_validate_does(tmp_path):
    path = _unread_dense(tmp_path)
    canonical = save(load(path).canonical(), tmp_path / "canonical.json")
    warning = (
        f"warning: {path}: blocks[2].inputs.dense: no operator of this block (gating, attention) reads a dense "
        "input; the connection is ignored (leave it out, or choose an operator that reads it)\n"
    )
    diff = run("diff", str(canonical), str(path))
    assert (diff.exit_code, diff.stdout, diff.stderr) == (0, "same architecture\n", warning)
    info = run("info", str(path))
    assert info.exit_code == 0 and info.stderr == warning
    assert run("info", str(canonical)).stderr == run("diff", str(canonical), str(canonical)).stderr == ""


def test_validate_does_not_warn_of_the_connections_every_nasrec_ref_file_lists(tmp_path, nasrec_ref_files):
    ours = tmp_path / "ours.json"
    for ref in nasrec_ref_files:
        assert load(ref).unread_inputs()  # the reference writes all four sources of every block
        assert run("convert", str(ref), "-o", str(ours)).exit_code == 0
        result = run("validate", str(ref), str(ours))
        assert (result.exit_code, result.stderr) == (0, ""), result.output


def test_info_costs_a_nasrec_ref_file_with_its_own_layernorm_setting(tmp_path, nasrec_ref_files):
    """`info` counted LayerNorm unless told --no-layernorm (752,131 dense parameters for a file saying 0), where
    `nasrec evaluate` and `export` build the model as the file says (749,764)."""
    from nasrec.cli.common import features_of
    from nasrec.compiler import compile_standalone
    from nasrec.genotype.io import ref_layernorm

    doc = json.loads(next(p for p in nasrec_ref_files if "criteo_ea_criteo_kaggle_xlarge" in p.name).read_text())
    assert doc["use_layernorm"] == 1
    off = tmp_path / "off.json"
    off.write_text(json.dumps({**doc, "use_layernorm": 0}))

    def dense_params(*args: str) -> str:
        result = run("info", *args, "--features", "sample:criteo")
        assert result.exit_code == 0, result.output
        return result.stdout.splitlines()[-1].split("dense params ")[1].split()[0]

    assert dense_params(str(off)) == "749,764"
    assert dense_params(str(off), "--layernorm") == "752,131"
    g = load(off)
    model = compile_standalone(g, features_of("sample:criteo", None), layernorm=ref_layernorm(g) is not False)
    assert sum(p.numel() for n, p in model.named_parameters() if not n.startswith("embedding")) == 749_764
