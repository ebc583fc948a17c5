"""The package's layout is its pipeline: no import runs back up a layer, none forms a cycle,
and no module imports another's private names.

    core (errors, dims, field types, literals, names)
      read/ (files, positions, limits)     ops/ (registry and ops)
        datasets/ (bundled and synthetic data)
        check/ (document, validation, graph, inference, data)
          run/ (plan, codegen, network)
            train/ (loop, optimizers, schedules, clipping, metrics, evaluation, early
                    stopping, progress, data, weights, checkpoint, resume)
              api, cli/, onnx/, drawing/, gradcheck (the top: join every layer)
"""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "interpreter"
LAYERS = {"core": 0, "read": 1, "ops": 1, "datasets": 2, "check": 3, "run": 4, "train": 5}
TOP = 6


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> tuple[int, str]:
    parts = module.split(".")
    group = parts[1] if len(parts) > 1 else ""
    return LAYERS.get(group, TOP), group


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import, lazy ones too."""
    tree = ast.parse(path.read_text(), str(path))
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [alias.name for alias in node.names]
            if target.startswith("interpreter"):
                # `from . import codegen` imports a module, not a name.
                for name in names:
                    if (PACKAGE.parent / (target + "." + name).replace(".", "/")).with_suffix(
                            ".py").exists():
                        found.append((f"{target}.{name}", [], node.lineno))
                        names = [n for n in names if n != name]
                found.append((target, names, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names
                      if alias.name.startswith("interpreter")]
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_import_runs_back_up_a_layer(path):
    here = module_name(path)
    rank, group = layer(here)
    for target, _, line in imports(path):
        target_rank, target_group = layer(target)
        if target_group == group:
            continue
        assert target_rank < rank or (rank == TOP and target_rank <= TOP), (
            f"{here}:{line} imports {target}, a layer above or beside it")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_module_imports_another_s_private_names(path):
    for target, names, line in imports(path):
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        assert not private, f"{module_name(path)}:{line} imports {private} from {target}"


def test_no_import_cycles():
    graph = nx.DiGraph()
    for path in MODULES:
        here = module_name(path)
        for target, _, _ in imports(path):
            if target != here and target.startswith("interpreter."):
                graph.add_edge(here, target)
    # A package's __init__ importing its own modules is not a cycle of dependencies.
    cycles = [c for c in nx.simple_cycles(graph)
              if not any(module.count(".") == 1 and module != "interpreter.api"
                         and (PACKAGE / module.split(".")[1] / "__init__.py").exists()
                         for module in c)]
    assert not cycles, cycles


def test_every_subpackage_is_a_layer():
    """Every folder is a layer, except those at the top, which join the layers: the
    command line, ONNX export and import, and the graph drawing."""
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert folders == set(LAYERS) | {"cli", "onnx", "drawing"}
