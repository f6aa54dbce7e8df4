"""The final stage and what the run writes after it, on a run whose training is faked (cheap and exact): logits
kept per model, the best genotype's meta, the comparisons."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from rich.console import Console

from nasrec.evaluators import FullTrain, TrainingDiverged
from nasrec.evaluators.base import Score
from nasrec.evaluators.data_ref import open_data
from nasrec.evaluators.full_train import Prediction
from nasrec.evaluators.metrics import auc, log_loss_from_logits
from nasrec.evaluators.stats import paired_log_loss_diff
from nasrec.genotype import load
from nasrec.genotype.zoo import load_zoo
from nasrec.records import Comparisons, FinalResult, RunPaths, StageTime, TopKResult
from nasrec.search.pipeline import Pipeline, RunConfig
from nasrec.state import pin_config, read_jsonl
from nasrec.viz.report import build_report
from nasrec.viz.report_data import RunData
from nasrec.viz.report_md import write_markdown_report


@pytest.fixture
def fake_training(monkeypatch):
    """`FullTrain.predict` without training: logits drawn from the genotype's digest, and on test shifted by the
    number of earlier test predictions (so two trainings of one genotype differ, as across thread counts)."""
    calls = {"test": 0, "predictions": 0}

    def predict(self, genotype, save_weights=None):
        labels = self.data.split(self.cfg.eval_split).label.astype(np.float64)
        seed = int(hashlib.sha256(genotype.digest().encode()).hexdigest()[:8], 16)
        z = np.random.default_rng(seed).normal(-1.0, 1.0, size=(self.cfg.seeds, len(labels)))
        if self.cfg.eval_split == "test":
            z = z + 0.1 * calls["test"]
            calls["test"] += 1
        losses = [log_loss_from_logits(labels, row) for row in z]
        score = Score(
            log_loss=float(np.mean(losses)),
            log_loss_std=float(np.std(losses, ddof=1)) if len(losses) > 1 else None,
            auc=auc(labels, z.mean(axis=0)),
            examples=len(labels),
            seconds=0.0,
            evaluator="full",
            config=self.config,
        )
        calls["predictions"] += 1
        return Prediction(score=score, logits=z)

    monkeypatch.setattr(FullTrain, "predict", predict)
    return calls


def config(space: str, budget: int = 6) -> RunConfig:
    return RunConfig(
        data="sample:criteo",
        space=space,
        strategy={"name": "random", "options": {"budget": budget}},
        evaluator={"name": "params"},
        top_k=2,
        full_epochs=0.1,
        final_epochs=0.1,
        final_seeds=2,
        zoo=(),
    )


def run(root, space: str, budget: int = 6):
    return Pipeline(config(space, budget), root, console=Console(quiet=True), progress=False).run()


def test_a_random_search_that_finds_nasrecnet_copies_its_trainings_and_is_compared_with_its_own_logits(
    tmp_path, tiny_space_file, fake_training
):
    summary = run(tmp_path / "run", tiny_space_file)
    paths = RunPaths(tmp_path / "run")
    nas, rnd = summary.results
    assert (nas.name, rnd.name) == ("NASRecNet", "random search") and nas.digest == rnd.digest  # the same draws
    assert fake_training["test"] == 1 and rnd.test == nas.test  # trained once, for both
    # the same draws, so the same top-2: the random baseline's top-k stage trained none of them again
    assert fake_training["predictions"] == 2 + 1
    assert paths.logits("random search", rnd.digest).name == f"logits-random-search-{rnd.digest}.npy"
    zn, zr = np.load(paths.logits("NASRecNet", nas.digest)), np.load(paths.logits("random search", rnd.digest))
    assert np.array_equal(zn, zr) and summary.comparisons["random search"].log_loss.estimate == 0.0
    # a folder whose random search was trained apart (an older nasrec did; the faked trainings differ, as across
    # thread counts): it is compared by its own logits, not NASRecNet's
    zr = zr + 0.3
    np.save(paths.logits("random search", rnd.digest), zr)
    labels = open_data("sample:criteo").split("test").label.astype(np.float64)
    apart = rnd.test.model_copy(update={"log_loss": float(np.mean([log_loss_from_logits(labels, z) for z in zr]))})
    paths.final.write_text("".join(r.model_dump_json() + "\n" for r in (nas, rnd.model_copy(update={"test": apart}))))
    c = run(tmp_path / "run", tiny_space_file).comparisons["random search"]
    assert c.log_loss.estimate == pytest.approx(nas.test.log_loss - apart.log_loss)  # was 0: rnd against itself
    assert c.log_loss.estimate != 0
    assert c.log_loss == paired_log_loss_diff(labels, zn, zr)


def test_an_older_folders_logits_are_read_where_they_belong_to_one_model(tmp_path, tiny_space_file, fake_training):
    root = tmp_path / "run"
    summary = run(root, tiny_space_file)
    paths = RunPaths(root)
    nas, rnd = read_jsonl(paths.final, FinalResult)
    # as an older nasrec left it: the same genotype trained twice, scored apart, one file per genotype (the last's)
    rnd = rnd.model_copy(update={"test": rnd.test.model_copy(update={"log_loss": nas.test.log_loss + 0.01})})
    results = [nas, rnd]
    paths.final.write_text("".join(r.model_dump_json() + "\n" for r in results))
    paths.logits("random search", rnd.digest).rename(paths.final.parent / f"logits-{rnd.digest}.npy")
    assert paths.logits_of(rnd, results) == paths.final.parent / f"logits-{rnd.digest}.npy"  # only rnd lacks its own
    paths.logits("NASRecNet", nas.digest).unlink()
    paths.comparisons.unlink()  # computed again
    with pytest.raises(ValueError) as exc:
        run(root, tiny_space_file)
    legacy = paths.final.parent / f"logits-{nas.digest}.npy"
    assert str(exc.value) == (
        f"{legacy}: the test logits of NASRecNet and random search (the same genotype, scored apart) were kept in one "
        f"file by an older nasrec and cannot be told apart; delete {paths.final.parent} to train the final models again"
    )
    assert summary.best_digest == nas.digest
    # scored the same, the two are the same trainings (CPU training is deterministic): the one file is both's
    paths.final.write_text(
        "".join(r.model_dump_json() + "\n" for r in (nas, rnd.model_copy(update={"test": nas.test})))
    )
    assert paths.logits_of(nas, read_jsonl(paths.final, FinalResult)) == legacy
    again = run(root, tiny_space_file)
    assert again.comparisons["random search"].log_loss.estimate == 0.0


def test_the_report_of_an_extended_run_shows_only_that_runs_top_k_and_final_models(
    tmp_path, tiny_space_file, fake_training
):
    root = tmp_path / "run"
    first = run(root, tiny_space_file, budget=6)
    extended = run(root, tiny_space_file, budget=40)
    paths = RunPaths(root)
    logged = read_jsonl(paths.topk, TopKResult)
    assert len(logged) > 2 and len(read_jsonl(paths.final, FinalResult)) > 2  # the earlier run's rows remain
    assert first.best_digest != extended.best_digest
    report = RunData(paths)
    assert [(r.rank, r.digest) for r in report.topk] == list(enumerate(extended.topk, start=1))
    assert len(extended.topk) == 2
    assert report.final == extended.results
    assert [r.name for r in report.final] == ["NASRecNet", "random search"]


def test_the_best_genotypes_meta_holds_the_proxys_log_loss_and_its_objective_apart(
    tmp_path, tiny_space_file, fake_training
):
    summary = run(tmp_path / "run", tiny_space_file)
    paths = RunPaths(tmp_path / "run")
    best = next(r for r in read_jsonl(paths.topk, TopKResult) if r.digest == summary.best_digest)
    meta = load(paths.best_genotype).meta
    assert best.proxy.evaluator == "params" and best.proxy.params > 0
    assert meta["proxy_log_loss"] is None  # the params evaluator has no log loss
    assert meta["proxy_objective"] == -best.proxy.params
    assert meta["valid_log_loss"] == best.full.log_loss


def test_a_supernet_trained_into_the_run_folder_with_other_settings_is_refused_before_anything_is_written(tmp_path):
    root = tmp_path / "run"
    config = RunConfig(supernet={"train": {"epochs": 0.5}})
    other = config.supernet.model_copy(update={"train": config.supernet.train.model_copy(update={"lr": 0.5})})
    pin_config(root / "supernet" / "config.json", other, what="supernet", paths=("data", "space"))
    pipeline = Pipeline(config, root, console=Console(quiet=True), progress=False)
    with pytest.raises(ValueError) as exc:
        pipeline.run()
    assert str(exc.value) == (
        f"{root / 'supernet' / 'config.json'} holds another supernet's config (different train.lr): train.lr 0.5 -> "
        "0.12 (stored -> given); use a new folder or the same settings"
    )
    assert sorted(p.name for p in root.iterdir()) == ["supernet"]  # no RUN/config.json
    same = tmp_path / "same"  # trained with the settings the run would use: taken
    pin_config(same / "supernet" / "config.json", config.supernet, what="supernet", paths=("data", "space"))
    Pipeline(config, same, console=Console(quiet=True), progress=False).check()


def test_the_intervals_are_computed_once_in_a_timed_stage_and_reused_by_a_rerun(
    tmp_path, tiny_space_file, fake_training, monkeypatch
):
    root = tmp_path / "run"
    first = run(root, tiny_space_file)
    paths = RunPaths(root)
    kept = Comparisons.model_validate_json(paths.comparisons.read_text())
    assert kept.comparisons == first.comparisons and [name for name, _, _ in kept.of] == ["NASRecNet", "random search"]
    assert list(first.stage_seconds) == ["search", "top-k", "random baseline", "final", "compare"]
    calls = []
    monkeypatch.setattr(Pipeline, "compare", lambda self, results: calls.append(results) or {})
    again = run(root, tiny_space_file)
    assert calls == [] and again.comparisons == first.comparisons  # reused, not bootstrapped again
    times = [t.stage for t in read_jsonl(paths.stage_times, StageTime)]
    assert times.count("compare") == 1  # read back: no time logged
    kept.of[1] = ("random search", kept.of[1][1], 0.5)  # other final models than the kept intervals': computed again
    paths.comparisons.write_text(kept.model_dump_json())
    assert run(root, tiny_space_file).comparisons == {} and len(calls) == 1


def test_an_extended_runs_nasrecnet_that_random_search_had_logged_is_trained_for_its_weights(
    tmp_path, tiny_space_file, fake_training
):
    from nasrec.compiler import compile_standalone
    from nasrec.compiler.standalone import save_weights
    from nasrec.genotype import sample

    g = sample(tiny_space_file, rng=3)
    p = Pipeline(config(tiny_space_file), tmp_path / "run", console=Console(quiet=True), progress=False)
    p.paths.final.parent.mkdir(parents=True)
    p.final([("random search", "random", g)])  # an earlier run's random search found it
    assert fake_training["test"] == 1
    (_, rnd) = p.final([("NASRecNet", "nasrec", g), ("random search", "random", g)])
    assert fake_training["test"] == 2  # trained, not copied: the twin's trainings kept no weights
    # with NASRecNet's weights already kept (its own earlier training), the twin's trainings are copied
    save_weights(compile_standalone(g, open_data("sample:criteo").spec), p.paths.best_weights)
    p.paths.final.write_text(rnd.model_dump_json() + "\n")
    p.final([("NASRecNet", "nasrec", g), ("random search", "random", g)])
    assert fake_training["test"] == 2


def test_a_final_model_whose_every_try_diverges_is_left_out_and_a_rerun_does_not_train_it_again(
    tmp_path, tiny_space_file, fake_training, monkeypatch
):
    faked, dlrm, tries = FullTrain.predict, load_zoo("dlrm").digest(), []
    message = "genotype x, seed 10000: training diverged in all 3 tries; the last: loss 99 at step 3"

    def predict(self, genotype, save_weights=None):
        if genotype.digest() == dlrm and self.cfg.eval_split == "test":
            tries.append(genotype.digest())
            raise TrainingDiverged(message, step=3, loss=99.0)
        return faked(self, genotype, save_weights)

    monkeypatch.setattr(FullTrain, "predict", predict)
    cfg = config(tiny_space_file).model_copy(update={"zoo": ("dlrm", "deepfm")})
    root = tmp_path / "run"
    for call in (1, 2):
        out = io.StringIO()
        summary = Pipeline(cfg, root, console=Console(file=out, width=300), progress=False).run()
        assert [r.name for r in summary.results] == ["NASRecNet", "zoo:deepfm", "random search"]
        assert [(d.name, d.kind, d.digest, d.error) for d in summary.diverged] == [("zoo:dlrm", "zoo", dlrm, message)]
        assert set(summary.comparisons) == {"zoo:deepfm", "random search"} and len(tries) == 1  # not tried again
        said = "every try diverged; left out of the comparison" if call == 1 else "every try diverged (an earlier call)"
        assert f"  zoo:dlrm: {said}" in out.getvalue()
    note = "Left out, every training try diverged: zoo:dlrm."
    assert note in build_report(root) and note in write_markdown_report(root, tmp_path / "r.md").read_text()

    def no_final_trains(self, genotype, save_weights=None):
        if self.cfg.eval_split == "test":
            raise TrainingDiverged(message, step=3, loss=99.0)
        return faked(self, genotype, save_weights)

    monkeypatch.setattr(FullTrain, "predict", no_final_trains)
    with pytest.raises(TrainingDiverged) as stopped:  # NASRecNet's stops the run, saying how to go on
        Pipeline(cfg, tmp_path / "other", console=Console(quiet=True), progress=False).run()
    assert str(stopped.value) == (
        f"NASRecNet's final training: {message}; run again in a new folder with a lower --scratch-lr or a larger "
        "--scratch-min-warmup-steps (a run folder keeps its first settings)"  # `params` trained no supernet
    )
    assert (stopped.value.step, stopped.value.loss) == (3, 99.0)
    assert not RunPaths(tmp_path / "other").final_diverged.exists()


def test_the_cli_names_the_kept_weights_only_when_they_are_nasrecnets(tmp_path, tiny_space_file, fake_training, capsys):
    from nasrec.cli.search import print_results
    from nasrec.compiler import compile_standalone
    from nasrec.compiler.standalone import save_weights

    root = tmp_path / "run"
    summary = run(root, tiny_space_file)
    sized = [
        r.model_copy(update={"test": r.test.model_copy(update={"flops": 1, "params": 1})}) for r in summary.results
    ]
    summary = summary.model_copy(update={"results": sized})  # the faked training measured no cost
    weights = RunPaths(root).best_weights
    capsys.readouterr()
    nas = next(r for r in summary.results if r.kind == "nasrec")
    for kept, named in ((None, False), (load_zoo("dlrm"), False), (nas.genotype, True)):  # none, another's, its own
        if kept is not None:
            save_weights(compile_standalone(kept, open_data("sample:criteo").spec), weights)
        print_results(summary, root)
        assert (f"its trained weights: {weights}" in capsys.readouterr().out) is named, kept


def test_the_results_table_gives_each_model_one_line_at_any_width(
    tmp_path, tiny_space_file, fake_training, monkeypatch
):
    """A log file is 80 columns wide to rich: cells folded there split names and intervals over three lines."""
    import io

    import nasrec.cli.search as search_cli

    summary = run(tmp_path / "run", tiny_space_file)
    sized = [  # the faked training measured no cost: a cost as wide as NASRec-Full's
        r.model_copy(update={"test": r.test.model_copy(update={"flops": 14_210_176, "params": 12_778_145})})
        for r in summary.results
    ]
    summary = summary.model_copy(update={"results": sized})
    for width in (80, 120):
        out = io.StringIO()
        monkeypatch.setattr(search_cli, "console", Console(file=out, width=width, soft_wrap=True))  # as the CLI
        search_cli.print_results(summary, tmp_path / "run")
        lines = out.getvalue().splitlines()
        head = lines.index(next(line for line in lines if line.startswith("model")))
        rows = lines[head + 2 : head + 2 + len(summary.results)]
        assert [row.split("  ")[0] for row in rows] == sorted(
            (r.name for r in summary.results), key=lambda name: next(r.test.log_loss for r in sized if r.name == name)
        )
        assert width == 80 or all(len(line) <= 120 for line in lines)
        compared = [row for row in rows if "[" in row]
        assert compared and all(row.count("[") == 2 and row.count("]") == 2 for row in compared)  # whole intervals
