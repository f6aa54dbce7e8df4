"""Checkpoint files that cannot be used: one short reason naming the file, never torch's traceback or advice."""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from nasrec.errors import UsageError
from nasrec.evaluators import SupernetTrainingConfig, load_supernet
from nasrec.evaluators.checkpoint import load_checkpoint, save_checkpoint

WHOLE = {"model": {"w": torch.ones(2)}, "step": 3}


def _zip_without_torch(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.txt", "hi")


def _cut(path: Path) -> None:
    torch.save({"model": {"w": torch.zeros(1000)}}, path)
    path.write_bytes(path.read_bytes()[:100])


def _legacy_cut(path: Path) -> None:
    torch.save(WHOLE, path, _use_new_zipfile_serialization=False)
    path.write_bytes(path.read_bytes()[:50])


WRITERS = {
    "a tensor": (lambda p: torch.save(torch.zeros(3), p), "it holds a Tensor, not a dict of weights"),
    "a list": (lambda p: torch.save([1, 2], p), "it holds a list, not a dict of weights"),
    "model an int": (lambda p: torch.save({"model": 5}, p), "its 'model' holds an int, not a dict of weights"),
    "model of ints": (
        lambda p: torch.save({"model": {"w": 5}}, p),
        "its 'model' entry 'w' holds an int, not a tensor",
    ),
    "JSON": (lambda p: p.write_text('{"a": 1}'), "not a torch.save file"),
    "ONNX": (lambda p: p.write_bytes(b"\x08\x07\x12\x07pytorch\x1a\x032.0"), "not a torch.save file"),
    "a pickle": (lambda p: p.write_bytes(pickle.dumps({"a": 1}, protocol=4)), "not a torch.save file"),
    "a zip": (_zip_without_torch, "not a torch.save file"),
    "empty": (lambda p: p.write_bytes(b""), "the file is empty"),
    "two bytes": (lambda p: p.write_bytes(b"PK"), "the file is truncated"),
    "cut": (_cut, "the file is truncated or corrupt"),
    "legacy cut": (_legacy_cut, "the file is truncated"),
    "numpy": (
        lambda p: torch.save({"w": np.zeros(3)}, p),
        "it holds a pickled numpy._core.multiarray._reconstruct, not only tensors and plain values "
        "(not loaded without pickle)",
    ),
    "a module": (
        lambda p: torch.save(torch.nn.Linear(2, 2), p),
        "it holds a pickled torch.nn.modules.linear.Linear, not only tensors and plain values "
        "(not loaded without pickle)",
    ),
}


@pytest.mark.parametrize("kind", list(WRITERS))
def test_an_unusable_checkpoint_is_one_short_reason_naming_the_file(tmp_path, kind, recwarn):
    write, reason = WRITERS[kind]
    path = tmp_path / "c.pt"
    write(path)
    with pytest.raises(UsageError) as caught:
        load_checkpoint(path)
    assert str(caught.value) == f"checkpoint {path} cannot be read as weights: {reason}"
    assert [str(w.message) for w in recwarn if "pickle protocol" in str(w.message)] == []


def test_a_folder_or_a_missing_file_is_named_as_such(tmp_path):
    with pytest.raises(UsageError, match=rf"^checkpoint {re.escape(str(tmp_path))} cannot be read: Is a directory$"):
        load_checkpoint(tmp_path)
    with pytest.raises(UsageError, match=r"^checkpoint .*nope\.pt does not exist$"):
        load_checkpoint(tmp_path / "nope.pt")


def test_whole_checkpoints_load_in_either_torch_format(tmp_path):
    assert load_checkpoint(save_checkpoint(WHOLE, tmp_path / "new.pt"))["step"] == 3
    torch.save(WHOLE, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    assert torch.equal(load_checkpoint(tmp_path / "legacy.pt")["model"]["w"], torch.ones(2))
    assert load_checkpoint(save_checkpoint({"w": torch.ones(1)}, tmp_path / "plain.pt"))["w"] == 1  # a state dict


@pytest.fixture
def supernet_folder(tmp_path, tiny_space_file) -> tuple[Path, dict[str, torch.Tensor]]:
    """A train-supernet folder's config.json (nothing trained) and the weights its supernet has."""
    config = SupernetTrainingConfig(data="sample:criteo", space=tiny_space_file, cap=5000)
    (tmp_path / "config.json").write_text(config.model_dump_json())
    return tmp_path / "checkpoint.pt", config.build_supernet().state_dict()


def _refused(checkpoint: Path, reason: str) -> str:
    return (
        f"supernet {checkpoint}: not the checkpoint of the supernet its config.json describes ({reason}); "
        "give the checkpoint.pt of a `nasrec train-supernet` folder"
    )


def test_a_supernet_checkpoint_of_other_weights_says_which_do_not_fit(supernet_folder):
    checkpoint, weights = supernet_folder
    name = next(iter(weights))
    cases = {
        "a tensor": (
            torch.zeros(3),
            f"checkpoint {checkpoint} cannot be read as weights: it holds a Tensor, not a dict of weights",
        ),
        "no model": ({"step": 3}, _refused(checkpoint, "it holds no model weights")),
        "one missing": (
            {"model": {k: v for k, v in weights.items() if k != name}},
            _refused(checkpoint, f"its weights do not fit: 1 parameter missing (first {name!r})"),
        ),
        "unknown": (
            {"model": {**weights, "x": torch.ones(1), "y": torch.ones(1)}},
            _refused(checkpoint, "its weights do not fit: 2 unknown parameters (first 'x')"),
        ),
        "a shape": (
            {"model": {**weights, name: torch.zeros(2, 3)}},
            _refused(
                checkpoint,
                f"its weights do not fit: {name!r} is [2, 3] where the supernet has {list(weights[name].shape)}",
            ),
        ),
        "a type": (
            {"model": {**weights, name: torch.zeros_like(weights[name], dtype=torch.int64)}},
            _refused(
                checkpoint, f"its weights do not fit: {name!r} is torch.int64 where the supernet has torch.float32"
            ),
        ),
    }
    for kind, (state, message) in cases.items():
        torch.save(state, checkpoint)
        with pytest.raises(UsageError) as caught:
            load_supernet(checkpoint)
        assert str(caught.value) == message, kind
    torch.save({"model": weights}, checkpoint)
    assert load_supernet(checkpoint).state_dict().keys() == weights.keys()
