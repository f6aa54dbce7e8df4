"""`nasrec export --weights`: what the file holds decides (a supernet checkpoint, or standalone weights, whatever
lies beside it); standalone weights record their architecture, and another's are refused; an unfinished
supernet is exported with a note."""

from __future__ import annotations

import json

import pytest
import torch

from nasrec.cli.common import features_of
from nasrec.cli.export import model_for
from nasrec.compiler import compile_standalone
from nasrec.compiler.standalone import BUILD_ENTRY, DIGEST_ENTRY, recorded_build, save_weights
from nasrec.evaluators import SupernetTrainingConfig, train_supernet
from nasrec.evaluators.checkpoint import load_checkpoint
from nasrec.genotype import Genotype, sample
from tests.cli.invoke import nasrec, one_error
from tests.spaces import TINY


@pytest.fixture()
def pair(tmp_path) -> tuple[Genotype, Genotype, str, str]:
    """Two genotypes whose standalone models have the same parameters and shapes but compute different things
    (block 3's `left` input: block 0's output or block 2's), and their files."""
    g = sample(TINY, rng=0)
    raw = json.loads(g.to_json())
    raw["blocks"][2]["inputs"]["left"] = 2
    other = Genotype.from_dict(raw)
    assert other.active_digest() != g.active_digest()
    (tmp_path / "g.json").write_text(g.to_json())
    (tmp_path / "other.json").write_text(other.to_json())
    return g, other, str(tmp_path / "g.json"), str(tmp_path / "other.json")


def model(g: Genotype):
    torch.manual_seed(1)
    return compile_standalone(g, features_of("sample:criteo", 100))


def shapes(m) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in m.state_dict().items()}


def same_weights(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_saved_weights_record_the_active_digest_and_load_without_pickle(tmp_path, pair):
    g, *_ = pair
    path = save_weights(model(g), tmp_path / "w.pt")
    state = torch.load(path, weights_only=True)
    assert state[DIGEST_ENTRY] == g.active_digest() and state["model"].keys() == model(g).state_dict().keys()
    assert same_weights(model_for(g, path, "sample:criteo", 100, None), model(g))


def test_saved_weights_record_their_build_so_export_needs_no_data(tmp_path, pair, tiny_space_file):
    g, _, g_file, _ = pair
    torch.manual_seed(1)
    trained = compile_standalone(g, features_of("sample:criteo", 100), layernorm=False)
    path = save_weights(trained, tmp_path / "w.pt")
    assert torch.load(path, weights_only=True)[BUILD_ENTRY] == {
        "features": json.loads(trained.features.model_dump_json()),
        "layernorm": False,
        "norm_raw_fm": False,
        "inputs": None,  # no training data named: no input contract
    }
    build = recorded_build(torch.load(path, weights_only=True))
    assert build is not None and (build.features, build.layernorm) == (features_of("sample:criteo", 100), False)
    exported = model_for(g, path, None, None, None)
    assert same_weights(exported, trained) and not exported.ctx.layernorm
    batch = (torch.randn(5, 13), torch.randint(0, 50, (5, 26)))
    assert torch.equal(exported.eval()(*batch), trained.eval()(*batch))
    assert same_weights(model_for(g, path, "sample:criteo", 100, False), trained)  # flags that agree are fine
    out = str(tmp_path / "m.pt2")
    result = nasrec("export", g_file, "--space", tiny_space_file, "--weights", str(path), "-o", out)
    assert (result.exit_code, result.stderr) == (0, ""), result.output
    out = str(tmp_path / "n.pt2")  # m.pt2 exists now: -o would refuse it first
    w, common = str(path), (g_file, "--space", tiny_space_file, "--weights", str(path), "-o", out)
    one_error(
        nasrec("export", *common, "--cap", "0"),
        f"--cap 0: the weights {w} were trained with 100 rows; leave --cap out",
    )
    one_error(
        nasrec("export", *common, "--data", "sample:avazu"),
        f"--data sample:avazu: not the features the weights {w} were trained on; leave --data out",
    )
    one_error(
        nasrec("export", *common, "--layernorm"),
        f"--layernorm: the weights {w} are of a model without LayerNorm; leave the flag out",
    )


def test_a_build_that_cannot_be_read_or_does_not_fit_is_one_error(tmp_path, pair, tiny_space_file):
    g, _, g_file, _ = pair
    state = torch.load(save_weights(model(g), tmp_path / "w.pt"), weights_only=True)
    common = (g_file, "--space", tiny_space_file, "-o", str(tmp_path / "m.pt2"))
    damaged = str(tmp_path / "damaged.pt")
    torch.save({**state, BUILD_ENTRY: {"layernorm": True, "norm_raw_fm": False}}, damaged)  # no features
    one_error(
        nasrec("export", *common, "--weights", damaged),
        f"--weights {damaged}: its recorded build cannot be read (no 'features'); was it written by another nasrec "
        "version?",
    )
    misfit = str(tmp_path / "misfit.pt")  # a build with LayerNorm, weights without: no flag can mend it
    torch.save({**state, "model": compile_standalone(g, model(g).features, layernorm=False).state_dict()}, misfit)
    result = nasrec("export", *common, "--weights", misfit)
    assert result.exit_code == 1 and result.stderr.startswith(
        f"error: --weights {misfit}: its weights do not fit the build it records ("
    ), result.output
    older = str(tmp_path / "older.pt")  # what nasrec wrote before it recorded the build: the digest alone
    torch.save({"model": state["model"], DIGEST_ENTRY: state[DIGEST_ENTRY]}, older)
    one_error(
        nasrec("export", *common, "--weights", older),
        f"--data is needed (the features): --weights {older} holds a standalone model's weights that record no "
        "features",
    )
    assert same_weights(model_for(g, tmp_path / "older.pt", "sample:criteo", 100, None), model(g))


def test_weights_of_another_architecture_with_the_same_shapes_are_refused(tmp_path, pair, tiny_space_file):
    g, other, _, other_file = pair
    assert shapes(model(g)) == shapes(model(other))  # a plain state dict of one loads into the other
    w = str(save_weights(model(g), tmp_path / "w.pt"))
    common = ("--space", tiny_space_file, "--data", "sample:criteo", "--cap", "100", "-o", str(tmp_path / "m.onnx"))
    result = nasrec("export", other_file, "--weights", w, *common)
    one_error(
        result,
        f"--weights {w}: weights of another architecture (active digest {g.active_digest()}) than {other_file}'s "
        f"({other.active_digest()}); export them with the genotype they were saved for, or give {other_file}'s "
        "own weights",
    )


def test_weights_written_before_the_digest_still_load(tmp_path, pair):
    g, *_ = pair
    torch.save(model(g).state_dict(), tmp_path / "flat.pt")
    torch.save({"model": model(g).state_dict(), "step": 5}, tmp_path / "trained.pt")  # a training's checkpoint
    for name in ("flat.pt", "trained.pt"):
        assert same_weights(model_for(g, tmp_path / name, "sample:criteo", 100, None), model(g)), name


def supernet_folder(path, space: str) -> SupernetTrainingConfig:
    config = SupernetTrainingConfig(data="sample:criteo", space=space, cap=100)
    path.mkdir(exist_ok=True)
    (path / "config.json").write_text(config.model_dump_json())
    return config


def test_standalone_weights_beside_a_supernets_config_are_standalone(tmp_path, pair, tiny_space_file):
    g, _, g_file, _ = pair
    config = supernet_folder(tmp_path / "sn", tiny_space_file)
    saved = save_weights(model(g), tmp_path / "sn" / "model.pt")
    torch.save(model(g).state_dict(), tmp_path / "sn" / "flat.pt")
    for path in (saved, tmp_path / "sn" / "flat.pt"):
        assert same_weights(model_for(g, path, "sample:criteo", 100, None), model(g)), path
    flat = str(tmp_path / "sn" / "flat.pt")
    one_error(
        nasrec("export", g_file, "--space", tiny_space_file, "--weights", flat, "-o", str(tmp_path / "m.onnx")),
        f"--data is needed (the features): --weights {flat} holds a standalone model's weights that record no features",
    )
    torch.save({"model": config.build_supernet().state_dict()}, tmp_path / "sn" / "checkpoint.pt")
    inherited = model_for(g, tmp_path / "sn" / "checkpoint.pt", None, None, None)  # a checkpoint: the supernet's
    assert shapes(inherited) == shapes(model(g)) and not same_weights(inherited, model(g))


def test_an_unfinished_supernet_is_exported_with_a_note(tmp_path, pair, tiny_space_file):
    g_file = pair[2]
    config = supernet_folder(tmp_path / "sn", tiny_space_file)
    train_supernet(config, tmp_path / "sn", stop_after=12)  # 23 steps in all: killed after 12
    ckpt = str(tmp_path / "sn" / "checkpoint.pt")
    assert load_checkpoint(ckpt)["step"] == 12
    result = nasrec("export", g_file, "--space", tiny_space_file, "--weights", ckpt, "-o", str(tmp_path / "m.pt2"))
    assert (result.exit_code, result.stderr) == (
        0,
        f"note: {ckpt} is an unfinished supernet (step 12 of 23); its weights are exported as they are\n",
    ), result.output
    assert result.stdout.startswith(f"wrote {tmp_path / 'm.pt2'}: ")
    train_supernet(config, tmp_path / "sn")  # resumed to its end
    result = nasrec("export", g_file, "--space", tiny_space_file, "--weights", ckpt, "-o", str(tmp_path / "n.pt2"))
    assert (result.exit_code, result.stderr) == (0, ""), result.output


def test_a_supernet_trained_on_centred_logits_is_exported_with_a_note_on_calibration(tmp_path, pair, tiny_space_file):
    """Its subnets' logits carry an offset no training set (the trainer centred them per batch): export says so."""
    g_file = pair[2]
    config = SupernetTrainingConfig(data="sample:criteo", space=tiny_space_file, cap=100, center_logits=True)
    (tmp_path / "sn").mkdir()
    (tmp_path / "sn" / "config.json").write_text(config.model_dump_json())
    train_supernet(config, tmp_path / "sn")
    ckpt = str(tmp_path / "sn" / "checkpoint.pt")
    result = nasrec("export", g_file, "--space", tiny_space_file, "--weights", ckpt, "-o", str(tmp_path / "m.pt2"))
    assert (result.exit_code, result.stderr) == (
        0,
        f"note: {ckpt} was trained on batch-centred logits (center_logits): the model ranks rows as its subnet "
        "does, but its logits carry an offset no training set, so its click probabilities are not calibrated; "
        f"fine-tune it first (nasrec evaluate {g_file} --data sample:criteo --inherit {ckpt} --save-weights FILE) "
        "and export FILE\n",
    ), result.output
    assert result.stdout.startswith(f"wrote {tmp_path / 'm.pt2'}: ")
    tuned = str(tmp_path / "tuned.pt")  # as the note says (the space file named, as for export)
    args = ("--data", "sample:criteo", "--inherit", ckpt, "--save-weights", tuned, "--epochs", "0.2")
    assert nasrec("evaluate", g_file, "--space", tiny_space_file, *args).exit_code == 0
    result = nasrec("export", g_file, "--space", tiny_space_file, "--weights", tuned, "-o", str(tmp_path / "t.pt2"))
    assert (result.exit_code, result.stderr) == (0, ""), result.output
