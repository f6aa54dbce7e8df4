"""`nasrec search` and `train-supernet` check every flag before any work: one `error:` line per problem,
exit code 1, and nothing written (so the rerun with the flag fixed is not refused by the folder's config)."""

import json

import pytest
import typer
from typer.testing import CliRunner

from nasrec.cli import main
from nasrec.cli import search as search_cli
from nasrec.errors import UsageError
from nasrec.search import pipeline, scratch_stages
from nasrec.search.base import STRATEGIES
from nasrec.search.pipeline import RunConfig
from nasrec.state import pin_config

runner = CliRunner()


def errors(args: list[str]) -> tuple[int, list[str], str]:
    result = runner.invoke(main.app, args, env={"COLUMNS": "200"})
    return result.exit_code, result.stderr.splitlines(), result.stdout


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--population", "0"], "--population: Input should be greater than or equal to 1, got 0"),
        (["--tournament", "0"], "--tournament: Input should be greater than or equal to 1, got 0"),
        (["--children", "0"], "--children: Input should be greater than or equal to 1, got 0"),
        (["--cycles", "-1"], "--cycles: Input should be greater than or equal to 0, got -1"),
        (["--top-k", "0"], "--top-k: Input should be greater than or equal to 1, got 0"),
        (["--top-k", "-1"], "--top-k: Input should be greater than or equal to 1, got -1"),
        (["--full-epochs", "0"], "--full-epochs: Input should be greater than 0, got 0.0"),
        (["--scratch-lr", "0"], "--scratch-lr: Input should be greater than 0, got 0.0"),
        (["--final-protocol", "refit"], "--final-protocol: Input should be 'keep' or 'retrain', got 'refit'"),
        (
            ["--scratch-min-warmup-steps", "-1"],
            "--scratch-min-warmup-steps: Input should be greater than or equal to 0, got -1",
        ),
        (["--proxy", "nope"], "--proxy: Input should be 'paper', 'fast', 'fast-std', 'bias' or 'scale', got 'nope'"),
        (["--population", "8", "--tournament", "9"], "--tournament: tournament (9) cannot exceed population (8)"),
        (
            ["--strategy", "annealing"],
            f"--strategy: unknown search strategy 'annealing' (known: {', '.join(STRATEGIES.names())})",
        ),
        (
            ["--evaluator", "oracle"],
            "--evaluator: unknown evaluator 'oracle' (known: full, supernet, finetune, params, flops)",
        ),
        (
            ["--strategy", "random", "--population", "8"],
            "--population: not an option of strategy random (its options: budget, sampler)",
        ),
        (
            ["--evaluator", "supernet", "--proxy", "fast"],
            "--proxy: applies only to an evaluator with a recipe (finetune), not supernet",
        ),
        (
            ["--evaluator", "params", "--proxy", "paper"],
            "--proxy: applies only to an evaluator with a recipe (finetune), not params",
        ),
        (["--strategy", "random", "-O", "budget=4", "-O", "budget=8"], "--option budget: given twice; give it once"),
        (["--ray-address", "x:1"], "--ray-address: applies only with --executor ray, not auto"),  # was: ignored
        (["--max-flops", "0"], "--max-flops: Input should be greater than 0"),
        (["--max-params", "-5"], "--max-params: Input should be greater than 0, got -5"),
        (
            ["--objectives", "logloss,latency"],
            "--objectives: Input should be 'logloss', 'flops' or 'params', got 'latency'",
        ),
        (
            ["--objectives", "flops"],
            "--objectives: objectives must be logloss, then any of flops, params, each once, got 'flops'",
        ),
        (
            ["--zoo", "dlrm,dcn"],
            "--zoo: unknown zoo model 'dcn' (known: autoint, deepfm, dlrm, wide_deep), got 'dlrm,dcn'",
        ),
        (["--zoo", "dlrm, deepfm,dlrm"], "--zoo: zoo model 'dlrm' named twice, got 'dlrm,deepfm,dlrm'"),
        (
            ["--strategy", "predictor-evolution", "-O", "screen=0"],
            "--option screen: Input should be greater than or equal to 1, got 0",
        ),
        (
            ["--strategy", "predictor-evolution", "-O", "surrogate=forest"],
            "--option surrogate: Input should be 'gbdt' or 'ridge', got 'forest'",
        ),
        (["-O", "cycles"], "--option: expected KEY=VALUE, got 'cycles'"),
        (["--cycles", "5", "-O", "cycles=7"], "--cycles: given twice, as 5 and as --option cycles=7; give it once"),
        (
            ["-O", "annealing=1"],
            "--option annealing: not an option of strategy evolution "
            "(its options: population, cycles, tournament, children, sampler, mutations, grow_ops)",
        ),
    ],
)
def test_a_bad_search_flag_fails_before_anything_is_written(tmp_path, flags, message):
    out = tmp_path / "run"
    assert errors(["search", *flags, "-o", str(out)]) == (1, [f"error: {message}"], "")
    assert not out.exists()


@pytest.mark.parametrize(
    ("strategy", "missing", "message"),
    [
        ("optuna", "optuna", 'strategy optuna needs Optuna: pip install "nasrec[optuna]"'),
        ("predictor-evolution", "sklearn", "the gbdt surrogate needs scikit-learn: pip install scikit-learn (or "),
    ],
)
def test_a_strategy_without_its_extra_is_blamed_on_the_strategy(tmp_path, monkeypatch, strategy, missing, message):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == missing else real(name, *a))
    code, lines, _ = errors(["search", "--strategy", strategy, "-o", str(tmp_path / "run")])
    assert code == 1 and len(lines) == 1 and lines[0].startswith(f"error: --strategy: {message}"), lines


def test_every_bad_flag_is_one_line(tmp_path):
    out = tmp_path / "run"
    code, lines, _ = errors(["search", "--population", "0", "--top-k", "-1", "--proxy", "nope", "-o", str(out)])
    assert code == 1 and lines == [
        "error: --population: Input should be greater than or equal to 1, got 0",
        "error: --proxy: Input should be 'paper', 'fast', 'fast-std', 'bias' or 'scale', got 'nope'",
        "error: --top-k: Input should be greater than or equal to 1, got -1",
    ]
    assert not out.exists()


def test_what_the_flags_name_is_checked_before_the_first_stage(tmp_path):
    out = tmp_path / "run"
    code, lines, _ = errors(
        ["search", "--space", "nasrec-huge", "--data", str(tmp_path / "none"), "--device", "tpu", "-o", str(out)]
    )
    assert code == 1 and len(lines) == 3
    assert "nasrec-huge" in lines[0] and str(tmp_path / "none") in lines[1]
    assert lines[2] == "error: --device must be cpu, cuda, cuda:N or auto, got 'tpu'"
    assert not out.exists()


def test_the_flags_reach_the_strategy_and_evaluator_registries(tmp_path, monkeypatch):
    seen = []

    class Stop(pipeline.Pipeline):
        def run(self):
            seen.append(self.config)
            raise pipeline.UsageError("stopped")

    monkeypatch.setattr(search_cli, "Pipeline", Stop)
    code, lines, _ = errors(
        [
            "search",
            "--strategy",
            "random",
            "--budget",
            "7",
            "--evaluator",
            "supernet",
            "--supernet-epochs",
            "0.5",
            "--scratch-lr",
            "0.04",
            "--scratch-min-warmup-steps",
            "200",
            "--zoo",
            "autoint, dlrm",
            "-o",
            str(tmp_path / "run"),
        ]
    )
    assert (code, lines) == (1, ["error: stopped"])
    c = seen[0]
    assert c.zoo == ("autoint", "dlrm")
    assert (c.strategy.name, c.strategy.options) == (
        "random",
        {"budget": 7, "sampler": "single-operator-any-connection"},
    )
    assert c.evaluator.name == "supernet" and "recipe" not in c.evaluator.config
    assert c.supernet.train.epochs == 0.5 and c.supernet.data == c.data and c.supernet.train.seed == c.seed
    recipe = pipeline.Pipeline(c, tmp_path / "unused").scratch_recipe(3.0)
    assert (recipe.lr, recipe.min_warmup_steps, recipe.epochs, recipe.patience) == (0.04, 200, 3.0, 2)
    errors(["search", "-o", str(tmp_path / "run")])
    assert seen[1] == RunConfig()  # the CLI's defaults are the config models' own
    errors(["search", "--zoo", "", "-o", str(tmp_path / "run")])
    assert seen[2].zoo == ()  # no zoo models: NASRecNet (and random search) alone in the final stage


def test_train_supernet_cap_0_means_the_full_tables_and_a_negative_cap_is_one_line(tmp_path, monkeypatch):
    out = tmp_path / "supernet"
    for cap in ("-1", "1"):  # a table of one row is the same refusal, worded as export's and data prepare's
        assert errors(["train-supernet", "--cap", cap, "-o", str(out)]) == (
            1,
            [f"error: --cap: at least 2 rows per table, or 0 for the full tables, got {cap}"],
            "",
        )
    seen = []

    def train(config, *args, **kwargs):
        seen.append(config)
        raise UsageError("stopped")

    monkeypatch.setattr("nasrec.evaluators.train_supernet", train)
    assert errors(["train-supernet", "--cap", "0", "-o", str(out)])[:2] == (1, ["error: stopped"])
    assert seen[0].cap is None  # the full tables, however large
    assert errors(["train-supernet", "--sampler", "nope", "--space", "nasrec-huge", "-o", str(out)])[1] == [
        "error: --sampler: unknown sampler 'nope' (known: single-operator-any-connection, single-path, "
        "any-path, all-operators)"
    ]
    code, lines, _ = errors(["train-supernet", "--space", "nasrec-huge", "-o", str(out)])
    assert code == 1 and len(lines) == 1 and "nasrec-huge" in lines[0]
    assert not out.exists()


def test_a_run_folder_of_nasrec_0_1_resumes_with_its_config_unchanged(tmp_path):
    """config.json as nasrec 0.1 wrote it (flat strategy, strategy_options, proxy, supernet_epochs)."""
    legacy = {
        "data": "sample:criteo",
        "space": "nasrec-full",
        "seed": 3,
        "supernet_epochs": 2.0,
        "warmup_fraction": 0.2,
        "strategy": "evolution",
        "strategy_options": {"population": 16, "cycles": 5, "tournament": 8, "children": 4},
        "proxy": {"recipe": "fast", "train_rows": 4096},
        "workers": 1,
        "executor": "auto",
        "ray_address": "local",
        "device": "cpu",
        "top_k": 3,
        "full_epochs": 3.0,
        "final_epochs": 3.0,
        "zoo": ["dlrm", "deepfm", "wide_deep", "autoint"],
        "random_baseline": True,
        "layernorm_final": True,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"config": legacy, "versions": {"nasrec": "0.1.0"}}, indent=2))
    before = path.read_bytes()
    same = pipeline.RunConfig.model_validate(legacy)
    pipeline.Pipeline(same, tmp_path)._write_config()  # the same run: accepted
    assert path.read_bytes() == before
    with pytest.raises(
        pipeline.UsageError, match=r"holds another run's config \(different seed, supernet.train.seed\)"
    ):
        pipeline.Pipeline(pipeline.RunConfig.model_validate({**legacy, "seed": 4}), tmp_path)._write_config()


def test_evaluate_passes_the_scratch_recipe_flags_to_training(monkeypatch):
    import nasrec.evaluators

    seen = []

    class Stop:
        def __init__(self, **kwargs):
            seen.append(kwargs)
            raise pipeline.UsageError("stopped")

    monkeypatch.setattr(nasrec.evaluators, "FullTrain", Stop)
    code, lines, _ = errors(["evaluate", "zoo:dlrm", "--lr", "0.04", "--min-warmup-steps", "200", "--patience", "0"])
    assert (code, lines) == (1, ["error: stopped"])
    train = seen[0]["train"]
    assert (train.lr, train.min_warmup_steps, train.patience, seen[0]["inherit"]) == (0.04, 200, None, None)
    errors(["evaluate", "zoo:dlrm", "--inherit", "runs/s/checkpoint.pt"])
    assert seen[1]["inherit"] == "runs/s/checkpoint.pt"
    errors(["evaluate", "zoo:dlrm", "--split", "test"])  # as the search's final table: early-stopped on valid
    errors(["evaluate", "zoo:dlrm", "--split", "test", "--final-protocol", "retrain"])
    assert [(k["train_split"], k["eval_split"]) for k in seen[2:]] == [("train", "test"), ("train+valid", "test")]
    assert errors(["evaluate", "zoo:dlrm", "--final-protocol", "again"])[1] == [
        "error: --final-protocol: keep or retrain, got 'again'"
    ]
    assert errors(["evaluate", "zoo:dlrm", "--split", "train"])[:2] == (
        1,
        ["error: --split: valid or test, got 'train'"],
    )
    assert len(seen) == 4  # refused before any training


@pytest.mark.parametrize(("protocol", "split"), [("retrain", "train+valid"), ("keep", "train")])
def test_the_final_protocol_chooses_what_the_final_models_train_on(tmp_path, monkeypatch, protocol, split):
    seen = []

    class Stop:
        def __init__(self, **kwargs):
            seen.append(kwargs)
            raise UsageError("stopped")

    monkeypatch.setattr(scratch_stages, "FullTrain", Stop)
    config = RunConfig.model_validate({"final_protocol": protocol, "final_seeds": 2})
    with pytest.raises(UsageError, match="stopped"):
        pipeline.Pipeline(config, tmp_path / "run").final([])
    assert (seen[0]["train_split"], seen[0]["eval_split"], seen[0]["seeds"]) == (split, "test", 2)


def test_train_supernet_center_logits_is_recorded_and_keeps_the_heads_bias(tmp_path, tiny_space_file):
    import math

    from nasrec.evaluators import load_supernet
    from nasrec.evaluators.data_ref import open_data

    out = tmp_path / "centred"
    args = ["train-supernet", "--space", tiny_space_file, "--epochs", "0.2", "--center-logits", "-o", str(out)]
    code, lines, _ = errors(args)
    assert code == 0, lines
    assert json.loads((out / "config.json").read_text())["center_logits"] is True
    rate = open_data("sample:criteo").split("train").positive_rate
    bias = load_supernet(out / "checkpoint.pt").head.head_b.item()
    assert bias == pytest.approx(math.log(rate / (1 - rate)), abs=1e-6)


def test_rank_study_scores_the_default_proxy_and_takes_the_proxies_to_score(tmp_path, monkeypatch):
    seen = []

    def capture(config, out, progress):
        seen.append(config.supernets["main"].finetune)
        raise UsageError("captured")

    monkeypatch.setattr("nasrec.evaluators.rank_study.rank_study", capture)
    for args in ([], ["--finetune", "fast, scale"]):
        result = runner.invoke(main.app, ["rank-study", "-o", str(tmp_path / "a"), *args])
        assert result.exit_code == 1 and result.stderr == "error: captured\n"
    assert seen == [("none", "fast-std", "paper"), ("fast", "scale")]
    bad = runner.invoke(main.app, ["rank-study", "-o", str(tmp_path / "c"), "--finetune", "fastt"])
    assert bad.exit_code == 1 and bad.stderr.startswith("error: --finetune: Input should be 'none', 'fast'")


def test_demo_runs_each_seed_in_its_own_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seen = []

    class Stop(pipeline.Pipeline):
        def run(self):
            seen.append((self.paths.root, self.config.seed))
            raise UsageError("stopped")

    monkeypatch.setattr(pipeline, "Pipeline", Stop)  # `nasrec demo` imports it as it runs
    for args in ([], ["--seed", "6"], ["--seed", "6", "--out", "mine"]):
        assert errors(["demo", *args])[:2] == (1, ["error: stopped"])
    assert [(str(root), seed) for root, seed in seen] == [("runs/demo", 0), ("runs/demo-s6", 6), ("mine", 6)]


def test_a_supernet_trained_into_run_supernet_with_other_settings_is_refused_before_search_writes(tmp_path):
    out = tmp_path / "run"
    stored = RunConfig().supernet  # what `nasrec search -o RUN` would train, but for the learning rate
    stored = stored.model_copy(update={"train": stored.train.model_copy(update={"lr": 0.5})})
    pin_config(out / "supernet" / "config.json", stored, what="supernet", paths=("data", "space"))
    assert errors(["search", "-o", str(out)])[:2] == (
        1,
        [
            f"error: {out / 'supernet' / 'config.json'} holds another supernet's config (different train.lr): "
            "train.lr 0.5 -> 0.12 (stored -> given); use a new folder or the same settings"
        ],
    )
    assert sorted(p.name for p in out.iterdir()) == ["supernet"]  # no RUN/config.json, no lock
    help = typer.main.get_command(main.app).commands["train-supernet"].params  # type: ignore[attr-defined]
    assert next(p.help for p in help if p.name == "out") == (
        "Supernet folder: OUT/checkpoint.pt (resumable). `nasrec search --out RUN` reuses RUN/supernet only if "
        "trained with the settings that search would use: its --data, --space and --seed, --epochs as its "
        "--supernet-epochs, every other option at its default; else search refuses it before writing anything."
    )


def test_ctrl_c_says_the_run_folder_keeps_its_work_and_exits_130(tmp_path, monkeypatch):
    class Interrupted:
        def __init__(self, *args, **kwargs) -> None:
            pass

        def run(self):
            raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "Pipeline", Interrupted)
    out = tmp_path / "d"
    (out / "supernet").mkdir(parents=True)
    (out / "config.json").write_text("{}")  # pinned configs and the lock are no work: nothing was kept
    (out / "supernet" / "config.json").write_text("{}")
    (out / ".lock").write_text("")
    result = runner.invoke(main.app, ["demo", "-o", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 130
    assert result.stderr == f"interrupted before any work was saved in {out}; run the same command again to start\n"
    (out / "supernet" / "checkpoint.pt").write_bytes(b"")
    result = runner.invoke(main.app, ["demo", "-o", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 130
    assert result.stderr == f"interrupted: finished work is kept in {out}; run the same command again to go on\n"


def test_ctrl_c_in_a_command_without_a_run_folder_is_one_line_and_130(monkeypatch):
    """`evaluate` exited 130 in silence (no traceback, no word); its writes are atomic, nothing half-written."""
    from nasrec.evaluators import full_train

    def interrupted(self, genotype, save_weights=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(full_train.FullTrain, "predict", interrupted)
    result = runner.invoke(main.app, ["evaluate", "zoo:dlrm", "--epochs", "0.1"])
    assert (result.exit_code, result.stderr, result.stdout) == (130, "interrupted; run the command again\n", "")


def test_warnings_in_the_cli_are_one_line_without_pythons_source_line(capsys):
    import warnings

    from nasrec.cli.common import warnings_as_lines

    with warnings.catch_warnings():  # restores Python's display after the test
        warnings.simplefilter("always")
        warnings_as_lines()
        warnings.warn(
            "run/search/evaluations.jsonl, line 6: dropped an incomplete last record", RuntimeWarning, stacklevel=1
        )
    assert (
        capsys.readouterr().err == "warning: run/search/evaluations.jsonl, line 6: dropped an incomplete last record\n"
    )
