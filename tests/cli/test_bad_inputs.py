"""Every bad input to the commands: one `error:` line on stderr, exit code 1, nothing written; bugs keep
their traceback."""

import json
import shutil

import pytest
import typer
from typer.testing import CliRunner

from nasrec.cli.common import user_errors
from nasrec.errors import UsageError
from nasrec.evaluators.data_ref import open_data
from nasrec.genotype import load, sample
from tests.cli.invoke import genotype, nasrec, one_error

runner = CliRunner()
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")
FULL_DIMS = "[16, 32, 64, 128, 256, 512, 768, 1024]"


def write(path, doc) -> str:
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.fixture()
def doc() -> dict:
    return json.loads(sample("nasrec-full", rng=5).to_json())


# -- genotype files --------------------------------------------------------------------------------
def test_deeply_nested_json_is_one_genotype_error(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    for command in ("validate", "info", "render"):
        one_error(genotype(command, str(deep)), f"{deep}: not valid JSON (nested deeper than the parser allows)")


def test_deeply_nested_meta_is_one_genotype_error(tmp_path, doc):
    nested: list = []
    for _ in range(40):
        nested = [nested]
    f = write(tmp_path / "g.json", {**doc, "meta": {"x": nested}})
    one_error(genotype("validate", f), f"{f}: meta: nested deeper than 32 levels")


def test_missing_schema_version_is_rejected(tmp_path, doc):
    del doc["schema_version"]
    f = write(tmp_path / "g.json", doc)
    one_error(
        genotype("validate", f),
        f"{f}: schema_version: required key is missing (genotype documents state "
        f'their format version: "schema_version": 1)',
    )


@pytest.mark.parametrize("command", ["info", "render", "evaluate"])
def test_dims_outside_the_space_fail_before_anything_is_compiled_or_written(tmp_path, doc, command):
    doc["blocks"][0]["dense"]["dim"] = 2048
    f = write(tmp_path / "g.json", doc)
    out = tmp_path / "out" / "g.svg"
    result = (
        nasrec("evaluate", f)
        if command == "evaluate"
        else genotype(command, f, *(["-o", str(out)] if command == "render" else []))
    )
    one_error(result, f"{f}: blocks[0].dense.dim: 2048 is not a dense dim of space 'nasrec-full' {FULL_DIMS}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["info", "render", "evaluate"])
def test_a_huge_dim_without_a_space_stops_at_the_structural_limit(tmp_path, doc, command):
    del doc["space"]
    doc["blocks"][0]["dense"]["dim"] = 1_000_000_000
    f = write(tmp_path / "g.json", doc)
    result = nasrec("evaluate", f) if command == "evaluate" else genotype(command, f)
    one_error(result, f"{f}: blocks[0].dense.dim: Input should be less than or equal to 4096")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.json"]


def test_ten_thousand_blocks_are_refused_at_load(tmp_path, doc):
    f = write(tmp_path / "many.json", {**doc, "blocks": [doc["blocks"][0]] * 10_000})
    one_error(genotype("render", f, "-o", str(tmp_path / "many.svg")), f"{f}: blocks: at most 64 entries, got 10000")
    assert not (tmp_path / "many.svg").exists()


def test_render_refuses_more_blocks_than_graphviz_lays_out_quickly(tmp_path, doc):
    del doc["space"]
    f = write(tmp_path / "deep.json", {**doc, "blocks": [doc["blocks"][0]] * 17})
    one_error(
        genotype("render", f, "-o", str(tmp_path / "deep.svg")),
        f"{f}: blocks: 17 blocks; render draws at most 16 (graphviz's layout of more takes minutes)",
    )
    assert not (tmp_path / "deep.svg").exists()


# -- render and convert ------------------------------------------------------------------------------
@needs_dot
@pytest.mark.parametrize("suffix, magic", [("png", b"\x89PNG\r\n\x1a\n"), ("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_the_output_suffix_picks_the_render_format(tmp_path, doc, suffix, magic):
    f, out = write(tmp_path / "g.json", doc), tmp_path / f"x.{suffix}"
    assert genotype("render", f, "-o", str(out)).exit_code == 0
    assert out.read_bytes().startswith(magic)


def test_an_unknown_or_contradicted_suffix_is_one_error(tmp_path, doc):
    f = write(tmp_path / "g.json", doc)
    txt, png = tmp_path / "x.txt", tmp_path / "x.png"
    one_error(
        genotype("render", f, "-o", str(txt)),
        f"{txt}: unknown render format 'txt' from the suffix (known: svg, png, pdf, dot)",
    )
    one_error(
        genotype("render", f, "-o", str(png), "--format", "svg"),
        f"{png}: the suffix says png, the format asked for is svg",
    )
    one_error(genotype("render", f, "--format", "jpeg"), "unknown render format 'jpeg' (known: svg, png, pdf, dot)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.json"]


def test_convert_detects_nasrec_ref_files(tmp_path, nasrec_ref_files):
    ref = next(p for p in nasrec_ref_files if "criteo_ea_criteo_kaggle_xlarge" in p.name)
    ours, back = tmp_path / "ours.json", tmp_path / "back.json"
    assert genotype("convert", str(ref), "-o", str(ours)).exit_code == 0  # no --from
    assert json.loads(ours.read_text())["schema_version"] == 1 and load(ours).digest() == load(ref).digest()
    assert genotype("convert", str(ours), "-o", str(back)).exit_code == 0  # and back, no --to
    assert json.loads(back.read_text()) == json.loads(ref.read_text())  # micro, macro (connections) and the rest


def test_a_nasrec_ref_file_outside_its_space_is_named_by_its_own_keys(tmp_path, nasrec_ref_files):
    ref = next(p for p in nasrec_ref_files if "criteo_ea_criteo_kaggle_xlarge" in p.name)
    doc = json.loads(ref.read_text())
    doc["micro"][2]["dense_in_dims"] = 100
    f = write(tmp_path / "ref.json", doc)
    one_error(
        genotype("validate", f),
        f"{f}: micro[2].dense_in_dims: 100 is not a dense dim of space 'nasrec-full' {FULL_DIMS}",
    )


# -- options and output ------------------------------------------------------------------------------
def test_a_path_that_cannot_be_written_is_one_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    one_error(genotype("sample", "-o", str(blocker / "g.json")), f"cannot write {blocker / 'g.json'}: File exists")


def test_an_unknown_feature_preset_prints_nothing_else(tmp_path, doc):
    f = write(tmp_path / "g.json", doc)
    one_error(
        genotype("info", f, "--features", "criteo-huge"),
        "--features criteo-huge: criteo, avazu, kdd, sample:NAME or a prepared data folder",
    )


def test_a_bad_flag_value_names_the_flag():
    one_error(nasrec("evaluate", "zoo:dlrm", "--epochs", "0"), "--epochs: Input should be greater than 0, got 0.0")


def test_infinite_epochs_are_refused_before_anything_is_written(tmp_path):
    """Each was a traceback (an OverflowError counting the steps), after the folder's config had been written."""
    finite = "Input should be a finite number, got inf"
    one_error(nasrec("evaluate", "zoo:dlrm", "--epochs", "inf"), f"--epochs: {finite}")
    out = tmp_path / "sn"
    one_error(nasrec("train-supernet", "--epochs", "inf", "-o", str(out)), f"--epochs: {finite}")
    run = tmp_path / "run"
    result = nasrec("search", "--supernet-epochs", "inf", "--final-epochs", "inf", "--out", str(run))
    assert result.exit_code == 1 and result.stderr.splitlines() == [
        f"error: --supernet-epochs: {finite}",
        f"error: --final-epochs: {finite}",
    ]
    assert not out.exists() and not run.exists()


def test_a_negative_patience_says_0_is_taken():
    one_error(
        nasrec("evaluate", "zoo:dlrm", "--patience", "-1"),
        "--patience: Input should be greater than or equal to 0, got -1",
    )


def test_an_unknown_export_format_is_named_before_the_suffix_is_compared(tmp_path):
    for name in ("a.onnx", "a.pt2", "a.tflite"):
        out = tmp_path / name
        one_error(
            nasrec("export", "zoo:dlrm", "-o", str(out), "--format", "tflite"),
            "--format: one of onnx, torch-export, got 'tflite'",
        )
    assert list(tmp_path.iterdir()) == []


def test_a_missing_supernet_to_inherit_from_is_named(tmp_path):
    missing = tmp_path / "supernet" / "checkpoint.pt"
    message = f"supernet {missing}: {missing} does not exist (train one with `nasrec train-supernet`)"
    one_error(nasrec("evaluate", "zoo:dlrm", "--inherit", str(missing)), message)
    folder = missing.parent
    folder.mkdir()  # a folder given for its checkpoint: said so, with the file to give where it holds one
    given = "the checkpoint.pt of a `nasrec train-supernet` folder"
    one_error(
        nasrec("evaluate", "zoo:dlrm", "--inherit", str(folder)),
        f"supernet {folder}: a folder, not a checkpoint; give {given}",
    )
    missing.write_bytes(b"")
    one_error(
        nasrec("evaluate", "zoo:dlrm", "--inherit", str(folder)),
        f"supernet {folder}: a folder, not a checkpoint; give {missing}",
    )


def test_data_smaller_than_one_batch_names_the_data_rows_and_batch(tmp_path):
    where = open_data("sample:criteo").path
    message = (
        f"{where}: the train split has 11,960 rows, fewer than one batch of 20,000 (use a smaller batch "
        f"size or more data)"
    )
    one_error(nasrec("evaluate", "zoo:dlrm", "--batch-size", "20000"), message)
    one_error(nasrec("train-supernet", "--batch-size", "20000", "-o", str(tmp_path / "supernet")), message)
    assert not (tmp_path / "supernet").exists()


def test_tables_fold_long_cells_instead_of_cutting_them_and_info_fits_80_columns(tmp_path):
    g = sample("nasrec-full", rng=0)
    assert g.blocks[0].sparse.ops == ("attention",)
    f = tmp_path / "g.json"
    f.write_text(g.to_json())
    result = genotype("info", str(f), columns=60)
    assert result.exit_code == 0 and "…" not in result.stdout and "attenti" in result.stdout  # folded, not cut
    lines = genotype("info", str(f), columns=80).stdout.splitlines()
    rows = [line.split() for line in lines if line[:1].isdigit()]  # one line a block, nothing folded
    assert [r[0] for r in rows] == [str(k) for k in range(1, len(g.blocks) + 1)]
    assert all(f"{'+'.join(b.sparse.ops)} {b.sparse.dim}" in " ".join(r) for r, b in zip(rows, g.blocks, strict=True))
    assert all(len(line) <= 80 for line in lines[1:4])


# -- only the project's own errors are one line --------------------------------------------------------
def _app(error: Exception) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @user_errors
    def run() -> None:
        raise error

    return app


def test_user_errors_are_one_line_and_bugs_keep_their_traceback():
    one_error(runner.invoke(_app(UsageError("--x: bad value"))), "--x: bad value")
    bug = RuntimeError("CUDA error: an illegal memory access was encountered")
    result = runner.invoke(_app(bug))
    assert result.exit_code == 1 and result.exception is bug and result.stderr == ""
    for error in (ValueError("a bug"), OSError("a bug")):
        assert runner.invoke(_app(error)).exception is error


# -- seeds and output paths ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [
        ("genotype", "sample", "--space", "nasrec-small", "--seed", "-1"),
        ("genotype", "mutate", "zoo:dlrm", "--seed", "-1"),
        ("nasrec", "evaluate", "zoo:dlrm", "--seed", "-1"),
        ("nasrec", "search", "--seed", "-1", "--out", "OUT"),
        ("nasrec", "train-supernet", "--seed", "-1", "-o", "OUT"),
        ("nasrec", "demo", "--seed", "-1", "-o", "OUT"),
    ],
    ids=lambda c: f"{c[0]}-{c[1]}",
)
def test_a_negative_seed_is_one_error(command, tmp_path):
    args = [str(tmp_path / "out") if a == "OUT" else a for a in command[1:]]
    result = genotype(*args) if command[0] == "genotype" else nasrec(*args)
    one_error(result, "--seed: Input should be greater than or equal to 0, got -1")
    assert not (tmp_path / "out").exists()


def test_an_output_folder_that_is_a_file_is_one_error_and_the_file_is_kept(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    one_error(nasrec("search", "--out", str(path)), f"run folder {path} is a file, not a folder; choose another path")
    one_error(
        nasrec("train-supernet", "-o", str(path)),
        f"supernet folder {path} is a file, not a folder; choose another path",
    )
    one_error(
        nasrec("evaluate", "zoo:dlrm", "--epochs", "0.01", "--tensorboard", str(path)),
        f"--tensorboard {path} is a file, not a folder; choose another path",
    )
    assert path.read_text() == "mine"


def test_convert_never_writes_over_its_input(tmp_path, doc):
    f = write(tmp_path / "g.json", doc)
    before = (tmp_path / "g.json").read_bytes()
    one_error(
        genotype("convert", f, "-o", f), f"-o {f} is the input file; write the converted genotype to another file"
    )
    assert (tmp_path / "g.json").read_bytes() == before


def test_mutate_never_writes_over_its_parent(tmp_path):
    from nasrec.genotype import sample

    f = write(tmp_path / "p.json", json.loads(sample("nasrec-small", rng=0).to_json()))
    before = (tmp_path / "p.json").read_bytes()
    one_error(genotype("mutate", f, "-o", f), f"-o {f} is the parent's file; write the child to another file")
    assert (tmp_path / "p.json").read_bytes() == before
    assert genotype("mutate", f, "-o", str(tmp_path / "child.json")).exit_code == 0


def test_render_never_writes_over_its_own_genotype_and_convert_names_a_bad_target(tmp_path):
    g = tmp_path / "a.json"
    g.write_text(sample("nasrec-small", rng=0).to_json())
    before = g.read_bytes()
    one_error(
        genotype("render", str(g), "-o", str(g), "--format", "svg"),
        f"-o {g}: that is the genotype file itself; choose another name",
    )
    assert g.read_bytes() == before
    one_error(genotype("convert", str(g), "--to", "foo"), "--to: nasrec or nasrec-ref, got 'foo'")
    one_error(genotype("convert", str(g), "--to", "auto"), "--to: nasrec or nasrec-ref, got 'auto'")
    for command in ("convert", "render"):  # a bad choice is one line and exit 1, like every other bad option
        one_error(genotype(command, str(g), "--from", "foo"), "--from: auto, nasrec, nasrec-ref, got 'foo'")
    other = tmp_path / "custom.json"  # a space NasRec-ref has no layer rules for: the file and the space named
    other.write_text(sample("nasrec-small", rng=0).to_json().replace('"nasrec-small"', '"my-space"'))
    one_error(
        genotype("convert", str(other)),
        f"{other}: space: 'my-space': NasRec-ref knows only the spaces nasrec-full, nasrec-small",
    )


# -- mutate ----------------------------------------------------------------------------------------------
def test_mutate_names_the_file_and_the_space_option(tmp_path, doc):
    f = write(tmp_path / "g.json", doc)
    one_error(
        genotype("mutate", f, "--space", "nasrec-small"),
        f"{f}: blocks[0].dense.ops[0]: 'sum' is not in space 'nasrec-small' (fc, dot)",
    )
    bare = write(tmp_path / "bare.json", {k: v for k, v in doc.items() if k != "space"})
    one_error(genotype("mutate", bare), f"{bare}: the genotype names no space; name one with --space")
    one_error(
        genotype("mutate", f, "--kind", "nope"),
        "--kind: unknown mutation 'nope' (known: dense_dim, sparse_dim, dense_op, sparse_op, connections, mergers)",
    )
    tiny = write(
        tmp_path / "tiny.json",
        {
            "name": "tiny",
            "num_blocks": 1,
            "dense_ops": ["fc"],
            "sparse_ops": ["efc"],
            "dense_dims": [8],
            "sparse_dims": [4],
            "mergers": [],
        },
    )
    one = tmp_path / "one.json"
    assert genotype("sample", "--space", tiny, "-o", str(one)).exit_code == 0
    one_error(
        genotype("mutate", str(one), "--kind", "dense_dim"),
        f"{one}: no mutation of kind 'dense_dim' can change this genotype within space 'tiny'",
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--supernet-epochs", "0"], "--supernet-epochs: Input should be greater than 0, got 0.0"),
        (["--full-epochs", "-1"], "--full-epochs: Input should be greater than 0, got -1.0"),
        (["--seeds", "0"], "--seeds: Input should be greater than or equal to 1, got 0"),
        (["--finetune-rows", "0"], "--finetune-rows: Input should be greater than 0"),
    ],
)
def test_rank_study_errors_name_its_own_flags(tmp_path, flags, message):
    out = tmp_path / "study"
    one_error(nasrec("rank-study", "-o", str(out), *flags), message)
    assert not out.exists()


def test_rank_study_names_every_bad_flag_at_once(tmp_path):
    flags = ["--supernet-epochs", "0", "--full-epochs", "0", "--seeds", "0"]
    result = nasrec("rank-study", "-o", str(tmp_path / "s"), *flags)
    assert result.exit_code == 1 and result.stderr.splitlines() == [
        "error: --supernet-epochs: Input should be greater than 0, got 0.0",
        "error: --seeds: Input should be greater than or equal to 1, got 0",
        "error: --full-epochs: Input should be greater than 0, got 0.0",
    ]


def test_evaluate_retrain_without_the_test_split_is_refused():
    one_error(
        nasrec("evaluate", "zoo:dlrm", "--final-protocol", "retrain"),
        "--final-protocol retrain needs --split test (got --split valid)",
    )


@pytest.mark.parametrize(
    ("trained_with", "flag", "message"),
    [
        (True, "--no-layernorm", "--no-layernorm: the supernet {} was trained with LayerNorm"),
        (False, "--layernorm", "--layernorm: the supernet {} was trained without LayerNorm"),
    ],
)
def test_evaluate_names_a_layernorm_flag_the_inherited_supernet_contradicts(tmp_path, trained_with, flag, message):
    from nasrec.evaluators import SupernetTrainingConfig

    checkpoint = tmp_path / "supernet" / "checkpoint.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"")  # never read: the flags are checked first
    config = SupernetTrainingConfig(data="sample:criteo", layernorm=trained_with)
    (checkpoint.parent / "config.json").write_text(config.model_dump_json())
    one_error(
        nasrec("evaluate", "zoo:dlrm", "--inherit", str(checkpoint), flag),
        message.format(checkpoint) + "; its weights decide: leave the flag out",
    )
    same = "--layernorm" if trained_with else "--no-layernorm"  # the supernet's own setting: taken, on to its weights
    one_error(
        nasrec("evaluate", "zoo:dlrm", "--inherit", str(checkpoint), same),
        f"checkpoint {checkpoint} cannot be read as weights: the file is empty",
    )


def test_a_folder_the_operating_system_refuses_is_one_error_line(tmp_path, monkeypatch):
    """A read-only folder, a full disk: one line naming the path, not a traceback (anything else keeps its)."""
    import errno

    from nasrec.evaluators import supernet_training

    def refused(path, *args, **kw):
        raise PermissionError(errno.EPERM, "Operation not permitted", str(path))

    monkeypatch.setattr(supernet_training, "RunLock", refused)
    out = tmp_path / "ro" / "sn"
    one_error(nasrec("train-supernet", "--space", "nasrec-small", "-o", str(out)), f"{out}: Operation not permitted")

    def broken(path, *args, **kw):
        raise OSError(errno.EIO, "Input/output error", str(path))

    monkeypatch.setattr(supernet_training, "RunLock", broken)
    result = nasrec("train-supernet", "--space", "nasrec-small", "-o", str(out))
    assert result.exit_code == 1 and isinstance(result.exception, OSError)  # not the user's to fix: a traceback


def test_weights_that_could_not_be_saved_are_refused_before_training(tmp_path, monkeypatch):
    """They failed after the training, which can take hours."""
    import errno
    import tempfile

    (tmp_path / "f").write_text("mine")
    one_error(
        nasrec("evaluate", "zoo:dlrm", "--save-weights", str(tmp_path / "f" / "w.pt")),
        f"--save-weights {tmp_path / 'f' / 'w.pt'}: {tmp_path / 'f'} is a file, not a folder",
    )

    def refused(*args, **kw):
        raise PermissionError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refused)
    out = tmp_path / "ro" / "w.pt"
    one_error(
        nasrec("evaluate", "zoo:dlrm", "--save-weights", str(out)),
        f"--save-weights {out}: cannot write in {out.parent}: Read-only file system",
    )
