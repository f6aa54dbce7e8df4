"""The cost cache keys on the architecture's digest: a genotype relabelled (meta, space) is not recounted."""

from nasrec.data.spec import FeatureSpec
from nasrec.evaluators import scoring
from nasrec.genotype import sample


def test_the_cost_of_one_architecture_is_counted_once(monkeypatch):
    calls = []
    real = scoring.cost
    monkeypatch.setattr(
        scoring,
        "cost",
        lambda g, spec, layernorm, norm_raw_fm: calls.append(g.digest()) or real(g, spec, layernorm, norm_raw_fm),
    )
    monkeypatch.setattr(scoring, "_COSTS", {})
    spec = FeatureSpec.synthetic(13, [100] * 26, embedding_dim=16)
    g, other = sample("nasrec-full", rng=11), sample("nasrec-full", rng=12)
    first = scoring.flops_and_params(g, spec)
    assert scoring.flops_and_params(g.with_meta(name="NASRecNet", scores={"x": 1}), spec) == first
    assert scoring.flops_and_params(g.model_copy(update={"space": None}), spec) == first
    assert scoring.flops_and_params(other, spec) != first
    assert calls == [g.digest(), other.digest()] and first[0] > 0 and first[1] > 0
    assert scoring.flops_and_params(g, spec, layernorm=False)[1] < first[1]  # another model: counted again
    assert calls == [g.digest(), other.digest(), g.digest()]
    scoring.flops_and_params(g, spec, norm_raw_fm=True)  # a norm_raw_fm supernet's build: another model too
    assert calls == [g.digest(), other.digest(), g.digest(), g.digest()]
