"""The docs' own examples run as written."""
from __future__ import annotations

import re

from interpreter.ops.registry import unregister_op

from .conftest import ROOT


def python_blocks(path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_the_custom_op_example_in_spec_md_runs():
    block = next(b for b in python_blocks(ROOT / "docs" / "spec.md") if "register_op" in b)
    try:
        exec(compile(block, "docs/spec.md", "exec"), {})  # noqa: S102 - our own docs
    finally:
        unregister_op("square")


def test_the_library_example_in_the_readme_runs():
    import numpy as np

    block = next(b for b in python_blocks(ROOT / "README.md") if "net.backward()" in b)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([[0], [-1], [-1], [0]], dtype=float)
    namespace = {"X": X, "y": y}
    exec(compile(block.replace('"specs/', f'"{ROOT}/specs/'), "README.md", "exec"),  # noqa: S102
         namespace)
    assert namespace["history"].final_loss < 1e-6
