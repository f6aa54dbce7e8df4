"""A `--space` file is recorded by its absolute path (as `--data` is): a genotype, supernet or run folder then
names the same space from any directory; preset names are kept as typed, and folders begun with a relative
path resume from where it resolves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nasrec.cli import search as search_cli
from nasrec.errors import UsageError
from nasrec.search import pipeline
from nasrec.search.run_config import RunConfig
from nasrec.search.run_folder import pin_run_config
from tests.cli.invoke import genotype, nasrec


@pytest.fixture()
def here(tmp_path, monkeypatch, tiny_space_file) -> Path:
    """tmp_path as the current directory, holding `tiny.json` (a space file) and an empty `sub/`."""
    shutil.copy(tiny_space_file, tmp_path / "tiny.json")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_sample_and_mutate_record_a_space_file_absolutely(here, monkeypatch):
    absolute = str(here / "tiny.json")
    assert genotype("sample", "--space", "tiny.json", "-o", "sub/a.json").exit_code == 0
    assert json.loads((here / "sub" / "a.json").read_text())["space"] == absolute
    monkeypatch.chdir(here / "sub")
    result = genotype("validate", "a.json")
    assert result.exit_code == 0 and f"space={absolute}" in result.stdout, result.output
    assert genotype("mutate", "a.json", "--space", "../tiny.json", "-o", "b.json").exit_code == 0
    assert json.loads((here / "sub" / "b.json").read_text())["space"] == absolute
    assert genotype("sample", "--space", "nasrec-small", "-o", "c.json").exit_code == 0
    assert json.loads((here / "sub" / "c.json").read_text())["space"] == "nasrec-small"  # a preset: its name


def test_train_supernet_and_search_record_a_space_file_absolutely(here, monkeypatch):
    import nasrec.evaluators as evaluators

    seen = []

    def stop(config, *args, **kwargs):
        seen.append(config)
        raise UsageError("stopped")

    class Stop(pipeline.Pipeline):
        def run(self):
            seen.append(self.config)
            raise UsageError("stopped")

    monkeypatch.setattr(evaluators, "train_supernet", stop)
    monkeypatch.setattr(search_cli, "Pipeline", Stop)
    assert nasrec("train-supernet", "--space", "tiny.json", "-o", "sn").stderr == "error: stopped\n"
    assert nasrec("search", "--space", "tiny.json", "-o", "run").stderr == "error: stopped\n"
    absolute = str(here / "tiny.json")
    assert [seen[0].space, seen[1].space, seen[1].supernet.space] == [absolute, absolute, absolute]
    nasrec("search", "--space", "nasrec-small", "-o", "run")
    assert seen[2].space == "nasrec-small"


def test_rank_study_records_a_space_file_absolutely_and_keeps_an_old_folders_relative_one(here, monkeypatch):
    seen = []

    def capture(config, out, progress):
        seen.append(config.space)
        raise UsageError("captured")

    monkeypatch.setattr("nasrec.evaluators.rank_study.rank_study", capture)
    nasrec("rank-study", "--space", "tiny.json", "-o", "new")
    (here / "old").mkdir()
    (here / "old" / "config.json").write_text(json.dumps({"space": "tiny.json"}))  # as nasrec wrote it before
    nasrec("rank-study", "--space", str(here / "tiny.json"), "-o", "old")
    nasrec("rank-study", "--space", "nasrec-small", "-o", "old")  # another space: pinning refuses it
    assert seen == [str(here / "tiny.json"), "tiny.json", "nasrec-small"]


def test_a_run_folder_begun_with_a_relative_space_path_resumes_with_the_absolute_one(here):
    path = here / "config.json"
    pin_run_config(path, RunConfig(space="tiny.json"))  # as the CLI wrote it before
    assert pin_run_config(path, RunConfig(space=str(here / "tiny.json"))) == {}
    with pytest.raises(UsageError, match=r"different space"):
        pin_run_config(path, RunConfig(space="nasrec-small"))


def test_export_names_the_supernet_whose_relative_space_file_is_not_found_from_here(here, monkeypatch):
    from nasrec.evaluators import SupernetTrainingConfig

    assert genotype("sample", "--space", "tiny.json", "-o", "g.json").exit_code == 0
    (here / "sn").mkdir()
    (here / "sn" / "checkpoint.pt").write_bytes(b"")
    (here / "sn" / "config.json").write_text(
        SupernetTrainingConfig(data="sample:criteo", space="tiny.json").model_dump_json()
    )  # as before
    monkeypatch.chdir(here / "sub")
    weights = "../sn/checkpoint.pt"
    result = nasrec("export", "../g.json", "-o", "a.onnx", "--weights", weights, "--space", "../tiny.json")
    assert (result.exit_code, result.stderr) == (
        1,
        f"error: --weights {weights}: the supernet's space (../sn/config.json): cannot read search space file "
        "tiny.json: No such file or directory\n",
    )


def test_a_genotype_handed_on_with_its_space_file_finds_the_file_beside_it(here):
    """The recorded path is the drawer's; the receiver has the file beside the genotype (or names it)."""
    assert genotype("sample", "--space", "tiny.json", "-o", "sub/a.json").exit_code == 0
    elsewhere = here / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(here / "sub" / "a.json", elsewhere / "a.json")
    (here / "tiny.json").rename(here / "moved.json")  # the drawer's path is gone
    missing = genotype("info", str(elsewhere / "a.json"))
    assert (missing.exit_code, missing.stderr) == (
        1,
        f"error: {elsewhere / 'a.json'}: its space file {here / 'tiny.json'} is not there, nor tiny.json beside it; "
        "pass the space as --space\n",
    )
    assert genotype("info", str(elsewhere / "a.json"), "--space", str(here / "moved.json")).exit_code == 0
    shutil.copy(here / "moved.json", elsewhere / "tiny.json")
    found = genotype("validate", str(elsewhere / "a.json"))
    assert found.exit_code == 0 and f"space={elsewhere / 'tiny.json'}" in found.stdout
    assert found.stderr == (
        f"note: {elsewhere / 'a.json'}: its space file {here / 'tiny.json'} is not there; using "
        f"{elsewhere / 'tiny.json'}, beside the genotype\n"
    )
