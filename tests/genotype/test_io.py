import json

import pytest

from nasrec.genotype import Genotype, GenotypeError, from_nasrec_ref, get_space, load, sample, save, to_nasrec_ref
from nasrec.genotype.io import REF_OPERATORS, load_with_format
from nasrec.genotype.zoo import list_zoo, load_zoo


def test_every_nasrec_ref_file_converts_checks_and_converts_back(nasrec_ref_files):
    for path in nasrec_ref_files:
        original = json.loads(path.read_text())
        g = load(path)
        assert g.space == {"xlarge": "nasrec-full", "autoctr": "nasrec-small"}[original["config"]]
        get_space(g.space).check(g)
        back = to_nasrec_ref(g)
        assert back["micro"] == original["micro"]
        for ours, theirs in zip(back["macro"], original["macro"], strict=True):
            assert {k: set(v) for k, v in ours.items()} == {k: set(v) for k, v in theirs.items()}
        assert {k: v for k, v in back.items() if k not in ("micro", "macro")} == {
            k: v for k, v in original.items() if k not in ("micro", "macro")
        }


def test_criteo_full_reference_model_reads_as_the_paper_drew_it(nasrec_ref_files):
    g = load(next(p for p in nasrec_ref_files if "criteo_ea_criteo_kaggle_xlarge" in p.name))
    first = g.blocks[0]
    assert (first.dense.ops, first.dense.dim, first.sparse.ops, first.sparse.dim) == (
        ("gating",),
        128,
        ("attention",),
        64,
    )
    assert first.dense_to_sparse and not first.sparse_to_dense
    assert g.active_blocks() == [1, 2, 3, 7]
    assert g.meta["nasrec_ref"]["test_loss"] == pytest.approx(0.45114737)


def test_ref_operator_lists_follow_the_reference_order():
    assert REF_OPERATORS["xlarge"] == ("fc", "dot", "gating", "sum", "attention", "efc")
    assert REF_OPERATORS["autoctr"] == ("fc", "dot", "efc")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.update(config="huge"), "config: unknown NasRec-ref space 'huge' (known: xlarge, autoctr)"),
        (
            lambda d: d["micro"][2].update(active_nodes=[0, 9]),
            "micro[2].active_nodes: active_nodes must list indices into "
            "['fc', 'dot', 'gating', 'sum', 'attention', 'efc']",
        ),
        (
            lambda d: d["macro"][1].update(dense_left_idx=[0, 1]),
            "macro[1].dense_left_idx: must be a list with one node id",
        ),
        (lambda d: d["macro"].pop(), "micro: micro and macro must be lists of the same length (one entry per block)"),
        (
            lambda d: d["macro"][3].update(sparse_idx=[5]),
            "macro[3].sparse_idx[0]: node 5 is not earlier than block 4 (block 4 may read nodes 0..3)",
        ),
        (lambda d: d["micro"][2].pop("dense_in_dims"), "micro[2].dense_in_dims: required key is missing"),
        # accepted before: as another architecture, another LayerNorm setting, or (an extra key) ignored
        (
            lambda d: d["micro"][2].update(deepfm=d["micro"][2].pop("deep_fm")),
            "micro[2].deepfm: unknown key (did you mean deep_fm?)",
        ),
        (
            lambda d: d["micro"][2].pop("deep_fm"),
            "micro[2].deep_fm: required key is missing (the sparse-to-dense (FM) merger: 1 on, 0 off)",
        ),
        (
            lambda d: d["micro"][0].pop("dense_sparse_interact"),
            "micro[0].dense_sparse_interact: required key is missing (the dense-to-sparse merger: 1 on, 0 off)",
        ),
        (lambda d: d["micro"][4].update(foo=1), "micro[4].foo: unknown key"),
        (
            lambda d: d["micro"][4].update(dense_in_dim=16),  # beside dense_in_dims
            "micro[4].dense_in_dim: unknown key (did you mean dense_in_dims?)",
        ),
        (
            lambda d: d.update(use_layer_norm=d.pop("use_layernorm")),
            "use_layer_norm: unknown key (did you mean use_layernorm?)",
        ),
        (lambda d: d.update(use_layer_norm=0), "use_layer_norm: unknown key (did you mean use_layernorm?)"),
        (
            lambda d: d.pop("use_layernorm"),
            "use_layernorm: required key of a NasRec-ref file is missing (1: the model has LayerNorm, 0: it has none)",
        ),
        (lambda d: d.pop("num_blocks"), "num_blocks: required key of a NasRec-ref file is missing"),
        (
            lambda d: d.update(nasrec_meta=[1]),  # was dropped
            "nasrec_meta: must be a JSON object (the genotype's meta, as nasrec writes it)",
        ),
        # told before, in other words
        (lambda d: d.update(num_blocks="7"), 'num_blocks: says "7" blocks but micro has 7'),  # was: says 7 blocks
        (lambda d: d.update(mirco=d.pop("micro")), "mirco: unknown key (did you mean micro?)"),  # was: micro: required
        (
            lambda d: d["macro"][5].update(dense_idxs=d["macro"][5].pop("dense_idx")),
            "macro[5].dense_idxs: unknown key (did you mean dense_idx?)",  # was: macro[5].dense_idx: required key...
        ),
        # was: micro[1].active_nodes: active_nodes must list indices into [...]
        (lambda d: d["micro"][1].pop("active_nodes"), "micro[1].active_nodes: required key is missing"),
        (lambda d: d["macro"].__setitem__(2, [0]), "macro[2]: block entries must be JSON objects"),  # was: micro[2]
        (lambda d: d["macro"][2].pop("dense_idx"), "macro[2].dense_idx: required key is missing"),
        (
            lambda d: d["micro"][2].update(active_nodes=[0]),  # no sparse operator left
            "micro[2].active_nodes: Tuple should have at least 1 item after validation, not 0",
        ),
        (lambda d: d.update(use_layernorm="no"), 'use_layernorm: 0 or 1 (or false, true), got "no"'),  # was: on
        (lambda d: d.update(use_layernorm=0.0), "use_layernorm: 0 or 1 (or false, true), got 0.0"),
    ],
)
def test_broken_ref_files_name_the_problem(nasrec_ref_files, edit, message):
    doc = json.loads(nasrec_ref_files[1].read_text())
    edit(doc)
    with pytest.raises(GenotypeError) as info:
        from_nasrec_ref(doc)
    assert str(info.value) == message


def test_save_is_atomic_and_round_trips(tmp_path):
    g = sample("nasrec-small", rng=4)
    path = save(g, tmp_path / "sub" / "g.json")
    assert load(path) == g
    assert sorted(p.name for p in path.parent.iterdir()) == ["g.json"]  # no temp files left
    ref = save(g, tmp_path / "g_ref.json", fmt="nasrec-ref")
    assert json.loads(ref.read_text())["config"] == "autoctr"
    assert load(ref).digest() == g.digest()


def test_a_nasrec_ref_file_missing_a_structure_key_is_read_as_one_and_told_so(tmp_path, nasrec_ref_files):
    """It was read as a genotype of ours and blamed on a missing `schema_version`."""
    for key in ("macro", "micro"):
        doc = json.loads(nasrec_ref_files[1].read_text())
        del doc[key]
        (tmp_path / "ref.json").write_text(json.dumps(doc))
        with pytest.raises(GenotypeError) as info:
            load(tmp_path / "ref.json")
        assert str(info.value) == f"{tmp_path / 'ref.json'}: {key}: required key of a NasRec-ref file is missing"


def test_load_errors_name_the_file_and_the_rule(tmp_path, monkeypatch):
    """They named the rule alone (`cannot read file: No such file or directory`), unlike `SearchSpace.load`."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GenotypeError, match=r"^nope\.json: cannot read file: No such file or directory$"):
        load("nope.json")
    with pytest.raises(GenotypeError, match=r"^nope\.json: cannot read file: No such file or directory$"):
        load_with_format("nope.json", "nasrec-ref")
    doc = load_zoo("dlrm").to_dict()
    doc["blocks"][0]["dense"]["dim"] = 0
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(GenotypeError, match=r"^bad\.json: blocks\[0\]\.dense\.dim: Input should be greater than 0$"):
        load("bad.json")
    (tmp_path / "cut.json").write_text(json.dumps(doc)[:20])
    message = r"^cut\.json: not valid JSON \(Expecting ',' delimiter: line 1 column 21 \(char 20\)\)$"
    with pytest.raises(GenotypeError, match=message):
        load("cut.json")
    ref = to_nasrec_ref(load_zoo("dlrm"))
    del ref["macro"]
    (tmp_path / "ref.json").write_text(json.dumps(ref))
    for fmt in ("auto", "nasrec-ref"):
        with pytest.raises(GenotypeError, match=r"^ref\.json: macro: required key of a NasRec-ref file is missing$"):
            load_with_format("ref.json", fmt)
    with pytest.raises(GenotypeError, match=r"^unknown genotype format 'ref' \(nasrec, nasrec-ref, auto\)$"):
        load("ref.json", "ref")  # the argument is wrong, not the file


def test_an_integer_too_long_to_convert_is_a_genotype_error_and_an_unknown_save_format_refused(tmp_path):
    from nasrec.genotype import Genotype

    huge = '{"schema_version": 1, "blocks": [], "x": 1' + "0" * 5000 + "}"
    with pytest.raises(GenotypeError, match=r"^not valid JSON here \(Exceeds the limit \(4300 digits\)"):
        Genotype.from_json(huge)
    with pytest.raises(GenotypeError, match=r"^unknown genotype format 'nasrec_ref' \(nasrec, nasrec-ref\)$"):
        save(load_zoo("dlrm"), tmp_path / "g.json", fmt="nasrec_ref")
    assert not (tmp_path / "g.json").exists()


def test_zoo_models_are_valid_full_space_genotypes_with_notes():
    assert list_zoo() == ["autoint", "deepfm", "dlrm", "wide_deep"]
    for name in list_zoo():
        g = load_zoo(name)
        get_space("nasrec-full").check(g)
        assert g.active_blocks() == list(range(1, 8))
        assert len(g.meta["note"]) > 100 and g.meta["zoo"] == name
    with pytest.raises(GenotypeError, match="unknown zoo model 'lr'"):
        load_zoo("lr")


def test_deep_nesting_is_a_genotype_error_not_a_recursion_error(tmp_path):
    from nasrec.genotype import Genotype, SearchSpace

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(GenotypeError) as e:
        load(deep)
    assert str(e.value) == f"{deep}: not valid JSON (nested deeper than the parser allows)"
    with pytest.raises(GenotypeError) as e:
        Genotype.from_json(deep.read_text())
    assert str(e.value) == "not valid JSON (nested deeper than the parser allows)"
    with pytest.raises(GenotypeError) as e:
        SearchSpace.load(deep)
    assert str(e.value) == f"search space file {deep}: not valid JSON (nested deeper than the parser allows)"


def test_search_spaces_obey_the_structural_limits():
    from nasrec.genotype import SearchSpace

    base = {
        "name": "big",
        "num_blocks": 7,
        "dense_ops": ["fc"],
        "sparse_ops": ["efc"],
        "dense_dims": [16],
        "sparse_dims": [16],
    }
    with pytest.raises(GenotypeError) as e:
        SearchSpace.from_dict({**base, "num_blocks": 65})
    assert str(e.value) == "num_blocks: Input should be less than or equal to 64"
    with pytest.raises(GenotypeError) as e:
        SearchSpace.from_dict({**base, "sparse_dims": [16, 5000]})
    assert str(e.value) == "sparse_dims[1]: Input should be less than or equal to 4096"


def test_a_genotypes_meta_survives_a_round_trip_through_nasrec_ref_and_cannot_overwrite_its_structure():
    g = sample("nasrec-full", rng=2).with_meta(name="my-net", parent="abc", nasrec_ref={"config": "autoctr", "x": 1})
    ref = to_nasrec_ref(g)
    assert ref["config"] == "xlarge" and ref["x"] == 1 and ref["nasrec_meta"] == {"name": "my-net", "parent": "abc"}
    back = from_nasrec_ref(json.loads(json.dumps(ref)))
    assert back.digest() == g.digest()
    assert back.meta == {"name": "my-net", "parent": "abc", "nasrec_ref": {"use_layernorm": 1, "x": 1}}


def test_a_nasrec_ref_file_may_keep_keys_of_its_own_unless_spelled_like_the_formats(nasrec_ref_files):
    doc = json.loads(nasrec_ref_files[1].read_text())
    g = from_nasrec_ref({**doc, "val_loss": 0.44, "seed": 3})
    assert g.meta["nasrec_ref"] == {
        "use_layernorm": doc["use_layernorm"],
        "test_loss": doc["test_loss"],
        "val_loss": 0.44,
        "seed": 3,
    }
    with pytest.raises(GenotypeError) as info:
        from_nasrec_ref({**doc, "test_los": 0.44})
    assert str(info.value) == "test_los: unknown key (did you mean test_loss?)"


def test_nasrec_ref_files_round_trip_byte_for_byte_through_our_format(nasrec_ref_files):
    """ref -> ours (as `genotype convert` writes it) -> ref gives the reference's own bytes back (as its `json.dump`
    wrote them; one of the six files has a final newline added since)."""
    for path in nasrec_ref_files:
        ours = json.loads(json.dumps(load(path).to_dict(), indent=2))
        assert json.dumps(to_nasrec_ref(Genotype.from_dict(ours))) == path.read_text().rstrip("\n"), path.name
