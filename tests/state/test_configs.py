"""A folder's config is pinned by its first run; a different one is refused, naming what differs."""

import json

import pytest
from pydantic import BaseModel, ConfigDict

from nasrec.state import pin_config


class Cfg(BaseModel):
    seed: int = 0
    epochs: float = 1.0
    device: str = "cpu"


def test_first_run_writes_later_runs_must_match(tmp_path):
    path = tmp_path / "config.json"
    pin_config(path, Cfg(), what="run", key="config", extra={"versions": {"x": "1"}})
    assert json.loads(path.read_text()) == {
        "config": {"seed": 0, "epochs": 1.0, "device": "cpu"},
        "versions": {"x": "1"},
    }
    before = path.read_bytes()
    pin_config(path, Cfg(device="cuda"), what="run", key="config", ignore=("device",))
    with pytest.raises(
        ValueError,
        match=r"config.json holds another run's config \(different seed, epochs\): seed 0 -> 1, epochs 1.0 -> 2.0 "
        r"\(stored -> given\); use a new folder or the same settings",
    ):
        pin_config(path, Cfg(seed=1, epochs=2), what="run", key="config")
    assert path.read_bytes() == before


def test_an_unreadable_saved_config_is_named(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"seed": "x"}')
    with pytest.raises(
        ValueError,
        match=r"config.json is not a readable supernet config \(seed: Input should be a "
        r"valid integer",
    ):
        pin_config(path, Cfg(), what="supernet")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int = 0


def test_another_commands_config_is_named_by_its_foreign_fields(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"seed": 0, "layernorm": True, "cap": 9, "sampler": "x", "epochs": 1}))
    with pytest.raises(
        ValueError,
        match=r"^\S+config.json is not a rank study config: it has fields a rank study has not "
        r"\(layernorm, cap, sampler, \.\.\.\); a folder of another command\? use a new folder$",
    ):
        pin_config(path, Strict(), what="rank study")


class WithData(BaseModel):
    data: str = "sample:criteo"


def test_a_data_path_is_the_same_data_wherever_it_was_written_from(tmp_path, monkeypatch):
    (tmp_path / "data" / "clicks").mkdir(parents=True)
    (tmp_path / "other" / "data" / "clicks").mkdir(parents=True)
    path = tmp_path / "config.json"
    monkeypatch.chdir(tmp_path)
    pin_config(path, WithData(data="data/clicks"), what="run")  # as nasrec wrote it before: relative
    pin_config(path, WithData(data=str(tmp_path / "data" / "clicks")), what="run")  # the CLI now: absolute
    with pytest.raises(ValueError, match=r"holds another run's config \(different data\)"):
        pin_config(path, WithData(data=str(tmp_path / "other" / "data" / "clicks")), what="run")
    monkeypatch.chdir(tmp_path / "other")  # the relative path now points at other data
    with pytest.raises(ValueError, match=r"holds another run's config \(different data\)"):
        pin_config(path, WithData(data=str(tmp_path / "data" / "clicks")), what="run")


def test_the_cli_stores_a_data_folder_by_its_absolute_path(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from nasrec.cli import main
    from nasrec.data import make_synthetic

    make_synthetic(1_000, seed=0).save(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    args = ["train-supernet", "--data", "data", "-o", "sup", "--epochs", "0.25", "--space", "nasrec-small"]
    assert CliRunner().invoke(main.app, args).exit_code == 0
    assert json.loads((tmp_path / "sup" / "config.json").read_text())["data"] == str(tmp_path / "data")
    monkeypatch.chdir(tmp_path / "sup")  # elsewhere, the run folder still means the same data
    assert CliRunner().invoke(main.app, [*args[:2], str(tmp_path / "data"), "-o", ".", *args[5:]]).exit_code == 0


def test_a_run_folder_written_with_relative_data_and_space_paths_resumes_from_where_they_resolve(tmp_path, monkeypatch):
    from nasrec.genotype import NASREC_SMALL
    from nasrec.search.pipeline import Pipeline, RunConfig

    (tmp_path / "d").mkdir()
    (tmp_path / "space.json").write_text(NASREC_SMALL.model_dump_json())
    monkeypatch.chdir(tmp_path)

    def pin(data: str, space: str, **more) -> None:
        Pipeline(RunConfig(data=data, space=space, supernet={}, **more), tmp_path / "run")._write_config()

    pin("d", "space.json")  # as nasrec wrote it before: relative, also in its copy under `supernet`
    pin(str(tmp_path / "d"), str(tmp_path / "space.json"))  # the CLI now: absolute
    with pytest.raises(ValueError, match=r"holds another run's config \(different seed, supernet.train.seed\)"):
        pin(str(tmp_path / "d"), str(tmp_path / "space.json"), seed=1)


class Train(BaseModel):
    lr: float = 0.1
    guard_patience: int = 20


class Nested(BaseModel):
    seed: int = 0
    train: Train = Train()


def test_a_nested_difference_is_named_by_its_path_and_a_nested_field_may_be_ignored(tmp_path):
    path = tmp_path / "config.json"
    pin_config(path, Nested(), what="supernet")
    pin_config(path, Nested(train=Train(guard_patience=40)), what="supernet", ignore=("train.guard_patience",))
    with pytest.raises(ValueError, match=r"holds another supernet's config \(different train.guard_patience\): "):
        pin_config(path, Nested(train=Train(guard_patience=40)), what="supernet")
    with pytest.raises(ValueError, match=r"\(different seed, train.lr\): "):
        pin_config(
            path,
            Nested(seed=1, train=Train(lr=0.2, guard_patience=40)),
            what="supernet",
            ignore=("train.guard_patience",),
        )
