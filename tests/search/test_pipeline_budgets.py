"""The pipeline with budgets and two objectives (the `params` evaluator: no supernet to train), then the same
run extended with more cycles: the front in summary.json, nothing over a budget scored or trained, nothing
evaluated twice."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from nasrec.records import Evaluation, RunPaths, Summary, TopKResult
from nasrec.search.objectives import objective_values, pareto_front
from nasrec.search.pipeline import Pipeline, RunConfig
from nasrec.state import read_jsonl
from nasrec.viz.report_data import RunData
from nasrec.viz.report_front import budgets_and_front


def config(space: str, cycles: int) -> RunConfig:
    """The run config as an API user writes it: a JSON document, budgets included (`limits`)."""
    document = {
        "data": "sample:criteo",
        "space": space,
        "supernet": {"train": {"epochs": 0.1}},
        "strategy": {
            "name": "evolution",
            "options": {"population": 4, "cycles": cycles, "tournament": 2, "children": 2},
        },
        "evaluator": {"name": "params"},
        "objectives": ["logloss", "flops"],
        "limits": {"max_flops": 60_000, "max_params": 15_000},
        "top_k": 2,
        "full_epochs": 0.1,
        "final_epochs": 0.1,
        "final_seeds": 1,
        "zoo": [],
        "random_baseline": False,
    }
    return RunConfig.model_validate_json(json.dumps(document))


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_space_file):
    root = tmp_path_factory.mktemp("budget") / "run"
    first = Pipeline(config(tiny_space_file, 1), root, console=Console(quiet=True), progress=False).run()
    return root, first, tiny_space_file


def test_nothing_over_a_budget_is_scored_or_trained_and_the_front_is_reported(run):
    root, summary, _ = run
    paths = RunPaths(root)
    assert not paths.supernet.exists()  # the params evaluator reads no supernet
    evaluations = read_jsonl(paths.evaluations, Evaluation)
    assert len(evaluations) == 6 and all(e.score.flops <= 60_000 and e.score.params <= 15_000 for e in evaluations)
    topk = read_jsonl(paths.topk, TopKResult)
    assert all(t.full.flops <= 60_000 and t.full.params <= 15_000 for t in topk)
    stats = json.loads((root / "search" / "stats.json").read_text())
    assert summary.rejected == stats["rejected"] > 0 and summary.limits == {"max_flops": 60_000, "max_params": 15_000}
    points = [objective_values(e.score, ("logloss", "flops")) for e in evaluations]
    front = {evaluations[i].digest for i in pareto_front(points)}
    assert {m.digest for m in summary.front} == front and summary.objectives == ["logloss", "flops"]
    # top-k draws from the front first, and trains all of it even when it has more than k members
    assert len(topk) == max(2, len(front)) and ({t.digest for t in topk} <= front or front <= {t.digest for t in topk})
    assert all(m.full_log_loss is not None for m in summary.front)  # every front member trained from scratch
    assert Summary.model_validate_json(paths.summary.read_text()) == summary
    html = budgets_and_front(RunData(paths), lambda draw, alt: f"<img alt='{alt}'>")
    assert f"{summary.rejected} proposals over the budgets (never scored, never trained)" in html
    assert "with the Pareto front" in html and f"({len(front)} members)" in html


def test_a_larger_cycles_extends_the_finished_run(run):
    root, _, space = run
    console = Console(record=True, width=200)
    again = Pipeline(config(space, 3), root, console=console, progress=False).run()
    assert "extending the search: cycles 1 -> 3" in console.export_text()
    evaluations = read_jsonl(RunPaths(root).evaluations, Evaluation)
    assert len(evaluations) == 4 + 3 * 2 == again.evaluations and len({e.digest for e in evaluations}) == 10
    assert json.loads(RunPaths(root).config.read_text())["config"]["strategy"]["options"]["cycles"] == 3
    with pytest.raises(ValueError, match=r"holds another run's config \(different strategy.options.cycles\)"):
        Pipeline(config(space, 2), root, console=Console(quiet=True), progress=False).run()  # shrinking is refused


def test_an_extension_that_fails_before_its_executor_is_up_leaves_the_config_as_it_was(run, tmp_path, monkeypatch):
    import shutil

    from nasrec.errors import UsageError

    root, _, space = run
    copy = tmp_path / "run"
    shutil.copytree(root, copy)
    before = RunPaths(copy).config.read_bytes()

    def refused(self):  # as RayExecutor refuses an address where no cluster answers
        raise UsageError("--ray-address 127.0.0.1:1: no Ray cluster answers there (Connection refused)")

    monkeypatch.setattr(Pipeline, "_executor", refused)
    extended = config(space, 5).model_copy(update={"executor": "process", "workers": 2})
    console = Console(record=True, width=200)
    with pytest.raises(UsageError, match="no Ray cluster answers there"):
        Pipeline(extended, copy, console=console, progress=False).run()
    assert "extending the search: cycles" in console.export_text()
    assert RunPaths(copy).config.read_bytes() == before  # neither cycles 5 nor the process executor
    Pipeline(config(space, json.loads(before)["config"]["strategy"]["options"]["cycles"]), copy)._write_config()


def test_a_front_of_three_objectives_is_tabled_with_every_objective(run, tmp_path):
    import shutil

    root, summary, _ = run
    copy = tmp_path / "run"
    shutil.copytree(root, copy)
    members = [m.model_copy(update={"values": {**m.values, "params": 1000.0 + i}}) for i, m in enumerate(summary.front)]
    three = summary.model_copy(update={"objectives": ["logloss", "flops", "params"], "front": members})
    RunPaths(copy).summary.write_text(three.model_dump_json())
    html = budgets_and_front(RunData(RunPaths(copy)), lambda draw, alt: f"<img alt='{alt}'>")
    assert "<th>FLOPs per example</th><th>dense params</th>" in html and "<td>1.00\u00a0k</td>" in html


def test_budgets_no_genotype_meets_stop_the_search_with_the_way_on_in_a_new_folder(tmp_path, tiny_space_file):
    """The fix the strategy names (looser budgets) changes the run's settings, which its folder keeps."""
    from nasrec.search.base import NoNewGenotype

    impossible = RunConfig.model_validate({**config(tiny_space_file, 1).model_dump(), "limits": {"max_params": 10}})
    with pytest.raises(NoNewGenotype) as exc:
        Pipeline(impossible, tmp_path / "run", console=Console(quiet=True), progress=False).run()
    assert str(exc.value).startswith(
        "no acceptable new genotype in 200 tries: 0 already proposed, 200 over the budgets"
    )
    assert str(exc.value).endswith(
        "; loosen the budgets (--max-flops, --max-params) or enlarge the space: run again in a new folder with those "
        "settings (a run folder keeps its first settings)"
    )
