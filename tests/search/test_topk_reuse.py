"""The top-k stage keeps a search's own scratch-training score, and the random baseline's top-k stage the search's
top-k trainings, instead of training a candidate again."""

import contextlib

from rich.console import Console

from nasrec.evaluators import FullTrain
from nasrec.evaluators.base import Score
from nasrec.genotype import sample
from nasrec.records import Evaluation
from nasrec.search.pipeline import Pipeline, RunConfig
from nasrec.search.scratch_stages import same_training
from tests.spaces import TINY


def pipeline(tmp_path, **config) -> Pipeline:
    run = RunConfig(data="sample:criteo", supernet={}, evaluator={"name": "full"}, top_k=2, seed=3, **config)
    return Pipeline(run, tmp_path / "run", console=Console(quiet=True), progress=False)


def score(config: dict, evaluator: str = "full", value: float = 0.47) -> Score:
    return Score(log_loss=value, auc=0.7, examples=1495, seconds=9.0, evaluator=evaluator, config=config)


def test_a_search_scored_by_the_top_k_recipe_is_recognised_and_other_settings_are_not(tmp_path):
    p = pipeline(tmp_path)
    c = p.config
    topk = FullTrain(data=c.data, seed=c.seed, seeds=c.topk_seeds, device=c.device, train=p.scratch_recipe(10.0))
    proxy = p.evaluator_config()  # `nasrec search --evaluator full`: the evaluator's defaults, the run's seed
    assert proxy["seed"] == 3 and proxy["train"]["seed"] == 0  # train.seed differs, and is not used
    assert same_training(score(proxy), topk)
    unsaved = {**proxy["train"], "checkpoint_every": 10**6, "checkpoint_seconds": 0}
    assert same_training(score({**proxy, "train": unsaved}), topk)  # how often it saved: the same training
    assert not same_training(score({**proxy, "seeds": 2}), topk)
    assert not same_training(score({**proxy, "train": {**proxy["train"], "epochs": 4.0}}), topk)
    assert not same_training(score(proxy, evaluator="finetune"), topk)
    assert not same_training(score({"unknown": 1}), topk)


def test_the_top_k_stage_trains_only_the_candidates_the_search_did_not_train(tmp_path, monkeypatch):
    p = pipeline(tmp_path)
    proxy = p.evaluator_config()
    trained = []

    def evaluate(self, genotypes):
        assert self.checkpoints == tmp_path / "checkpoints"  # beside the stage's log: a killed run resumes there
        trained.extend(g.digest() for g in genotypes)
        return [score(self.config, value=0.5) for _ in genotypes]

    monkeypatch.setattr(FullTrain, "evaluate", evaluate)
    a, b = sample(TINY, rng=1), sample(TINY, rng=2)
    evaluations = [
        Evaluation(index=0, digest=a.digest(), genotype=a, score=score(proxy, value=0.46), seed=3, seconds=9.0),
        Evaluation(index=1, digest=b.digest(), genotype=b, score=score({**proxy, "seeds": 2}), seed=3, seconds=9.0),
    ]
    p.paths.root.mkdir(parents=True)
    top = p.train_top_k(evaluations, tmp_path / "topk.jsonl")
    assert trained == [b.digest()]  # a's proxy score is its top-k training
    assert [(r.digest, r.full.log_loss) for r in top] == [(a.digest(), 0.46), (b.digest(), 0.5)]
    assert top[0].full == top[0].proxy


def test_the_random_baselines_top_k_copies_what_the_searchs_top_k_trained(tmp_path, monkeypatch):
    p = pipeline(tmp_path)
    trained = []

    def evaluate(self, genotypes):
        trained.extend(g.digest() for g in genotypes)
        return [score(self.config, value=0.5 + len(trained) / 100) for _ in genotypes]

    monkeypatch.setattr(FullTrain, "evaluate", evaluate)
    a, b, c = (sample(TINY, rng=i) for i in (1, 2, 3))

    def evaluations(*scored):
        return [
            Evaluation(index=i, digest=g.digest(), genotype=g, score=score({}, "params", v), seed=3, seconds=1.0)
            for i, (g, v) in enumerate(scored)
        ]

    p.paths.root.mkdir(parents=True)
    searched = p.train_top_k(evaluations((a, 0.40), (b, 0.41), (c, 0.50)), p.paths.topk)
    assert trained == [a.digest(), b.digest()]
    baseline = p.train_top_k(evaluations((c, 0.39), (b, 0.41)), p.paths.random_topk, trained=searched)
    assert trained == [a.digest(), b.digest(), c.digest()]  # b is not trained again
    assert [(r.rank, r.digest, r.full.log_loss) for r in baseline] == [(1, c.digest(), 0.53), (2, b.digest(), 0.52)]
    assert baseline[1].full == searched[1].full and baseline[1].proxy.log_loss == 0.41
    on_gpu = [
        r.model_copy(update={"full": r.full.model_copy(update={"config": {**r.full.config, "device": "cuda"}})})
        for r in searched
    ]  # a run resumed on another device than its search's top-k stage ran on
    p.train_top_k(evaluations((b, 0.41)), tmp_path / "moved.jsonl", trained=on_gpu)
    assert trained == [a.digest(), b.digest(), c.digest(), b.digest()]  # trained again, here


def test_the_final_stage_checkpoints_its_trainings_in_the_run_folder(tmp_path, monkeypatch):
    p = pipeline(tmp_path)
    seen = []

    def predict(self, genotype, save_weights=None):
        seen.append(self.checkpoints)
        raise KeyboardInterrupt  # stop before anything is recorded

    monkeypatch.setattr(FullTrain, "predict", predict)
    p.paths.root.mkdir(parents=True)
    g = sample(TINY, rng=1)
    with contextlib.suppress(KeyboardInterrupt):
        p.final([("NASRecNet", "searched", g)])
    assert seen == [tmp_path / "run" / "final" / "checkpoints"]
