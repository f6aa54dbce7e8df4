"""`nasrec search --estimate`: the plan's work times rates measured on this machine, stage by stage; nothing
written in the run folder."""

from __future__ import annotations

import pytest

from nasrec.cli.common import data_path, space_path
from nasrec.evaluators.data_ref import open_data
from nasrec.search import estimate as estimating
from nasrec.search.estimate import Rates, _After, duration, estimate, measure
from nasrec.search.pipeline import RunConfig
from tests.cli.invoke import nasrec

RATES = Rates(
    supernet_steps={"path": 0.5},
    evaluation=2.0,
    scratch_steps=[0.1, 0.2, 0.3],
    zoo_steps={"dlrm": 0.05},
    measured_seconds=9,
)


def table(*args, **kw) -> list[tuple[str, float | None, str]]:
    return [(e.stage, e.seconds, e.how) for e in estimate(*args, **kw)]


def test_each_stages_time_is_the_plans_work_times_the_measured_rates():
    assert table(RunConfig(zoo=("dlrm",)), RATES, train_rows=36_672_493, retrain_rows=41_256_554, budget=2048) == [
        ("supernet", 71_625 * 0.5, "71,625 steps x 0.5 s"),
        ("search", 2048 * 2.0, "2,048 x 2 s"),
        (
            "top-k",
            pytest.approx(15 * 716_250 * 0.2),
            "15 x 716,250 steps x 0.2 s (0.1-0.3 over 3 sampled genotypes)",
        ),
        (
            "random baseline",
            pytest.approx(2048 * 2.0 + 15 * 716_250 * 0.2),
            "the search's and the top-k's at most (what they share is not done again)",
        ),
        (
            "final",
            pytest.approx(3 * 716_250 * (2 * 0.2 + 0.05)),
            "3 x 716,250 steps x (NASRecNet and random search 0.2 s, dlrm 0.05 s)",
        ),
    ]
    other = RunConfig(
        workers=4, topk_seeds=2, final_seeds=1, final_epochs=1, final_protocol="retrain", random_baseline=False, zoo=()
    )
    no_supernet = RATES.model_copy(update={"supernet_steps": None, "zoo_steps": {}})
    assert table(other, no_supernet, train_rows=10_240, retrain_rows=11_264, budget=None) == [
        ("search", None, "2 s per evaluation, until the strategy stops"),
        (
            "top-k",
            pytest.approx(30 * 200 * 0.2),
            "30 x 200 steps x 0.2 s (0.1-0.3 over 3 sampled genotypes)",
        ),
        ("final", pytest.approx(42 * 0.2), "1 x 42 steps x (NASRecNet 0.2 s)"),
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("os.cpu_count", lambda: 8)  # a machine with a CPU per worker
        parallel = table(other, no_supernet, train_rows=10_240, retrain_rows=11_264, budget=100)[0]
    assert parallel == ("search", 50.0, "100 x 2 s / 4 workers")


@pytest.mark.parametrize(("executor", "address"), [("process", "local"), ("ray", "local")])
def test_workers_beyond_this_machines_cpus_do_not_shorten_the_search(monkeypatch, executor, address):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    config = RunConfig(workers=4, executor=executor, ray_address=address, random_baseline=False, zoo=())
    rates = RATES.model_copy(update={"supernet_steps": None, "zoo_steps": {}})
    search = table(config, rates, train_rows=10_240, retrain_rows=11_264, budget=100)[0]
    assert search == ("search", 100.0, "100 x 2 s / 2 workers (4 asked, 2 CPUs here)")


def test_a_ray_clusters_speed_is_not_estimated():
    config = RunConfig(workers=32, executor="ray", ray_address="auto", random_baseline=True, zoo=())
    rates = RATES.model_copy(update={"supernet_steps": None, "zoo_steps": {}})
    stages = table(config, rates, train_rows=10_240, retrain_rows=11_264, budget=100)
    assert stages[0] == ("search", None, "a Ray cluster's speed is not estimated (2 s per evaluation here)")
    assert stages[2][:2] == ("random baseline", None)


def test_a_search_by_scratch_training_counts_each_evaluation_as_its_steps():
    config = RunConfig(evaluator={"name": "full"}, random_baseline=False, zoo=())
    rates = RATES.model_copy(update={"evaluation": None})
    search = table(config, rates, train_rows=10_240, retrain_rows=11_264, budget=10)[1]
    assert search == ("search", pytest.approx(10 * 200 * 0.2), "10 x 40 s")


def test_durations_read_in_the_unit_that_fits():
    assert [duration(s) for s in (0.4, 59, 60, 3_599, 3_600, 172_799, 172_800)] == [
        "0 s",
        "59 s",
        "1.0 min",
        "60.0 min",
        "1.0 h",
        "48.0 h",
        "2.0 days",
    ]


def test_the_supernet_step_is_the_schedules_mean_of_path_and_full_supernet_steps():
    from nasrec.evaluators.supernet_training import PathSampler
    from nasrec.genotype import NASREC_SMALL

    schedule = PathSampler(NASREC_SMALL, "single-path", 10_000, 0.2, "whole", seed=0)
    paths, full = _After(schedule, 10_000, seed=0), _After(schedule, 10_000, seed=0, warm=True)
    assert all(2_000 <= at < 10_000 for at in paths.at)  # after the warm-up: sampled paths only
    assert paths(3) == schedule(int(paths.at[3])) and full(5) == schedule(0) == full(0)  # step 0: the full supernet
    assert full(0) != paths(0) and len(full(0).blocks[0].dense.ops) > 1
    rates = RATES.model_copy(update={"supernet_steps": {"path": 0.5, "full": 2.5}, "full_share": 0.1})
    assert rates.supernet_step == pytest.approx(0.9 * 0.5 + 0.1 * 2.5)
    (supernet, search, *_) = table(
        RunConfig(zoo=()), rates.model_copy(update={"evaluation_setup": 3.0}), 10_240, 11_264, 4
    )
    assert supernet == (
        "supernet",
        pytest.approx(20 * 0.7),
        "20 steps x 0.7 s (a path 0.5 s, the full supernet 2.5 s in 10%)",
    )
    assert search == ("search", 11.0, "4 x 2 s + 3 s once")


def test_measured_rates_are_times_of_this_run_s_work(tiny_space_file):
    config = RunConfig(data="sample:criteo", space=tiny_space_file, evaluator={"name": "finetune"}, zoo=(), seed=1)
    rates = measure(config, genotypes=2, timed=2)
    assert (
        rates.supernet_steps["full"] > rates.supernet_steps["path"] > 0 and rates.full_share == int(23 * 0.2) / 23 / 2
    )  # 23 steps
    assert rates.evaluation > 0 and rates.evaluation_setup >= 0 and len(rates.scratch_steps) == 2
    assert rates.measured_seconds > rates.evaluation and rates.zoo_steps == {}
    trivial = measure(
        RunConfig(**{**config.model_dump(), "evaluator": {"name": "params"}, "zoo": ("dlrm",)}), 2, timed=2
    )
    assert trivial.supernet_step is None and trivial.evaluation < 1 and trivial.zoo_steps["dlrm"] > 0
    assert len(trivial.scratch_steps) == 2 and min(trivial.scratch_steps) > 0


def test_the_cli_prints_the_plan_and_the_estimate_and_writes_nothing(tmp_path, tiny_space_file, monkeypatch):
    seen = []

    def measured(config, genotypes=3):
        seen.append(config)
        return RATES

    monkeypatch.setattr(estimating, "measure", measured)
    out = tmp_path / "run"
    args = ("--data", "sample:criteo", "--space", tiny_space_file, "--out", str(out), "--budget", "6")
    result = nasrec("search", "--strategy", "random", *args, "--top-k", "2", "--zoo", "", "--estimate")
    assert result.exit_code == 0, result.output
    assert not out.exists() and seen[0].top_k == 2
    rows = len(open_data("sample:criteo").split("train"))
    steps = rows // 512 * 10
    lines = result.stdout.splitlines()
    assert lines[0].startswith("plan (at most") and lines[6].startswith("estimate on this machine (cpu, ")
    assert lines[7:] == [
        f"  supernet: 12 s: {rows // 512} steps x 0.5 s",
        "  search: 12 s: 6 x 2 s",
        f"  top-k: {duration(2 * steps * 0.2)}: 2 x {steps:,} steps x 0.2 s (0.1-0.3 over 3 sampled genotypes)",
        f"  random baseline: {duration(12 + 2 * steps * 0.2)}: the search's and the top-k's at most (what they "
        "share is not done again)",
        f"  final: {duration(3 * steps * 0.4)}: 3 x {steps:,} steps x (NASRecNet and random search 0.2 s)",
        f"  in all: {duration(rows // 512 * 0.5 + 24 + 4 * steps * 0.2 + 3 * steps * 0.4)} (measuring took 9 s)",
    ]


def test_a_rerun_that_leaves_the_budget_out_goes_on_with_the_folders_budget(tmp_path, tiny_space_file, monkeypatch):
    from nasrec.search.run_folder import pin_run_config

    monkeypatch.setattr(estimating, "measure", lambda config, genotypes=5: RATES)
    out = tmp_path / "run"
    args = (
        "--data",
        "sample:criteo",
        "--space",
        tiny_space_file,
        "--out",
        str(out),
        "--strategy",
        "random",
        "--zoo",
        "",
    )
    random = {"name": "random", "options": {"budget": 6}}
    config = RunConfig(data=data_path("sample:criteo"), space=space_path(tiny_space_file), strategy=random, zoo=())
    out.mkdir()
    pin_run_config(out / "config.json", config)
    assert "  search: 12 s: 6 x 2 s" in nasrec("search", *args, "--estimate").stdout.splitlines()  # not 2,048
    assert "  search: 16 s: 8 x 2 s" in nasrec("search", *args, "--budget", "8", "--estimate").stdout.splitlines()
