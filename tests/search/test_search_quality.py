"""The search-quality benchmark's machinery at a tiny budget: one seed, the tiny space, the bundled rows."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from nasrec.evaluators.stats import Interval
from nasrec.records import Evaluation, RunPaths, StageTime
from nasrec.state import read_jsonl

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_the_benchmark_writes_every_field_and_gives_both_strategies_the_same_budget(tmp_path, tiny_space_file):
    out, result_file = tmp_path / "sq", tmp_path / "sq.json"
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "search_quality.py"),
        "--space",
        tiny_space_file,
        "--out",
        str(out),
        "--json",
        str(result_file),
        "--seeds",
        "0",
        "--population",
        "4",
        "--cycles",
        "1",
        "--tournament",
        "2",
        "--children",
        "2",
        "--top-k",
        "2",
        "--final-seeds",
        "2",
        "--epochs",
        "1",
        "--supernet-epochs",
        "0.5",
        "--zoo",
        "dlrm",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(result_file.read_text())
    assert set(result) == {
        "data",
        "seeds",
        "config",
        "bayes_rate",
        "per_seed",
        "mean",
        "nasrecnet_first_in",
        "pooled_vs_nasrecnet",
        "over_seeds_vs_nasrecnet",
        "seconds",
    }
    assert result["seeds"] == [0] and result["bayes_rate"] is None
    assert result["over_seeds_vs_nasrecnet"] == {}  # one seed: no interval over seeds
    seed = result["per_seed"]["0"]
    assert set(seed["models"]) == {"NASRecNet", "zoo:dlrm", "random search"}
    assert 1 <= seed["rank_of_nasrecnet"] <= 3 and result["nasrecnet_first_in"] in (0, 1)
    for name in ("zoo:dlrm", "random search"):
        ci = result["pooled_vs_nasrecnet"][name]["log_loss"]
        assert ci["low"] <= ci["estimate"] <= ci["high"] and ci["rows"] == 1494
    paths = RunPaths(out / "seed-0")
    evolution = read_jsonl(paths.evaluations, Evaluation)
    random = read_jsonl(out / "seed-0" / "random" / "evaluations.jsonl", Evaluation)
    assert len(evolution) == len(random) == 4 + 1 * 2
    for name, log in (("evolution", evolution), ("random", random)):  # the searches' figures, from the logs
        search = seed["searches"][name]
        assert search["best_proxy"] == min(e.score.value for e in log if e.score is not None)
        assert len(search["topk"]) == 2 and search["topk"][0]["proxy"] == search["best_proxy"]
    assert all(len(row["log_loss_runs"]) == 2 for row in seed["models"].values())  # one per final seed
    assert "NASRecNet" in done.stdout and "NASRecNet minus model" in done.stdout
    rank = seed["rank_of_nasrecnet"]
    assert f"seed 0: NASRecNet ranks {rank} of 3" in done.stdout  # each seed's table before the pooled one
    ci = seed["comparisons"]["zoo:dlrm"]["log_loss"]
    assert str(Interval.model_validate(ci)) in done.stdout  # as the report prints it (05aada3)
    # seconds are the run's own (its stages', over every call that ran them), so a second call that only reads the
    # finished stages back reports the first call's time, not its own few seconds
    assert result["seconds"] == seed["seconds"] == round(sum(seed["stage_seconds"].values()), 1) > 0
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    times = read_jsonl(out / "seed-0" / "stage_times.jsonl", StageTime)
    assert len(times) == 6  # six stages (supernet, search, random baseline, top-k, final, compare): the first call's
    seconds = json.loads(result_file.read_text())["seconds"]
    assert seconds == pytest.approx(sum(t.seconds for t in times), abs=0.1) and seconds == result["seconds"]


def _benchmark_module():
    spec = importlib.util.spec_from_file_location("search_quality", ROOT / "benchmarks" / "search_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_proxy_of_both_searches_is_chosen_on_the_command_line():
    bench = _benchmark_module()
    args = bench.parser().parse_args(["--out", "x"])
    assert bench.run_config(args, 0).evaluator.name == "finetune"  # the default proxy, as committed
    args = bench.parser().parse_args(
        ["--out", "x", "--evaluator", "full", "--evaluator-config", '{"train": {"epochs": 4, "patience": 2}}']
    )
    config = bench.run_config(args, 3)
    assert config.evaluator.name == "full" and config.seed == 3
    assert config.evaluator.config["train"]["epochs"] == 4.0 and config.evaluator.config["train"]["patience"] == 2
    args = bench.parser().parse_args(["--out", "x", "--evaluator", "full", "--evaluator-config", '{"seed": 1}'])
    with pytest.raises(ValueError, match="seed: set by the run, not in the evaluator's config"):
        bench.run_config(args, 0)


def test_the_evaluator_config_must_be_a_json_object(capsys):
    bench = _benchmark_module()
    for text, message in (("{epochs: 4}", "not JSON: Expecting property name"), ("[4]", "a JSON object")):
        with pytest.raises(SystemExit):
            bench.parser().parse_args(["--out", "x", "--evaluator-config", text])
        assert f"argument --evaluator-config: {message}" in capsys.readouterr().err


def test_the_interval_over_seeds_is_the_t_interval_of_the_per_seed_differences():
    bench = _benchmark_module()
    per_seed = {
        seed: {"models": {"NASRecNet": {"log_loss": nas}, "random search": {"log_loss": rs}}}
        for seed, (nas, rs) in enumerate([(0.48, 0.49), (0.47, 0.50), (0.49, 0.48)])
    }
    interval = bench.over_seeds(per_seed)["random search"]
    # differences -0.01, -0.03, +0.01: mean -0.01, sd 0.02, t(0.975, 2) = 4.3027
    half = 4.302653 * 0.02 / 3**0.5
    assert (interval["estimate"], interval["low"], interval["high"], interval["rows"]) == pytest.approx(
        (-0.01, -0.01 - half, -0.01 + half, 3)
    )
    assert bench.over_seeds({0: per_seed[0]}) == {}


def test_against_another_run_differences_the_seeds_and_models_both_have():
    bench = _benchmark_module()

    def run(losses):  # seed -> (NASRecNet, zoo:dlrm)
        return {
            seed: {"models": {"NASRecNet": {"log_loss": nas}, "zoo:dlrm": {"log_loss": dlrm}}}
            for seed, (nas, dlrm) in losses.items()
        }

    mine = run({0: (0.48, 0.50), 1: (0.47, 0.51), 2: (0.49, 0.52), 5: (0.40, 0.50)})
    other = {"per_seed": {str(s): e for s, e in run({0: (0.49, 0.50), 1: (0.50, 0.51), 2: (0.48, 0.52)}).items()}}
    other["per_seed"]["2"]["models"]["zoo:dcn"] = {"log_loss": 0.5}  # a model of one run only: left out
    result = bench.against(mine, other)
    assert set(result) == {"NASRecNet", "zoo:dlrm"}
    nas = result["NASRecNet"]
    assert nas["seeds"] == [0, 1, 2] and nas["diffs"] == pytest.approx([-0.01, -0.03, 0.01])
    half = 4.302653 * 0.02 / 3**0.5  # the t interval of -0.01, -0.03, +0.01
    assert (nas["interval"]["low"], nas["interval"]["high"]) == pytest.approx((-0.01 - half, -0.01 + half))
    assert result["zoo:dlrm"]["diffs"] == [0.0, 0.0, 0.0]  # trained alike in both runs
    assert bench.against(mine, {"per_seed": {"0": other["per_seed"]["0"]}}) == {}  # one shared seed: no interval


def test_a_model_a_seed_left_out_is_in_no_interval_over_seeds():
    bench = _benchmark_module()
    per_seed = {
        0: {
            "models": {
                "NASRecNet": {"log_loss": 0.48},
                "zoo:dlrm": {"log_loss": 0.50},
                "random search": {"log_loss": 0.49},
            }
        },
        1: {"models": {"NASRecNet": {"log_loss": 0.47}, "random search": {"log_loss": 0.50}}},  # dlrm diverged
    }
    assert set(bench.over_seeds(per_seed)) == {"random search"}
