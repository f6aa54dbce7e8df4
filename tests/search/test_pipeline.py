"""The end-to-end pipeline on the bundled real Criteo rows, in a tiny space with a tiny budget."""

import base64
import json
import re

import numpy as np
import pytest
from rich.console import Console

from nasrec.cli.search import draw_run
from nasrec.evaluators import SupernetProxy
from nasrec.evaluators.base import Score
from nasrec.genotype import NASREC_FULL, load
from nasrec.records import Evaluation, FinalResult, RunPaths, StageTime, Summary, TopKResult
from nasrec.search.base import build_strategy
from nasrec.search.executors import InProcessExecutor, ProcessPoolExecutor
from nasrec.search.pipeline import Pipeline, RunConfig, StrategyChoice, baseline_choice
from nasrec.search.random import RandomSearch
from nasrec.search.runner import run_search
from nasrec.state import read_jsonl
from nasrec.state.folders import machine_tag
from nasrec.viz.report import write_report
from tests.spaces import TINY

STAGES = ("supernet", "search", "top-k", "random baseline", "final", "compare")


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_space_file):
    root = tmp_path_factory.mktemp("run")
    config = RunConfig(
        data="sample:criteo",
        space=tiny_space_file,
        supernet={"train": {"epochs": 0.5}},
        top_k=3,
        full_epochs=1,
        final_epochs=1,
        zoo=("dlrm",),
        strategy={"name": "evolution", "options": {"population": 4, "cycles": 2, "tournament": 2, "children": 2}},
        evaluator={"name": "finetune", "config": {"recipe": "fast", "train_rows": 1024}},
        final_seeds=2,
    )
    summary = Pipeline(config, root / "out", console=Console(quiet=True), progress=False).run()
    draw_run(root / "out")  # what `nasrec search` does after the pipeline
    return config, root / "out", summary


def test_the_run_folder_holds_every_stage(run):
    config, root, summary = run
    paths = RunPaths(root)
    evaluations = read_jsonl(paths.evaluations, Evaluation)
    assert len(evaluations) == 4 + 2 * 2 and all(e.score for e in evaluations)
    assert {e.genotype.space for e in evaluations} == {config.space}  # the space file, not the name inside it
    assert load(paths.best_genotype).space == config.space
    topk = read_jsonl(paths.topk, TopKResult)
    assert [t.rank for t in topk] == [1, 2, 3]
    best = min(topk, key=lambda t: t.valid_value)
    assert summary.best_digest == best.digest == load(paths.best_genotype).digest()
    assert [r.name for r in read_jsonl(paths.final, FinalResult)] == ["NASRecNet", "zoo:dlrm", "random search"]
    assert all(r.test.examples == 1494 for r in summary.results)  # the real test split
    assert not any((root / stage / "checkpoints").exists() for stage in ("topk", "random", "final"))  # all scored
    assert Summary.model_validate_json(paths.summary.read_text()) == summary
    assert paths.best_diagram.read_text().lstrip().startswith(("<?xml", "<svg", "<!--"))
    assert json.loads(paths.config.read_text())["versions"]["nasrec"]


def test_nasrecnets_trained_weights_are_kept_and_give_its_test_logits(run):
    """final/nasrecnet.pt: the model of the seed that validated best, the very one scored on test."""
    import torch

    from nasrec.compiler import compile_standalone
    from nasrec.compiler.standalone import recorded_digest
    from nasrec.evaluators.data_ref import open_data

    config, root, summary = run
    paths = RunPaths(root)
    assert sorted(p.name for p in paths.best_weights.parent.glob("*.pt*")) == ["nasrecnet.pt"]  # no partial left
    nas = next(r for r in summary.results if r.kind == "nasrec")
    state = torch.load(paths.best_weights, weights_only=True)
    assert recorded_digest(state) == nas.genotype.active_digest()
    kept = min(range(2), key=lambda i: min(p.log_loss for p in nas.test.runs[i].curve))
    data = open_data(config.data)
    model = compile_standalone(nas.genotype, data.spec, layernorm=config.layernorm_final)
    model.load_state_dict(state["model"])
    model.eval()
    test = data.split("test")
    with torch.no_grad():
        z = model(torch.as_tensor(test.dense), torch.as_tensor(test.sparse)).reshape(-1).numpy()
    logits = np.load(paths.logits(nas.name, nas.digest))
    assert np.abs(z - logits[kept]).max() < 1e-5


def test_final_models_train_several_seeds_and_are_compared_with_paired_intervals(run):
    _, root, summary = run
    assert summary.seeds == [10_000, 10_001]  # apart from the top-k stage's seeds
    for r in summary.results:
        assert len(r.test.runs) == 2 and r.test.log_loss == pytest.approx(np.mean([x.log_loss for x in r.test.runs]))
        assert all(x.best_step is not None and x.curve for x in r.test.runs)  # early-stopped on valid, kept
        logits = np.load(RunPaths(root).logits(r.name, r.digest))
        assert logits.shape == (2, 1494)
    assert sorted(summary.comparisons) == ["random search", "zoo:dlrm"]
    by_name = {r.name: r for r in summary.results}
    for name, c in summary.comparisons.items():
        assert c.log_loss.low <= c.log_loss.estimate <= c.log_loss.high and c.log_loss.rows == 1494
        assert c.log_loss.estimate == pytest.approx(by_name["NASRecNet"].test.log_loss - by_name[name].test.log_loss)
        assert c.auc.low <= c.auc.estimate <= c.auc.high


def test_the_report_embeds_the_diagram_and_plots(run):
    _, root, _ = run
    html = RunPaths(root).report.read_text()
    assert "<svg" in html and "cluster_b1" in html
    pngs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(pngs) >= 2 and all(base64.b64decode(p).startswith(b"\x89PNG") for p in pngs)
    assert "NASRecNet" in html and "Kendall" in html


def test_rerunning_skips_finished_stages_and_evaluates_nothing_again(run, tmp_path):
    config, root, summary = run
    before = {p: p.stat().st_mtime_ns for p in (RunPaths(root).evaluations, RunPaths(root).final)}
    again = Pipeline(config, root, console=Console(quiet=True), progress=False).run()
    assert again.results == summary.results
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())
    # the stage times are summed over the calls that ran a stage: one that read a finished stage back adds nothing
    assert list(again.stage_seconds) == list(summary.stage_seconds) == [*STAGES]
    times = read_jsonl(RunPaths(root).stage_times, StageTime)
    assert [t.stage for t in times] == [*STAGES]
    assert again.stage_seconds == summary.stage_seconds and all(first > 0 for first in summary.stage_seconds.values())
    # a folder from before the log: the summary's times are kept and the resume adds to them
    RunPaths(root).stage_times.unlink()
    third = Pipeline(config, root, console=Console(quiet=True), progress=False).run()
    for stage, seconds in again.stage_seconds.items():
        assert seconds <= third.stage_seconds[stage] < seconds + 60
    with pytest.raises(ValueError, match=r"holds another run's config"):
        Pipeline(config.model_copy(update={"seed": 5}), root, console=Console(quiet=True), progress=False).run()
    assert write_report(root, tmp_path / "r.html").exists()


def test_process_pool_gives_the_same_scores_as_in_process_with_a_real_evaluator(run, tmp_path):
    _, root, _ = run
    config = {"data": "sample:criteo", "supernet": str(RunPaths(root).supernet)}
    local = run_search(
        RandomSearch(TINY, seed=3, budget=4), InProcessExecutor(SupernetProxy(**config)), tmp_path / "a.jsonl"
    )
    pool = ProcessPoolExecutor("supernet", config, workers=2)
    try:
        remote = run_search(RandomSearch(TINY, seed=3, budget=4), pool, tmp_path / "b.jsonl", parallel=2)
    finally:
        pool.close()
    assert {r.digest: r.score.log_loss for r in local} == pytest.approx({r.digest: r.score.log_loss for r in remote})


def test_a_search_whose_every_evaluation_failed_stops_with_one_message(run, tmp_path):
    config, root, _ = run
    failed = [
        e.model_copy(update={"score": None, "error": "RuntimeError: out of luck"})
        for e in read_jsonl(root / "search" / "evaluations.jsonl", Evaluation)
    ]
    pipeline = Pipeline(config, tmp_path / "out", console=Console(quiet=True), progress=False)
    with pytest.raises(
        ValueError,
        match=r"evaluations.jsonl: none of the 8 evaluations has a score "
        r"\(the first error: RuntimeError: out of luck\); the top-k stage needs one",
    ):
        pipeline.check_scored(failed)


def test_a_run_is_never_written_among_unrelated_files(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"mine holds notes.txt and no run of nasrec search; choose a new or empty"):
        Pipeline(RunConfig(), tmp_path / "mine", console=Console(quiet=True), progress=False).check()
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
    (tmp_path / "pre" / "supernet").mkdir(parents=True)  # a supernet trained into RUN/supernet first is welcome
    Pipeline(RunConfig(), tmp_path / "pre", console=Console(quiet=True), progress=False).check()
    killed = tmp_path / "killed"  # a first run killed while writing its config.json left its temporary
    killed.mkdir()
    (killed / f".config.json.tmp-{machine_tag()}-999999999-deadbeef").write_text('{"config": {')
    Pipeline(RunConfig(), killed, console=Console(quiet=True), progress=False).check()


def test_a_run_resumes_with_fewer_workers_as_its_out_of_memory_message_advises(tmp_path):
    def pipeline(workers: int, executor: str = "auto") -> Pipeline:
        config = RunConfig(workers=workers, executor=executor)
        return Pipeline(config, tmp_path / "run", console=Console(quiet=True), progress=False)

    pipeline(4)._write_config()
    pipeline(2)._write_config()
    pipeline(1, "process")._write_config()
    with pytest.raises(ValueError, match=r"holds another run's config \(different seed"):  # what it computes
        Pipeline(RunConfig(workers=2, seed=1), tmp_path / "run", console=Console(quiet=True))._write_config()


def test_a_run_with_a_mutation_schedule_cannot_be_extended_to_more_cycles(tmp_path):
    def pipeline(folder, cycles, mutations):
        options = {"population": 4, "cycles": cycles, "tournament": 2, "children": 2, "mutations": mutations}
        config = RunConfig(strategy={"name": "evolution", "options": options})
        return Pipeline(config, tmp_path / folder, console=Console(quiet=True), progress=False)

    pipeline("one", 2, 1)._write_config()
    pipeline("one", 3, 1)._write_config()  # one mutation per child: extended, as one long run
    pipeline("three", 2, 3)._write_config()
    with pytest.raises(ValueError) as exc:  # the schedule spans the cycles: a longer run is another run
        pipeline("three", 3, 3)._write_config()
    assert str(exc.value) == (
        f"{tmp_path / 'three' / 'config.json'}: this run cannot be extended (cycles 2 -> 3) with its evolution "
        "options: `cycles`, unless `mutations > 1`: that schedule spans the cycles, so a longer run would not "
        "extend the shorter one. Use a new folder or the same settings."
    )
    with pytest.raises(ValueError, match=r"holds another run's config \(different strategy.options.cycles, "):
        pipeline("three", 3, 2)._write_config()  # another schedule too: not only a budget


@pytest.mark.parametrize("sampler", ["single-path", "any-path"])
def test_the_random_baseline_samples_with_the_searchs_path_sampler(sampler):
    evolution = StrategyChoice(name="evolution", options={"population": 6, "tournament": 3, "sampler": sampler})
    baseline = baseline_choice(evolution, 30)
    assert baseline == StrategyChoice(name="random", options={"budget": 30, "sampler": sampler})
    drawn = build_strategy("random", NASREC_FULL, seed=3, **baseline.options).ask(6)
    initial = build_strategy("evolution", NASREC_FULL, seed=3, **evolution.options).ask(6)
    assert [g.digest() for g in drawn] == [g.digest() for g in initial]
    optuna = StrategyChoice(name="optuna", options={"sampler": "tpe"})  # Optuna's algorithm, not a path sampler
    assert baseline_choice(optuna, 30) == StrategyChoice(name="random", options={"budget": 30})


def test_the_best_of_the_top_k_is_a_trained_one_and_none_trained_is_an_error(tmp_path):
    genotypes = RandomSearch(TINY, seed=0, budget=3).ask(3)
    proxy = Score(log_loss=0.45, auc=0.7, examples=10, seconds=0.0, evaluator="finetune")

    def result(rank, full, error=None):
        g = genotypes[rank - 1]
        return TopKResult(rank=rank, digest=g.digest(), genotype=g, proxy=proxy, full=full, error=error)

    trained = proxy.model_copy(update={"evaluator": "full", "log_loss": 0.47})
    better = trained.model_copy(update={"log_loss": 0.46})
    diverged = "train x: loss 9 at step 20 is more than 3x the running median"
    topk = [result(1, None, diverged), result(2, trained), result(3, better)]
    supernet = tmp_path / "supernet" / "checkpoint.pt"
    assert Pipeline.best_trained(topk, tmp_path / "topk.jsonl", supernet).rank == 3
    none_trained = [result(1, None, diverged), result(2, None, "nan")]
    said = (
        f"{tmp_path / 'topk.jsonl'}: all 2 top-k candidates diverged when trained from scratch (the first: "
        f"{diverged}); run again in a new folder with a lower --scratch-lr or a larger --top-k (a run folder keeps "
        "its first settings"
    )
    with pytest.raises(ValueError) as exc:
        Pipeline.best_trained(none_trained, tmp_path / "topk.jsonl", supernet)
    assert str(exc.value) == f"{said})"
    supernet.parent.mkdir()
    supernet.write_bytes(b"weights")  # a trained supernet: the way on keeps it
    with pytest.raises(ValueError) as exc:
        Pipeline.best_trained(none_trained, tmp_path / "topk.jsonl", supernet)
    assert str(exc.value) == f"{said}; copy {supernet.parent} into it to reuse the trained supernet)"


def test_a_supernet_copied_into_a_new_folder_is_reused_there_with_other_scratch_settings(run, tmp_path):
    """What a run whose scratch trainings diverge advises: a new folder with a calmer --scratch-lr, the trained
    supernet copied in. Its settings are the run's, so it is taken as trained: not one step more."""
    import shutil

    config, root, _ = run
    paths = RunPaths(root)
    shutil.copytree(paths.supernet.parent, tmp_path / "new" / "supernet")
    calmer = config.model_copy(update={"scratch_lr": config.scratch_lr / 2, "scratch_min_warmup_steps": 50})
    pipeline = Pipeline(calmer, tmp_path / "new", console=Console(quiet=True), progress=False)
    pipeline.check()  # the copy's settings are this run's
    pipeline.train_supernet()
    copied = RunPaths(tmp_path / "new")
    assert copied.supernet.read_bytes() == paths.supernet.read_bytes()  # resumed at its last step: no step trained
    steps = [json.loads((p.supernet.parent / "training.json").read_text())["steps"] for p in (copied, paths)]
    assert steps[0] == steps[1] > 0


def test_the_final_stage_trains_the_winners_with_seeds_their_selection_did_not_use(run, tmp_path):
    config, root, summary = run
    topk = {r.digest: r for r in read_jsonl(root / "topk" / "evaluations.jsonl", TopKResult)}
    final = {r.name: r for r in read_jsonl(root / "final" / "results.jsonl", FinalResult)}
    winner = final["NASRecNet"]
    selected = {run.seed for run in topk[winner.digest].full.runs}
    assert len(winner.test.runs) == config.final_seeds == 2
    assert selected and selected.isdisjoint(run.seed for run in winner.test.runs)
    assert summary.seeds == [config.seed + 10_000, config.seed + 10_001]
    old = tmp_path / "old"  # a folder from before the field: its final stage resumes as it ran, on the top-k seeds
    old.mkdir()
    saved = json.loads((root / "config.json").read_text())
    del saved["config"]["final_fresh_seeds"]
    (old / "config.json").write_text(json.dumps(saved))
    resumed = Pipeline(config, old, console=Console(quiet=True))  # the same settings, as the CLI gives them
    resumed._write_config()
    assert not resumed.config.final_fresh_seeds and resumed.final_seeds() == [config.seed, config.seed + 1]
    fresh = Pipeline(config, tmp_path / "new", console=Console(quiet=True))
    assert fresh.config.final_fresh_seeds and fresh.final_seeds() == [config.seed + 10_000, config.seed + 10_001]


def test_the_random_baseline_reuses_the_scores_of_evolutions_initial_population(run):
    config, root, _ = run
    searched = read_jsonl(root / "search" / "evaluations.jsonl", Evaluation)
    baseline = read_jsonl(root / "random" / "evaluations.jsonl", Evaluation)
    population = config.strategy.options["population"]
    assert [e.digest for e in baseline[:population]] == [e.digest for e in searched[:population]]
    assert [e.score for e in baseline[:population]] == [e.score for e in searched[:population]]
    assert {e.seconds for e in baseline[:population]} == {0.0} and len(baseline) == len(searched)


def test_data_too_small_for_one_batch_is_refused_before_anything_is_written(tmp_path):
    from nasrec.data import make_synthetic

    make_synthetic(400, seed=0).save(tmp_path / "small")  # a train split of 320 rows
    config = RunConfig(data=str(tmp_path / "small"), evaluator={"name": "params"})
    with pytest.raises(ValueError) as exc:
        Pipeline(config, tmp_path / "run", console=Console(quiet=True), progress=False).run()
    assert str(exc.value) == (
        f"{tmp_path / 'small'}: the train split has 320 rows (8 folds of 10), fewer than one batch of 512: a search "
        "needs more data"
    )
    assert not (tmp_path / "run").exists()
