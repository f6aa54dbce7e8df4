"""The ranking study end to end on a tiny space: work order, the reference table, resuming."""

from __future__ import annotations

import json

from nasrec.evaluators.rank_study import REFERENCE, TRIVIAL, RankStudyConfig, SupernetVariant, rank_study
from nasrec.evaluators.supernet_training import SUPERNET_RECIPE
from nasrec.evaluators.training import TrainConfig


def tiny_study(space: str) -> RankStudyConfig:
    quick = TrainConfig(epochs=0.2, batch_size=1024, min_warmup_steps=2, lr=0.01)
    return RankStudyConfig(
        space=space,
        n=3,
        reference_seeds=2,
        full=quick.model_copy(update={"epochs": 1, "patience": 1}),
        supernets={
            "main": SupernetVariant(train=SUPERNET_RECIPE.model_copy(update={"epochs": 0.2}), finetune=("none",))
        },
        finetune_train_rows=1024,
        paper_steps=2,
        valid_rows=512,
        top_k=2,
    )


def test_the_study_scores_every_proxy_and_the_reference_genotype_by_genotype(tmp_path, tiny_space_file):
    out = tmp_path / "study"
    result = rank_study(tiny_study(tiny_space_file), out)
    records = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    labels = [r["label"] for r in records]
    assert labels[:6] == [TRIVIAL[0]] * 3 + [TRIVIAL[1]] * 3
    assert labels[6:9] == ["main/none"] * 3
    # every seed of one genotype before the next: a study stopped early has complete reference pairs
    reference = [(r["label"], r["digest"]) for r in records if r["label"].startswith(f"{REFERENCE}/")]
    digests = list(dict.fromkeys(d for _, d in reference))
    assert reference == [(f"{REFERENCE}/seed{i}", d) for d in digests for i in (0, 1)]
    assert len(digests) == 3 and result.reference_n == 3 and result.seed_agreement is not None
    assert set(result.agreement) == {*TRIVIAL, "main/none"}
    table = [json.loads(line) for line in (out / "reference.jsonl").read_text().splitlines()]
    assert [len(row["runs"]) for row in table] == [2, 2, 2]

    before = (out / "scores.jsonl").read_text()
    again = rank_study(tiny_study(tiny_space_file), out)  # resumed: nothing is evaluated twice
    assert (out / "scores.jsonl").read_text() == before
    assert again.agreement == result.agreement
