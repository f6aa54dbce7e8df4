"""Imports point down: every `nasrec` import, parsed from the source, goes to a lower layer (or stays in its
own package), and no modules import each other in a loop. The layers are the README's Architecture section."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "nasrec"

LAYERS: list[set[str]] = [
    {"nasrec", "errors"},  # the version and the error types: import nothing of nasrec
    {"registry", "state"},  # foundation
    {"genotype", "data"},  # leaves
    {"compiler"},
    {"evaluators"},
    {"records"},  # the run folder: layout and records, read by search and viz alike
    {"search", "viz"},
    {"cli"},
    {"__main__"},  # `python -m nasrec`
]
LEVEL = {part: i for i, layer in enumerate(LAYERS) for part in layer}


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _part(module: str) -> str:
    """`nasrec.search.runner` -> `search`; `nasrec` -> `nasrec`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "nasrec"


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """The nasrec modules `path` imports (all of them, or only those at module level, outside functions)."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "nasrec"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "nasrec":
            # `from nasrec.x import y`: y is the submodule nasrec.x.y when there is one, else a name in nasrec.x
            subs = {f"{node.module}.{a.name}" for a in node.names} & MODULES
            found |= subs if len(subs) == len(node.names) else subs | {node.module}
    return found


def _files() -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50
    return files


MODULES = {_module(f) for f in _files()}


def test_every_package_has_a_layer():
    parts = {_part(_module(f)) for f in _files()}
    assert parts <= set(LEVEL), f"add {sorted(parts - set(LEVEL))} to LAYERS (and the README)"


def _upward(path: Path, module: str) -> list[str]:
    """The imports of `path`, the source of `module`, that leave its package for one in its own layer or above."""
    here = _part(module)
    found = _imports(path, top_level_only=False)
    return sorted(t for t in found if _part(t) != here and LEVEL[_part(t)] >= LEVEL[here])


def test_imports_point_down():
    upward = [
        f"{path.relative_to(PACKAGE.parent)} imports {target}"
        for path in _files()
        for target in _upward(path, _module(path))
    ]
    assert upward == []


def test_the_checker_sees_an_upward_arrow(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("def f():\n    from nasrec.viz.report import write_report\nfrom nasrec import state\n")
    assert _imports(bad, top_level_only=False) == {"nasrec.viz.report", "nasrec.state"}
    assert _imports(bad, top_level_only=True) == {"nasrec.state"}
    # the rule test_imports_point_down applies: placed in a lower layer, or beside viz, the file imports upward
    assert _upward(bad, "nasrec.data.x") == ["nasrec.viz.report"]
    assert _upward(bad, "nasrec.search.x") == ["nasrec.viz.report"]  # same layer, another package
    assert _upward(bad, "nasrec.viz.x") == _upward(bad, "nasrec.cli.x") == []  # its own package; a higher layer
    assert _upward(bad, "nasrec.errors") == ["nasrec.state", "nasrec.viz.report"]


def test_no_import_loop_between_modules():
    graph = nx.DiGraph()
    for path in _files():
        for target in _imports(path, top_level_only=False):
            graph.add_edge(_module(path), target)
    cycles = [c for c in nx.simple_cycles(graph) if len(c) > 1]
    assert cycles == []
