"""`nasrec export --weights`: a state dict that does not fit says why where it can be told (LayerNorm, the
tables, the supernet's space); an output that is the weights file, or cannot be written, is refused first."""

from __future__ import annotations

import pytest
import torch

from nasrec.cli.common import features_of
from nasrec.compiler import compile_standalone
from nasrec.genotype import load, sample
from tests.cli.invoke import nasrec, one_error


@pytest.fixture()
def genotype_file(tmp_path, tiny_space_file) -> str:
    path = tmp_path / "g.json"
    path.write_text(sample(tiny_space_file, rng=0).to_json())
    return str(path)


def weights(path, cap: int, layernorm: bool) -> str:
    """A standalone state dict of the genotype in `path`'s folder (g.json) over sample:criteo capped at `cap`."""
    g = load(path.parent / "g.json")
    torch.save(compile_standalone(g, features_of("sample:criteo", cap), layernorm=layernorm).state_dict(), path)
    return str(path)


def test_weights_built_with_the_other_layernorm_setting_name_the_flag(tmp_path, genotype_file):
    without = weights(tmp_path / "without.pt", 100, layernorm=False)
    with_ln = weights(tmp_path / "with.pt", 100, layernorm=True)
    common = (genotype_file, "--data", "sample:criteo", "--cap", "100", "-o", str(tmp_path / "a.onnx"))
    one_error(
        nasrec("export", *common, "--weights", without),
        f"--weights {without}: this genotype's standalone weights without LayerNorm; try --no-layernorm",
    )
    one_error(
        nasrec("export", *common, "--weights", with_ln, "--no-layernorm"),
        f"--weights {with_ln}: this genotype's standalone weights with LayerNorm; try --layernorm",
    )
    assert not (tmp_path / "a.onnx").exists()


def test_weights_over_other_tables_say_the_tables_differ(tmp_path, genotype_file):
    w = weights(tmp_path / "w.pt", 100, layernorm=True)
    rows = {cap: features_of("sample:criteo", cap).table_rows for cap in (100, 50)}
    out = str(tmp_path / "a.onnx")
    result = nasrec("export", genotype_file, "--data", "sample:criteo", "--cap", "50", "--weights", w, "-o", out)
    one_error(
        result,
        f"--weights {w}: its embedding tables have {sum(rows[100]):,} rows in all, these features' "
        f"{sum(rows[50]):,}; the tables differ: check --cap and --data",
    )


def test_weights_for_other_features_say_so_and_point_at_data(tmp_path, genotype_file):
    """A state dict trained on sample:criteo exported with --data sample:avazu: the tables and the layers sized by
    the numbers of features differ (it said: not this genotype's standalone weights (size mismatch ...))."""
    w = weights(tmp_path / "w.pt", 100, layernorm=True)
    rows = {name: sum(features_of(f"sample:{name}", 100).table_rows) for name in ("criteo", "avazu")}
    assert rows == {"criteo": 1_826, "avazu": 1_051}
    result = nasrec("export", genotype_file, "--data", "sample:avazu", "--cap", "100", "--weights", w, "-o", "a.onnx")
    one_error(
        result,
        f"--weights {w}: the weights are for other features (its embedding tables have 1,826 rows in all, these "
        "features' 1,051, and 5 layers sized by the numbers of dense and sparse features differ): check --data",
    )


def test_an_existing_output_is_refused_as_save_weights_refuses_its_file(tmp_path, genotype_file):
    out = tmp_path / "a.onnx"
    out.write_bytes(b"an earlier export")
    result = nasrec("export", genotype_file, "--data", "sample:criteo", "--cap", "100", "-o", str(out))
    one_error(result, f"-o {out}: the file exists; remove it or name another")
    assert out.read_bytes() == b"an earlier export"


def test_an_output_that_is_the_weights_file_is_refused_and_the_weights_kept(tmp_path, genotype_file, monkeypatch):
    w = weights(tmp_path / "w.pt", 100, layernorm=True)
    before = (tmp_path / "w.pt").read_bytes()
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    result = nasrec("export", genotype_file, "--data", "sample:criteo", "--cap", "100", "--weights", w, "-o", "../w.pt")
    one_error(result, "-o ../w.pt: that is the --weights file; write the export to another file")
    assert (tmp_path / "w.pt").read_bytes() == before


def test_an_output_that_cannot_be_written_is_refused_before_the_weights_are_read(tmp_path, genotype_file):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    result = nasrec(
        "export", genotype_file, "--data", "sample:criteo", "--weights", str(tmp_path / "bad.pt"), "-o", str(tmp_path)
    )
    one_error(result, f"cannot write {tmp_path}: Is a directory")


def test_a_genotype_outside_the_supernets_space_names_the_genotype_and_the_supernet(tmp_path):
    from nasrec.evaluators import SupernetTrainingConfig

    config = SupernetTrainingConfig(data="sample:criteo", space="nasrec-small", cap=100)
    torch.save({"model": config.build_supernet().state_dict()}, tmp_path / "checkpoint.pt")
    (tmp_path / "config.json").write_text(config.model_dump_json())
    ckpt = str(tmp_path / "checkpoint.pt")
    one_error(
        nasrec("export", "zoo:autoint", "--weights", ckpt, "-o", str(tmp_path / "a.onnx")),
        f"zoo:autoint: not in the space of supernet {ckpt}: "
        "blocks[0].sparse.ops[0]: 'attention' is not in space 'nasrec-small' (efc)",
    )


def test_a_nasrec_ref_file_without_layernorm_builds_its_model_without_it_unless_a_flag_says(tmp_path, nasrec_ref_files):
    """NasRec-ref files carry `use_layernorm`; it was kept on import but never read, so a file saying 0 was built
    with LayerNorm. Export and evaluate follow it when no flag is given; the flag wins."""
    import json

    from nasrec.cli.export import model_for
    from nasrec.cli.train import evaluate_layernorm
    from nasrec.genotype.io import ref_layernorm

    raw = json.loads(nasrec_ref_files[0].read_text())
    raw["use_layernorm"] = 0
    path = tmp_path / "ref0.json"
    path.write_text(json.dumps(raw))
    g0, g1, plain = load(path), load(nasrec_ref_files[0]), sample("nasrec-full", rng=0)
    assert (ref_layernorm(g0), ref_layernorm(g1), ref_layernorm(plain)) == (False, True, None)

    def norms(model) -> int:
        return sum(name.endswith("ln_g") for name, _ in model.named_parameters())  # the fused LayerNorms' gains

    assert norms(model_for(g0, None, "sample:criteo", 100, None)) == 0
    assert (
        norms(model_for(g0, None, "sample:criteo", 100, True)) > 0
        and norms(model_for(g1, None, "sample:criteo", 100, None)) > 0
    )
    assert [evaluate_layernorm(g0, flag, None) for flag in (None, True, False)] == [False, True, False]
    assert [evaluate_layernorm(g, None, None) for g in (g1, plain)] == [True, True]
    assert evaluate_layernorm(g0, None, tmp_path / "checkpoint.pt") is True  # inherited: the supernet decides
