"""Run records carry `Genotype` objects and are written as the genotype's own JSON (the files of existing runs
read back unchanged)."""

import json

from nasrec.evaluators.base import Score
from nasrec.genotype import Genotype, sample
from nasrec.records import Evaluation, RunPaths

SCORE = Score(log_loss=0.45, auc=0.78, examples=10, seconds=1.0, evaluator="finetune")


def test_an_evaluation_holds_a_genotype_and_writes_its_json():
    g = sample("nasrec-full", rng=3).with_meta(name="x")
    e = Evaluation(index=0, digest=g.digest(), genotype=g, score=SCORE, seed=1, seconds=1.0)
    assert isinstance(e.genotype, Genotype) and e.genotype == g
    line = e.model_dump_json()
    assert json.loads(line)["genotype"] == g.to_dict()  # the same JSON as before records held objects
    back = Evaluation.model_validate_json(line)
    assert back == e and back.genotype.digest() == g.digest()
    assert Evaluation.model_validate({**json.loads(line), "genotype": g.to_dict()}) == e
    from_object = Evaluation.model_validate({**json.loads(line), "genotype": g})  # an object, not its JSON
    assert from_object == e and from_object.genotype.meta == {"name": "x"}
    assert from_object.model_dump()["genotype"] == g.to_dict()  # dumped as the genotype's JSON in python mode too


def test_a_run_folder_is_recognised_by_its_config(tmp_path):
    paths = RunPaths(tmp_path)
    assert not paths.is_run()
    paths.config.write_text('"config"')  # not a run's config.json
    assert not paths.is_run()
    paths.config.write_text(json.dumps({"config": {}, "versions": {}}))
    assert paths.is_run()
