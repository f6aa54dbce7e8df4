"""A run folder begun by an earlier nasrec resumes as it ran: settings it lacks take the value its runs used."""

from __future__ import annotations

import json

import pytest

from nasrec.errors import UsageError
from nasrec.search.base import build_strategy
from nasrec.search.run_config import EvaluatorChoice, RunConfig, StrategyChoice
from nasrec.search.run_folder import as_folder_ran, growable_as_folder_ran, pin_run_config


def _folder_without_max_passes(tmp_path, evaluator: EvaluatorChoice):
    path = tmp_path / "config.json"
    pin_run_config(path, RunConfig(evaluator=evaluator))
    raw = json.loads(path.read_text())
    raw["config"]["evaluator"]["config"].pop("max_passes", None)  # as written before the setting existed
    path.write_text(json.dumps(raw))
    return path


def test_a_finetune_folder_from_before_max_passes_resumes_with_one_pass(tmp_path):
    paper = EvaluatorChoice(name="finetune", config={"recipe": "paper"})
    assert RunConfig(evaluator=paper).evaluator.config["max_passes"] is None  # today's default: as many as needed
    path = _folder_without_max_passes(tmp_path, paper)
    resumed = as_folder_ran(path, RunConfig(evaluator=paper))
    assert resumed.evaluator.config["max_passes"] == 1
    assert pin_run_config(path, resumed) == {}  # accepted, and the rest of the search makes one pass as before
    given = EvaluatorChoice(name="finetune", config={"recipe": "paper", "max_passes": 3})
    with pytest.raises(UsageError, match=r"different evaluator\.config\.max_passes\)"):
        pin_run_config(path, as_folder_ran(path, RunConfig(evaluator=given)))  # an explicit value is named


def test_other_evaluators_and_new_folders_keep_their_settings(tmp_path):
    supernet = EvaluatorChoice(name="supernet")
    (tmp_path / "a").mkdir()
    path = _folder_without_max_passes(tmp_path / "a", supernet)
    assert as_folder_ran(path, RunConfig(evaluator=supernet)).evaluator == RunConfig(evaluator=supernet).evaluator
    assert pin_run_config(path, RunConfig(evaluator=supernet)) == {}
    fresh = RunConfig(evaluator=EvaluatorChoice(name="finetune"))
    assert as_folder_ran(tmp_path / "none.json", fresh) is fresh


def test_an_evolution_folder_from_before_grow_ops_resumes_without_growing_operators(tmp_path):
    """Begun with a multi-operator sampler before commit d11edd5, evolution never gave a one-operator branch
    several operators: its folder resumes that way, so the rest of the run proposes what the first part would."""
    anypath = StrategyChoice(name="evolution", options={"sampler": "any-path"})
    assert RunConfig(strategy=anypath).strategy.options["grow_ops"] is True
    path = tmp_path / "config.json"
    pin_run_config(path, RunConfig(strategy=anypath))
    raw = json.loads(path.read_text())
    del raw["config"]["strategy"]["options"]["grow_ops"]
    path.write_text(json.dumps(raw))
    resumed = as_folder_ran(path, RunConfig(strategy=anypath))
    assert resumed.strategy.options["grow_ops"] is False and pin_run_config(path, resumed) == {}
    assert build_strategy("evolution", "nasrec-small", **resumed.strategy.options).multi_op is False
    assert build_strategy("evolution", "nasrec-small", **anypath.options).multi_op is True


def test_a_folder_from_before_checkpoint_seconds_resumes_saving_its_supernet_every_checkpoint_every_steps(tmp_path):
    """Begun before `checkpoint_seconds` existed, a folder's supernet was saved every `checkpoint_every` steps: it
    resumes so (0), its config accepted; a new folder gets the time bound."""
    path = tmp_path / "config.json"
    pin_run_config(path, RunConfig())
    raw = json.loads(path.read_text())
    assert raw["config"]["supernet"]["train"].pop("checkpoint_seconds") == 300  # as written before the setting
    path.write_text(json.dumps(raw))
    resumed = as_folder_ran(path, RunConfig())
    assert resumed.supernet.train.checkpoint_seconds == 0 and pin_run_config(path, resumed) == {}
    assert resumed.model_dump(exclude={"supernet": {"train": {"checkpoint_seconds"}}}) == RunConfig().model_dump(
        exclude={"supernet": {"train": {"checkpoint_seconds"}}}
    )
    assert as_folder_ran(tmp_path / "none.json", RunConfig()).supernet.train.checkpoint_seconds == 300


def test_a_folder_from_before_final_protocol_resumes_retraining_its_final_models(tmp_path):
    """Begun before commit 1b6d36e, a folder's final stage retrained every model on train + valid: it resumes so
    (today's default keeps the early-stopped models), with or without `--final-protocol retrain`."""
    assert RunConfig().final_protocol == "keep"
    path = tmp_path / "config.json"
    pin_run_config(path, RunConfig())
    raw = json.loads(path.read_text())
    del raw["config"]["final_protocol"]
    path.write_text(json.dumps(raw))
    resumed = as_folder_ran(path, RunConfig())
    assert resumed.final_protocol == "retrain" and pin_run_config(path, resumed) == {}
    assert pin_run_config(path, as_folder_ran(path, RunConfig(final_protocol="retrain"))) == {}


def test_a_refused_config_shows_each_difference_with_the_stored_and_given_values(tmp_path):
    path = tmp_path / "config.json"
    pin_run_config(path, RunConfig())
    given = RunConfig(
        space="nasrec-small",
        seed=2,
        top_k=1,
        full_epochs=2.0,
        final_seeds=1,
        zoo=["dlrm"],
        random_baseline=False,
        objectives=("logloss", "flops"),
    )
    with pytest.raises(UsageError) as exc:
        pin_run_config(path, given)
    assert str(exc.value) == (
        f"{path} holds another run's config (different space, seed, supernet.space, supernet.train.seed, "
        "objectives, top_k, full_epochs, final_seeds, zoo, random_baseline): space nasrec-full -> nasrec-small, "
        'seed 0 -> 2, objectives ["logloss"] -> ["logloss", "flops"], top_k 15 -> 1, full_epochs 10.0 -> 2.0, '
        "final_seeds 3 -> 1, ... (2 more) (stored -> given); use a new folder or the same settings"
    )
    with pytest.raises(UsageError) as exc:
        pin_run_config(path, RunConfig(seed=1))
    assert str(exc.value) == (
        f"{path} holds another run's config (different seed, supernet.train.seed): seed 0 -> 1 (stored -> given); "
        "use a new folder or the same settings"
    )


@pytest.mark.parametrize("name", ["finetune", "supernet"])
def test_a_proxy_folder_from_before_the_validation_cap_resumes_on_the_whole_split(tmp_path, name):
    """Begun when the proxies scored the whole validation split (`valid_rows` null, then the default), a folder
    resumes with it at today's defaults (500,000 rows) instead of being refused; a value given is named."""
    choice = EvaluatorChoice(name=name)
    assert RunConfig(evaluator=choice).evaluator.config["valid_rows"] == 500_000
    path = tmp_path / "config.json"
    pin_run_config(path, RunConfig(evaluator=choice))
    raw = json.loads(path.read_text())
    raw["config"]["evaluator"]["config"]["valid_rows"] = None  # as written before the cap
    path.write_text(json.dumps(raw))
    resumed = as_folder_ran(path, RunConfig(evaluator=choice))
    assert resumed.evaluator.config["valid_rows"] is None and pin_run_config(path, resumed) == {}
    assert json.loads(path.read_text())["config"]["evaluator"]["config"]["valid_rows"] is None
    given = EvaluatorChoice(name=name, config={"valid_rows": 1000})
    with pytest.raises(UsageError, match=r"different evaluator\.config\.valid_rows\)"):
        pin_run_config(path, as_folder_ran(path, RunConfig(evaluator=given)))
    (tmp_path / "new").mkdir()
    fresh = tmp_path / "new" / "config.json"
    pin_run_config(fresh, RunConfig(evaluator=choice))  # a folder begun now keeps the cap
    assert as_folder_ran(fresh, RunConfig(evaluator=choice)).evaluator.config["valid_rows"] == 500_000


def test_a_rerun_that_leaves_a_growable_option_out_goes_on_with_the_folders_value(tmp_path):
    """Only a budget given extends a run: left out, its default (2,048) would grow a finished run of 6."""
    path = tmp_path / "config.json"
    pin_run_config(path, RunConfig(strategy=StrategyChoice(name="random", options={"budget": 6})))
    assert growable_as_folder_ran(path, "random", {}) == {"budget": 6}
    assert growable_as_folder_ran(path, "random", {"budget": 9}) == {"budget": 9}  # given: it extends
    assert growable_as_folder_ran(path, "evolution", {}) == {}  # another strategy: pinning refuses it
    assert growable_as_folder_ran(tmp_path / "none.json", "random", {}) == {}  # no run yet
    evolution = StrategyChoice(name="evolution", options={"population": 4, "cycles": 3, "tournament": 2})
    pin_run_config(tmp_path / "evo.json", RunConfig(strategy=evolution))
    assert growable_as_folder_ran(tmp_path / "evo.json", "evolution", {"population": 4}) == {
        "cycles": 3,
        "population": 4,
    }  # only the growable option is taken: the others stay as given (and pinning compares them)
    scheduled = StrategyChoice(name="evolution", options={**evolution.options, "mutations": 3})
    pin_run_config(tmp_path / "sched.json", RunConfig(strategy=scheduled))
    assert growable_as_folder_ran(tmp_path / "sched.json", "evolution", {}) == {}  # its schedule: cycles not growable
