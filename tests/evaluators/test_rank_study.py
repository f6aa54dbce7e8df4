"""The ranking study end to end on a tiny space: work order, the reference table, resuming."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from nasrec.errors import UsageError
from nasrec.evaluators.rank_study import distinct_samples, rank_study
from nasrec.evaluators.rank_study_config import TRIVIAL, RankStudyConfig, SupernetVariant
from nasrec.evaluators.rank_summary import RankStudyResult, _seed_taus, paired_difference, pooled_agreement
from nasrec.evaluators.ranking import agreement
from nasrec.evaluators.study_records import REFERENCE, StudyScore, reference_records
from nasrec.evaluators.supernet_training import SUPERNET_RECIPE
from nasrec.evaluators.training import TrainConfig
from nasrec.state import read_jsonl


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


@pytest.fixture(scope="module")
def whole(tmp_path_factory, tiny_space_file) -> tuple[Path, RankStudyResult]:
    """One whole tiny study, shared by the tests (a resumed run writes nothing)."""
    out = tmp_path_factory.mktemp("rank") / "whole"
    return out, rank_study(tiny_study(tiny_space_file), out)


def test_the_study_scores_every_proxy_and_the_reference_genotype_by_genotype(whole, tiny_space_file):
    out, result = whole
    records = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    labels = [r["label"] for r in records]
    assert labels[:6] == [TRIVIAL[0]] * 3 + [TRIVIAL[1]] * 3
    assert labels[6:9] == ["main/none"] * 3
    # every seed of one genotype before the next: a study stopped early has complete reference pairs
    reference = [(r["label"], r["digest"]) for r in records if r["label"].startswith(f"{REFERENCE}/")]
    digests = list(dict.fromkeys(d for _, d in reference))
    assert reference == [(f"{REFERENCE}/seed{i}", d) for d in digests for i in (0, 1)]
    assert len(digests) == 3 and result.reference_n == 3 and result.seed_agreement is not None
    assert result.seed_taus == {}  # two seeds: their one agreement is `seed_agreement`
    assert set(result.agreement) == {*TRIVIAL, "main/none"}
    table = [json.loads(line) for line in (out / "reference.jsonl").read_text().splitlines()]
    assert [len(row["runs"]) for row in table] == [2, 2, 2]

    before = (out / "scores.jsonl").read_text()
    again = rank_study(tiny_study(tiny_space_file), out)  # resumed: nothing is evaluated twice
    assert (out / "scores.jsonl").read_text() == before
    assert again.agreement == result.agreement


def test_seed_taus_pair_every_two_seeds_and_each_seed_with_the_mean_of_the_others():
    first = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    runs = np.stack([first, first, first[::-1]], axis=1)  # seed 1 repeats seed 0, seed 2 reverses it
    taus = _seed_taus(runs)
    assert taus == {"0-1": 1.0, "0-2": -1.0, "1-2": -1.0, "2-rest": -1.0}  # 0's and 1's rest is constant: no tau
    assert _seed_taus(runs[:, :2]) == {} and _seed_taus(runs[:2]) == {}
    noisy = runs + np.random.default_rng(0).normal(0, 0.01, runs.shape)
    assert _seed_taus(noisy)["0-rest"] == pytest.approx(
        agreement(noisy[:, 0], noisy[:, 1:].mean(axis=1)).kendall_tau, abs=1e-4
    )


def test_paired_difference_of_two_proxies_is_their_taus_difference(whole, tiny_space_file):
    out, result = whole
    config = tiny_study(tiny_space_file)
    records = {(r.label, r.digest): r for r in read_jsonl(out / "scores.jsonl", StudyScore)}
    d = paired_difference(config, records, distinct_samples(config), "params", "main/none")
    assert d["n"] == 3
    expected = result.agreement["params"].kendall_tau - result.agreement["main/none"].kendall_tau
    assert d["difference"] == pytest.approx(expected, abs=1e-4) and d["low"] <= d["difference"] <= d["high"]
    same = paired_difference(config, records, distinct_samples(config), "params", "params")
    assert (same["difference"], same["low"], same["high"]) == (0.0, 0.0, 0.0)


def test_pooled_agreement_of_one_proxy_is_its_own_and_of_two_their_standardised_mean(whole, tiny_space_file):
    out, result = whole
    config = tiny_study(tiny_space_file)
    records = {(r.label, r.digest): r for r in read_jsonl(out / "scores.jsonl", StudyScore)}
    genotypes = distinct_samples(config)
    assert pooled_agreement(config, records, genotypes, ["main/none"]).kendall_tau == pytest.approx(
        result.agreement["main/none"].kendall_tau
    )
    # a size and a log loss, on very different scales: pooled, each weighs alike
    pair = ["params", "main/none"]
    z = [np.array([records[(label, g.digest())].score.value for g in genotypes]) for label in pair]
    mean = sum((v - v.mean()) / v.std() for v in z) / 2
    reference = [
        np.mean([records[(f"{REFERENCE}/seed{i}", g.digest())].score.value for i in (0, 1)]) for g in genotypes
    ]
    expected, pooled = agreement(mean, reference, config.top_k), pooled_agreement(config, records, genotypes, pair)
    assert (pooled.kendall_tau, pooled.pearson_r) == pytest.approx((expected.kendall_tau, expected.pearson_r))
    raw = agreement(z[0] + z[1], reference, config.top_k).pearson_r  # unstandardised, the log loss would not count
    assert abs(raw - pooled.pearson_r) > 1e-3
    with pytest.raises(UsageError, match=r"^pooled agreement of params, nothing: 0 genotypes scored by all of them$"):
        pooled_agreement(config, records, genotypes, ["params", "nothing"])


def test_a_study_split_between_two_processes_merges_to_the_whole_studys_result(whole, tmp_path, tiny_space_file):
    """One process trains the reference, another the proxies (`reference=False`); `reuse` merges them."""
    log_of_whole, whole_result = whole[0] / "scores.jsonl", whole[1]
    proxies = rank_study(tiny_study(tiny_space_file), tmp_path / "proxies", reference=False)
    assert proxies.reference_n == 0 and proxies.agreement == {}
    log = (tmp_path / "proxies" / "scores.jsonl").read_text()
    assert REFERENCE not in {json.loads(line)["label"].split("/")[0] for line in log.splitlines()}

    merged = rank_study(tiny_study(tiny_space_file), tmp_path / "proxies", run=False, reuse=log_of_whole)
    assert merged.reference_n == 3 and merged.seed_agreement == whole_result.seed_agreement
    # the proxies are deterministic: the same scores in either process
    assert merged.agreement == whole_result.agreement
    again = rank_study(tiny_study(tiny_space_file), tmp_path / "proxies", run=False, reuse=log_of_whole)
    assert again.agreement == merged.agreement  # nothing copied twice
    assert len((tmp_path / "proxies" / "scores.jsonl").read_text().splitlines()) == 6 + 3 + 6


def test_a_reference_split_into_shards_merges_to_the_whole_studys_reference(whole, tmp_path, tiny_space_file):
    """`shard=(k, n)`: each folder trains the reference of every n-th genotype; `reuse` of both logs merges them."""
    log_of_whole, whole_result = whole[0] / "scores.jsonl", whole[1]
    config = tiny_study(tiny_space_file)
    logs = []
    for k in (0, 1):
        part = rank_study(config, tmp_path / f"shard{k}", shard=(k, 2), variants=[])
        assert part.reference_n == (2 if k == 0 else 1)  # genotypes 0 and 2; genotype 1
        logs.append(tmp_path / f"shard{k}" / "scores.jsonl")
    merged = rank_study(config, tmp_path / "merged", run=False, reuse=logs, reuse_proxies=log_of_whole)
    assert merged.reference_n == 3 and merged.seed_agreement == whole_result.seed_agreement
    assert merged.agreement == whole_result.agreement
    with pytest.raises(UsageError, match=r"^shard: 2/2 is not a shard \(k/n with 0 <= k < n\)$"):
        rank_study(config, tmp_path / "bad", shard=(2, 2))
    assert not (tmp_path / "bad").exists()


def test_retrained_records_are_trained_again_and_reused_proxies_summarise_with_them(whole, tmp_path, tiny_space_file):
    log, whole_result = whole[0] / "scores.jsonl", whole[1]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    digest = next(r["digest"] for r in records if r["label"] == f"{REFERENCE}/seed1")
    config = tiny_study(tiny_space_file)
    again = tmp_path / "again"
    rank_study(config, again, variants=[], reuse=log, retrain=[(f"{REFERENCE}/seed1", digest)])
    assert not (again / "supernets").exists()  # no variant: the reference only
    redone = [json.loads(line) for line in (again / "scores.jsonl").read_text().splitlines()]
    assert (redone[-1]["label"], redone[-1]["digest"]) == (f"{REFERENCE}/seed1", digest)  # trained after the copies
    before = next(r for r in records if (r["label"], r["digest"]) == (f"{REFERENCE}/seed1", digest))
    assert redone[-1]["score"]["log_loss"] == before["score"]["log_loss"]  # same seed, same recipe: same run
    summary = rank_study(config, tmp_path / "summary", run=False, reuse=[again / "scores.jsonl"], reuse_proxies=log)
    assert summary.agreement == whole_result.agreement and summary.reference_n == 3


def test_a_reference_table_is_reused_and_only_the_runs_it_lacks_are_trained(whole, tmp_path, tiny_space_file):
    """`reuse_reference`: a committed `reference.jsonl` stands for the runs it holds; a third seed is trained."""
    table, whole_result = whole[0] / "reference.jsonl", whole[1]
    config = tiny_study(tiny_space_file)
    summary = rank_study(
        config, tmp_path / "same", variants=[], reuse_reference=table, reuse_proxies=whole[0] / "scores.jsonl"
    )
    assert summary.agreement == whole_result.agreement and summary.seed_agreement == whole_result.seed_agreement
    copied = [json.loads(line) for line in (tmp_path / "same" / "scores.jsonl").read_text().splitlines()]
    reference = [r for r in copied if r["label"].startswith(f"{REFERENCE}/")]
    assert len(reference) == 6 and {r["score"]["config"]["reference_table"] for r in reference} == {str(table)}
    assert math.isnan(summary.seconds_per_candidate[f"{REFERENCE}/seed0"])  # copied runs carry no time

    three = config.model_copy(update={"reference_seeds": 3})
    more = rank_study(three, tmp_path / "three", variants=[], reuse_reference=table)
    log = [json.loads(line) for line in (tmp_path / "three" / "scores.jsonl").read_text().splitlines()]
    trained = [r["label"] for r in log if r["score"] and "reference_table" not in r["score"]["config"]]
    assert trained.count(f"{REFERENCE}/seed2") == 3 and f"{REFERENCE}/seed0" not in trained
    assert more.reference_n == 3
    rows = [json.loads(line) for line in (tmp_path / "three" / "reference.jsonl").read_text().splitlines()]
    assert [len(row["runs"]) for row in rows] == [3, 3, 3]

    moved = tmp_path / "other-data.jsonl"
    moved.write_text(table.read_text().replace('"data": "sample:criteo"', '"data": "sample:avazu"'))
    with pytest.raises(UsageError, match=r"^reference table .*other-data\.jsonl, line 1: trained on 'sample:avazu', "):
        rank_study(config, tmp_path / "bad", run=False, reuse_reference=moved)
    assert not (tmp_path / "bad").exists()  # checked before anything is written


def test_a_reference_table_on_a_relative_path_serves_the_same_data_given_absolute(whole, tmp_path, monkeypatch):
    """The table names its data as the study was given it; the same folder named another way is the same data."""
    (tmp_path / "rows").mkdir()
    table = tmp_path / "relative.jsonl"
    table.write_text((whole[0] / "reference.jsonl").read_text().replace('"data": "sample:criteo"', '"data": "rows"'))
    monkeypatch.chdir(tmp_path)
    records = reference_records(table, str(tmp_path / "rows"), seed=0, seeds=2, examples=10)
    assert len(records) == 6 and {r.label for r in records} == {f"{REFERENCE}/seed0", f"{REFERENCE}/seed1"}
    with pytest.raises(UsageError, match=r"line 1: trained on 'rows', not on '.*elsewhere'"):
        reference_records(table, str(tmp_path / "elsewhere"), seed=0, seeds=2, examples=10)


def test_reuse_names_a_missing_log(tmp_path, tiny_space_file):
    with pytest.raises(UsageError, match=r"^reuse: .*nope\.jsonl is not a file \(a rank study's scores\.jsonl\)$"):
        rank_study(tiny_study(tiny_space_file), tmp_path / "study", run=False, reuse=tmp_path / "nope.jsonl")
    assert not (tmp_path / "study").exists()  # checked before anything is written


def test_variants_train_only_the_named_supernets_in_order(tmp_path, tiny_space_file):
    config = tiny_study(tiny_space_file)
    quick = config.supernets["main"]
    config = config.model_copy(update={"supernets": {"main": quick, "other": quick, "third": quick}})
    result = rank_study(config, tmp_path / "study", reference=False, variants=["third", "other"])
    assert sorted((tmp_path / "study" / "supernets").iterdir()) == [
        tmp_path / "study" / "supernets" / "other",
        tmp_path / "study" / "supernets" / "third",
    ]
    records = [json.loads(line)["label"] for line in (tmp_path / "study" / "scores.jsonl").read_text().splitlines()]
    assert records[6:] == ["third/none"] * 3 + ["other/none"] * 3
    assert result.reference_n == 0


def test_an_unknown_variant_is_named_before_anything_is_written(tmp_path, tiny_space_file):
    with pytest.raises(UsageError, match=r"^variants: no supernet variant 'nope' in this study \(main\)$"):
        rank_study(tiny_study(tiny_space_file), tmp_path / "study", variants=["main", "nope"])
    assert not (tmp_path / "study").exists()


def test_a_variant_scores_every_proxy_it_names_on_its_own_supernet(tmp_path, tiny_space_file):
    config = tiny_study(tiny_space_file)
    quick = config.supernets["main"].model_copy(update={"finetune": ("none", "bias"), "center_logits": True})
    config = config.model_copy(update={"supernets": {"main": config.supernets["main"], "centred": quick}})
    assert config.supernet_config("centred").center_logits and not config.supernet_config("main").center_logits
    result = rank_study(config, tmp_path / "study", reference=False)
    records = [json.loads(line)["label"] for line in (tmp_path / "study" / "scores.jsonl").read_text().splitlines()]
    assert records[6:] == ["main/none"] * 3 + ["centred/none"] * 3 + ["centred/bias"] * 3
    assert set(result.supernet_diverged_steps) == {"main", "centred"}  # from each supernet's training.json
    seeded = quick.model_copy(update={"seed": 7})
    assert config.model_copy(update={"supernets": {"s": seeded}}).supernet_config("s").train.seed == 7


def test_paper_scores_of_one_pass_never_mix_with_scores_of_all_steps(whole, tmp_path, tiny_space_file):
    """Studies before `paper_max_passes` ran `paper` for one pass: their folders resume only with
    `paper_max_passes=1`, and their `paper` records are copied only into a study that asks for one pass."""
    config = tiny_study(tiny_space_file)
    records = [json.loads(line) for line in (whole[0] / "scores.jsonl").read_text().splitlines()]
    inherited = [r for r in records if r["label"] == "main/none"]
    log = tmp_path / "proxies.jsonl"
    with log.open("w") as fh:
        for r, passes in zip(inherited, ({}, {"max_passes": None}, {"max_passes": 1}), strict=True):
            r["score"]["config"] = {"recipe": "paper", **passes}  # {}: a record from before the field
            fh.write(json.dumps({**r, "label": "main/paper"}) + "\n")

    def copied(config: RankStudyConfig, out: Path) -> list[dict]:
        rank_study(config, out, run=False, reuse=whole[0] / "scores.jsonl", reuse_proxies=log)
        lines = (out / "scores.jsonl").read_text().splitlines()
        return [json.loads(line)["score"]["config"] for line in lines if '"main/paper"' in line]

    assert copied(config, tmp_path / "all-steps") == [{"recipe": "paper", "max_passes": None}]
    one_pass = config.model_copy(update={"paper_max_passes": 1})
    assert copied(one_pass, tmp_path / "one-pass") == [{"recipe": "paper"}, {"recipe": "paper", "max_passes": 1}]

    old = tmp_path / "old"  # a folder written before the field existed
    old.mkdir()
    saved = json.loads((whole[0] / "config.json").read_text())
    del saved["paper_max_passes"]
    (old / "config.json").write_text(json.dumps(saved))
    with pytest.raises(UsageError, match=r"holds another rank study's config \(different paper_max_passes\)"):
        rank_study(config, old, run=False)
    rank_study(one_pass, old, run=False)  # resumed as what it ran


def test_records_scored_on_other_data_are_refused_before_anything_is_written(whole, tmp_path, tiny_space_file):
    out, _ = whole
    other = tmp_path / "other.jsonl"
    lines = []
    for record in read_jsonl(out / "scores.jsonl", StudyScore):
        if record.score is not None:
            config = {**record.score.config, "data": "runs/oracle200k"}
            record = record.model_copy(update={"score": record.score.model_copy(update={"config": config})})
        lines.append(record.model_dump_json() + "\n")
    other.write_text("".join(lines))
    for kind in ("reuse", "reuse_proxies"):
        with pytest.raises(UsageError, match=rf"^{other}: .* was scored on data 'runs/oracle200k', this study's is "):
            rank_study(tiny_study(tiny_space_file), tmp_path / "study", run=False, **{kind: other})
    assert not (tmp_path / "study").exists()


@pytest.mark.parametrize("field", ["finetune_train_rows", "paper_steps", "valid_rows", "top_k"])
def test_the_study_config_refuses_a_count_of_zero_before_anything_runs(field):
    # the proxies' configs need these above 0: a study accepting 0 pinned it to its folder, trained every
    # reference, then failed building the first proxy
    from pydantic import ValidationError

    from nasrec.state.jsonl import validation_reason

    with pytest.raises(ValidationError) as caught:
        RankStudyConfig(**{field: 0})
    assert validation_reason(caught.value) == f"{field}: Input should be greater than 0"


def test_the_table_captions_every_seed_pair_when_there_are_three_seeds(whole):
    from rich.console import Console

    from nasrec.cli.rank_study import rank_table

    _, result = whole
    console = Console(width=200, record=True)
    console.print(rank_table(result))
    assert "seeds pairwise" not in console.export_text()  # two seeds: the table's first row says it all
    taus = {"0-1": 0.4177, "0-2": 0.5266, "1-2": 0.4256, "0-rest": 0.5539, "1-rest": 0.4595, "2-rest": 0.5395}
    console.print(rank_table(result.model_copy(update={"seed_taus": taus})))
    assert (
        "seeds pairwise: 0-1 0.418, 0-2 0.527, 1-2 0.426; each vs the others' mean: 0 0.554, 1 0.460, 2 0.539"
        in console.export_text()
    )
