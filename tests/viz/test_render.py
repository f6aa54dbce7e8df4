"""The DOT text of real and hand-made genotypes: nodes, labels, rails, dead parts, hide_unused, determinism."""

from __future__ import annotations

import importlib
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nasrec.genotype import Genotype, OperatorSignature, load, register_signature, sample
from nasrec.genotype.liveness import branch_reads
from nasrec.genotype.operators import OPERATORS
from nasrec.genotype.sampling import SAMPLERS
from nasrec.genotype.zoo import list_zoo, load_zoo
from nasrec.viz.render import BLUE, BLUE_FILL, RED, RED_FILL, VIOLET, VIOLET_FILL, op_label, render, stripes, to_dot
from tests.viz.drawing import Dot, Layout, block, known

REF = Path(__file__).parents[1] / "data" / "nasrec_ref"
REF_CONFIGS = sorted(REF.glob("*.json"))
CRITEO_SMALL = REF / "criteo_ea_criteo_kaggle_autoctr_best_1shot.json"
CRITEO_FULL = REF / "criteo_ea_criteo_kaggle_xlarge_best_1shot.json"
KDD_FULL = REF / "kdd_ea_kdd_kaggle_xlarge_best_1shot.json"


def _real_genotypes() -> list[tuple[str, Genotype]]:
    """The six NasRec-ref files, the zoo, and five sampled NASRec-Full genotypes."""
    out = [(p.stem, load(p)) for p in REF_CONFIGS] + [(f"zoo:{n}", load_zoo(n)) for n in list_zoo()]
    return out + [(f"sample-{seed}", sample("nasrec-full", rng=seed)) for seed in range(1, 6)]


REAL = _real_genotypes()
LABELLED = [
    (n, g)
    for n, g in REAL
    if any(
        getattr(lv, f"{branch}_ops") and "pair" in branch_reads(b, branch)
        for b, lv in zip(g.canonical().blocks, g.liveness(), strict=True)
        for branch in ("dense", "sparse")
    )
]
"""The drawings with an `L`, `R` or `L=R` label: a live Sigmoid-Gating or Sum (`genotype sample --seed 3` is
sample-3)."""
render_module = importlib.import_module("nasrec.viz.render")  # the module, even if nasrec.viz re-exports `render`
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")


@pytest.fixture(scope="module")
def dot() -> Dot:
    return Dot(to_dot(known()))


def test_nodes_and_clusters(dot: Dot) -> None:
    rails = {"b1_rail_dense", "b1_rail_sparse", "b2_rail_sparse"}  # dense rail up to block 1, sparse up to 2
    expected = {"in_dense", "in_sparse", "head", "b1_d2s", "b2_s2d"} | rails
    expected |= {f"b{k}_{kind}" for k in range(1, 5) for kind in ("dense", "sparse")}
    assert set(dot.nodes) == expected
    assert set(dot.clusters) == {"cluster_inputs"} | {f"cluster_b{k}" for k in range(1, 5)}
    assert dot.clusters["cluster_b1"]["nodes"] == ["b1_rail_dense", "b1_rail_sparse", "b1_dense", "b1_sparse", "b1_d2s"]
    assert dot.clusters["cluster_b2"]["nodes"] == ["b2_rail_sparse", "b2_dense", "b2_sparse", "b2_s2d"]
    assert dot.clusters["cluster_b3"]["nodes"] == ["b3_dense", "b3_sparse"]


def test_labels_say_what_the_number_is(dot: Dot) -> None:
    labels = {n: dot.nodes[f"b{n}"]["label"] for n in ("1_dense", "1_sparse", "2_dense", "2_sparse", "4_dense")}
    assert labels == {
        "1_dense": "FC · 32",
        "1_sparse": "EFC · 16 tokens",
        "2_dense": "Sigmoid-Gating · 64",
        "2_sparse": "Attention · 16 tokens",
        "4_dense": "Dot-Product · 32",
    }
    assert dot.nodes["b1_d2s"]["label"] == "dense→sparse"
    assert dot.nodes["b2_s2d"]["label"] == "FM sparse→dense"


@pytest.mark.parametrize(("name", "g"), REAL, ids=[n for n, _ in REAL])
def test_every_sparse_box_counts_tokens_every_dense_box_its_dim(name: str, g: Genotype) -> None:
    dot = Dot(to_dot(g))
    for k, b in enumerate(g.canonical().blocks, start=1):
        ops = [op_label(op) for op in b.dense.ops]
        assert dot.nodes[f"b{k}_dense"]["label"] == "\\n".join(
            [f"{o} +" for o in ops[:-1]] + [f"{ops[-1]} · {b.dense.dim}"]
        )
        assert dot.nodes[f"b{k}_sparse"]["label"].endswith(f" · {b.sparse.dim} tokens")


def test_dense_parts_blue_sparse_parts_red(dot: Dot) -> None:
    for k in (1, 2, 3, 4):
        assert dot.nodes[f"b{k}_dense"]["color"] == BLUE
        assert dot.nodes[f"b{k}_sparse"]["color"] == RED
    assert (dot.nodes["in_dense"]["color"], dot.nodes["in_sparse"]["color"]) == (BLUE, RED)
    assert (dot.nodes["b1_d2s"]["color"], dot.nodes["b2_s2d"]["color"]) == (VIOLET, VIOLET)


def test_source_flows(dot: Dot) -> None:
    dense, sparse = {"color": BLUE, "style": "solid"}, {"color": RED, "style": "dashed"}
    expected = [
        ("b1_rail_dense", "b1_dense", dense),
        ("b1_rail_sparse", "b1_sparse", sparse),
        ("b2_rail_sparse", "b2_sparse", sparse),
        ("b1_sparse", "b2_sparse", sparse),
        ("b2_dense", "b4_dense", dense),
        ("b1_sparse", "b4_dense", sparse),  # Dot-Product reads sparse too
        ("b2_sparse", "b4_dense", sparse),
        ("b1_sparse", "b4_sparse", sparse),
        ("b2_sparse", "b4_sparse", sparse),
        ("b4_dense", "head", dense),
        ("b4_sparse", "head", sparse),
    ]
    for a, b, style in expected:
        attrs = dot.flow(a, b)
        assert {k: attrs[k] for k in style} == style, (a, b)
        assert not {"xlabel", "headlabel", "taillabel"} & set(attrs)
    merger = [("b1_dense", "b1_d2s"), ("b1_d2s", "b1_sparse"), ("b2_sparse", "b2_s2d"), ("b2_s2d", "b2_dense")]
    rails = [("in_dense", "b1_rail_dense"), ("in_sparse", "b1_rail_sparse"), ("b1_rail_sparse", "b2_rail_sparse")]
    assert sorted((a, b) for a, b, _ in dot.flows) == sorted(
        [(a, b) for a, b, _ in expected] + merger + rails + [("b1_dense", "b2_dense")]
    )


def test_leftward_flows_in_a_row_are_written_reversed(dot: Dot) -> None:
    """Within a row graphviz keeps edges left to right: the sparse tap and the FM flow leftwards."""
    assert dot.edges_written("b1_sparse", "b1_rail_sparse")["dir"] == "back"
    assert dot.edges_written("b2_dense", "b2_s2d")["dir"] == "back"
    assert dot.edges_written("b2_s2d", "b2_sparse")["dir"] == "back"
    assert "dir" not in dot.edges_written("b1_dense", "b1_d2s")


def test_rails(dot: Dot) -> None:
    for a, b in [("in_dense", "b1_rail_dense"), ("in_sparse", "b1_rail_sparse"), ("b1_rail_sparse", "b2_rail_sparse")]:
        attrs = dot.flow(a, b)
        assert attrs["arrowhead"] == "none" and attrs["penwidth"] == "2"
    assert dot.nodes["b1_rail_dense"]["shape"] == "point"


def test_same_source_pair_is_one_bold_edge(dot: Dot) -> None:
    attrs = dot.flow("b1_dense", "b2_dense")
    assert (attrs["headlabel"], attrs["penwidth"], attrs["color"]) == ("L=R", "2.6", BLUE)


def test_distinct_pair_is_labelled_left_and_right() -> None:
    """KDD Full (NasRec-ref), block 5: Sum of the raw dense input (left) and block 2 (right)."""
    dot = Dot(to_dot(load(KDD_FULL)))
    assert dot.flow("b5_rail_dense", "b5_dense")["headlabel"] == "L"
    assert dot.flow("b2_dense", "b5_dense")["headlabel"] == "R"
    assert "penwidth" not in dot.flow("b2_dense", "b5_dense")


def test_pair_labels_sit_at_the_arrowhead() -> None:
    """`L`, `R`, `L=R` are head labels beside the arrowhead; one from the rail tap in the row is above its arrow,
    in twice the usual gap; a bold L=R from below arrives at the middle of the box's bottom."""
    dot = Dot(to_dot(load(KDD_FULL)))
    place = ("labeldistance", "labelangle", "minlen", "headport")
    for (a, b), label, where in [
        (("b5_rail_dense", "b5_dense"), "L", ("2", "40", "2", None)),
        (("b2_dense", "b5_dense"), "R", ("1.5", "57", None, None)),
        (("b5_dense", "b7_dense"), "L=R", ("1.5", "57", None, "s")),
        (("b2_rail_dense", "b2_dense"), "L=R", ("2", "40", "2", None)),
    ]:
        attrs = dot.flow(a, b)
        assert (attrs["headlabel"], *(attrs.get(key) for key in place)) == (label, *where), (a, b)
        assert "xlabel" not in attrs
    assert {d["attrs"]["margin"] for c, d in dot.clusters.items() if c != "cluster_inputs"} == {"20"}  # room below


@needs_dot
@pytest.mark.parametrize(("name", "g"), LABELLED, ids=[n for n, _ in LABELLED])
def test_each_pair_label_is_drawn_by_the_operator_it_feeds(name: str, g: Genotype) -> None:
    """In graphviz's layout, each `L`, `R`, `L=R` is within 25 points of its arrow's tip, and the operator box
    nearest it is the one it feeds (random sample 3, block 5: they were by blocks 1 and 3)."""
    layout = Layout(render_module._run_dot(to_dot(g), "json").decode())
    operators = [n for n in layout.boxes if "_rail_" not in n]
    assert layout.labels
    for label in layout.labels:
        centre = ((label.box[0] + label.box[2]) / 2, (label.box[1] + label.box[3]) / 2)
        assert math.dist(centre, label.tip) < 25, label
        assert layout.nearest(label.box, operators) == label.feeds, label


@needs_dot
def test_a_label_from_the_rail_tap_is_clear_of_the_rail() -> None:
    """Criteo Full (NasRec-ref), block 1: the bold L=R from the dense rail lies between the rail and the box."""
    layout = Layout(render_module._run_dot(to_dot(load(CRITEO_FULL)), "json").decode())
    (label,) = [label for label in layout.labels if label.feeds == "b1_dense"]
    rail, box = layout.boxes["b1_rail_dense"], layout.boxes["b1_dense"]
    assert label.text == "L=R"
    assert rail[2] + 1 < label.box[0] and label.box[2] < box[0]  # the rail is 2 points wide


def test_unused_block_is_striped_and_has_no_edges(dot: Dot) -> None:
    attrs = dot.clusters["cluster_b3"]["attrs"]
    assert (attrs["label"], attrs["style"]) == ("Block 3 (unused)", "dashed")
    assert dot.nodes["b3_dense"]["style"] == dot.nodes["b3_sparse"]["style"] == "striped,dashed"
    assert dot.nodes["b3_dense"]["fillcolor"] == stripes(BLUE_FILL)
    assert dot.nodes["b3_sparse"]["fillcolor"] == stripes(RED_FILL)
    assert dot.touching("b3_dense") == dot.touching("b3_sparse") == []
    assert dot.striped() == {"b3_dense", "b3_sparse"}
    for k in (1, 2, 4):
        assert dot.clusters[f"cluster_b{k}"]["attrs"]["label"] == f"Block {k}"


def test_unused_parts_of_a_used_block_are_striped_without_edges() -> None:
    """Criteo Small (NasRec-ref): no later block reads block 3's tokens, so its EFC and its dense-to-sparse
    merger are unused; its FC is read by blocks 5 and 7."""
    dot = Dot(to_dot(load(CRITEO_SMALL)))
    assert dot.clusters["cluster_b3"]["attrs"]["label"] == "Block 3"
    assert dot.nodes["b3_dense"] == dot.nodes["b3_dense"] | {"label": "FC · 128", "style": "rounded,filled"}
    assert (
        dot.nodes["b3_sparse"] | {"label": "EFC · 16 tokens", "style": "striped,dashed", "color": RED}
        == (dot.nodes["b3_sparse"])
    )
    assert dot.nodes["b3_d2s"]["fillcolor"] == stripes(VIOLET_FILL, 3)
    assert dot.touching("b3_sparse") == dot.touching("b3_d2s") == []
    assert dot.flows_between("b2_dense", "b3_dense") and dot.flows_between("b3_dense", "b5_dense")
    assert dot.nodes["b2_d2s"]["style"] == "rounded,filled"


@pytest.mark.parametrize(("name", "g"), REAL, ids=[n for n, _ in REAL])
def test_striped_exactly_the_dead_parts_and_no_edge_into_them(name: str, g: Genotype) -> None:
    dot = Dot(to_dot(g))
    dead = set()
    for k, (b, lv) in enumerate(zip(g.canonical().blocks, g.liveness(), strict=True), start=1):
        dead |= {f"b{k}_{br}" for br in ("dense", "sparse") if not getattr(lv, f"{br}_ops")}
        dead |= {f"b{k}_{n}" for m, n in (("dense_to_sparse", "d2s"), ("sparse_to_dense", "s2d")) if getattr(b, m)}
        dead -= {f"b{k}_{n}" for m, n in (("dense_to_sparse", "d2s"), ("sparse_to_dense", "s2d")) if getattr(lv, m)}
    assert dot.striped() == dead
    assert [(a, b) for a, b, _ in dot.flows if b in dead or a in dead] == []
    hidden = Dot(to_dot(g, hide_unused=True))
    assert hidden.striped() == set()
    assert set(hidden.nodes) == set(dot.nodes) - dead - {
        n for n in dot.nodes if "_rail_" in n and int(n[1:].split("_")[0]) not in g.active_blocks()
    }

    def live_flows(d: Dot) -> list[tuple[str, str]]:  # rail segments skip hidden rows, so leave them out
        return sorted((a, b) for a, b, _ in d.flows if "_rail_" not in b)

    assert live_flows(hidden) == live_flows(dot)  # hiding drops no live edge


def test_hide_unused_leaves_dead_parts_out(dot: Dot) -> None:
    hidden = Dot(to_dot(known(), hide_unused=True))
    assert "cluster_b3" not in hidden.clusters
    assert not [n for n in hidden.nodes if n.startswith("b3_")]
    assert hidden.spine() == [("in_dense", "b1_dense"), ("b1_dense", "b2_dense"), ("b2_dense", "b4_dense")]
    small = Dot(to_dot(load(CRITEO_SMALL), hide_unused=True))
    assert "b3_sparse" not in small.nodes and "b3_d2s" not in small.nodes
    assert small.clusters["cluster_b3"]["nodes"] == ["b3_rail_dense", "b3_rail_sparse", "b3_dense"]


def test_the_key_names_stripes_only_when_unused_parts_are_drawn() -> None:
    g = known()
    key = "blue: dense · red, dashed: sparse · violet: mergers"
    head = f'\tlabel="hand-made\\nspace nasrec-full · digest {g.digest()}\\n{key}'
    tail = '\\nL / R: inputs of Sigmoid-Gating, Sum · bold L=R: same source"'
    assert head + " · striped: unused" + tail in to_dot(g).splitlines()
    assert head + tail in to_dot(g, hide_unused=True).splitlines()


@pytest.mark.parametrize(("name", "g"), REAL, ids=[n for n, _ in REAL])
def test_raw_inputs_reach_blocks_only_through_their_rail(name: str, g: Genotype) -> None:
    """No edge from a raw input loops around the picture: each runs up its rail to a tap in the reader's row."""
    dot = Dot(to_dot(g))
    for kind in ("dense", "sparse"):
        taps = [n for n in dot.nodes if n.endswith(f"_rail_{kind}")]
        assert [b for a, b, _ in dot.flows if a == f"in_{kind}"] == taps[:1]
        for tap, above in zip(taps, [*taps[1:], None], strict=True):  # up the rail, or into the tap's row
            k = tap.split("_")[0]
            assert {b for a, b, _ in dot.flows if a == tap} - {above} <= {f"{k}_dense", f"{k}_sparse"}


def test_blocks_stack_upwards_in_order(dot: Dot) -> None:
    assert dot.spine() == [
        ("in_dense", "b1_dense"),
        ("b1_dense", "b2_dense"),
        ("b2_dense", "b3_dense"),
        ("b3_dense", "b4_dense"),
    ]
    assert "rankdir=BT" in to_dot(known())


def test_title_names_space_digest_and_name() -> None:
    g = known()
    title = re.search(r'^\tlabel="((?:[^"\\]|\\.)*)"', to_dot(g), re.M)
    assert title is not None
    assert title[1].startswith(f"hand-made\\nspace nasrec-full · digest {g.digest()}\\n")


def test_same_genotype_same_text_in_any_process() -> None:
    """Byte-identical DOT text, also across processes with different hash seeds (no set order leaks)."""
    code = "import sys; from nasrec.genotype import load; from nasrec.viz.render import to_dot;"
    code += f"sys.stdout.write(to_dot(load({str(KDD_FULL)!r})) + to_dot(load({str(CRITEO_SMALL)!r}), True))"
    texts = {
        subprocess.run(
            [sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, check=True
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert texts == {(to_dot(load(KDD_FULL)) + to_dot(load(CRITEO_SMALL), True)).encode()}
    assert to_dot(known()) == to_dot(known())
    assert "0x" not in to_dot(known())


def test_input_and_operator_order_do_not_change_the_text() -> None:
    a = known().to_dict()
    b = known().to_dict()
    b["blocks"][3]["inputs"]["sparse"] = [1, 2, 1]
    b["blocks"][1]["inputs"]["sparse"] = [0, 1]
    a["blocks"][0]["dense"]["ops"], b["blocks"][0]["dense"]["ops"] = ["fc", "dot"], ["dot", "fc"]
    a["blocks"][0]["inputs"]["sparse"] = [0]
    assert to_dot(Genotype.from_dict(a)) == to_dot(Genotype.from_dict(b))


def test_several_operators_in_one_branch() -> None:
    g = Genotype.from_dict(
        {
            "schema_version": 1,
            "blocks": [block(["fc", "sum"], 16, ["efc", "attention"], 16, dense=[0], sparse=[0], left=0, right=0)],
        }
    )
    dot = Dot(to_dot(g))
    assert dot.nodes["b1_dense"]["label"] == "FC +\\nSum · 16"
    assert dot.nodes["b1_sparse"]["label"] == "Attention +\\nEFC · 16 tokens"
    assert len(dot.flows_between("b1_rail_dense", "b1_dense")) == 2  # FC's concat and Sum's L=R pair


@pytest.fixture
def third_party_op():
    register_signature(OperatorSignature("cross_v2", "dense", frozenset({"dense"})))
    yield "cross_v2"
    OPERATORS.unregister("cross_v2")


def test_third_party_operator_is_labelled_by_its_name(third_party_op: str) -> None:
    g = Genotype.from_dict(
        {"schema_version": 1, "blocks": [block([third_party_op], 16, ["efc"], 16, dense=[0], sparse=[0])]}
    )
    assert op_label(third_party_op) == third_party_op
    assert Dot(to_dot(g)).nodes["b1_dense"]["label"] == "cross_v2 · 16"


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_flows_match_the_live_sources_of_sampled_genotypes(sampler: str) -> None:
    for seed in range(5):
        g = sample("nasrec-full", sampler, rng=seed)
        dot = Dot(to_dot(g))
        for k, (b, lv) in enumerate(zip(g.canonical().blocks, g.liveness(), strict=True), start=1):
            for branch in ("dense", "sparse"):
                into = [a for a, dst, _ in dot.flows if dst == f"b{k}_{branch}"]
                sources = {int(a[1:].split("_")[0]) for a in into if not a.startswith(f"b{k}_")}
                sources |= {0 for a in into if a.startswith(f"b{k}_rail_")}
                expected: set[int] = set()
                if getattr(lv, f"{branch}_ops"):
                    reads, ins = branch_reads(b, branch), b.inputs
                    expected |= set(ins.dense or ()) if "dense" in reads else set()
                    expected |= set(ins.sparse or ()) if "sparse" in reads else set()
                    expected |= {ins.left, ins.right} if "pair" in reads else set()  # type: ignore[arg-type]  # a pair operator has both
                assert sources == expected, (seed, k, branch)
            assert ("(unused)" in dot.clusters[f"cluster_b{k}"]["attrs"]["label"]) == (not lv.live)


@pytest.mark.parametrize("path", REF_CONFIGS, ids=lambda p: p.stem)
def test_reference_configs_render(path: Path, tmp_path: Path) -> None:
    if shutil.which("dot") is None:
        pytest.skip("graphviz `dot` is not installed")
    for hide in (False, True):
        out = render(load(path), tmp_path / f"{path.stem}.svg", hide_unused=hide)
        assert "<svg" in out.read_text()
