from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.y*ml")) + sorted((ROOT / "specs").glob("*.json"))
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def root() -> Path:
    return ROOT


def pytest_terminal_summary(terminalreporter):
    from .torch_reference import RESULTS

    if RESULTS:
        worst = max(RESULTS.values())
        name = max(RESULTS, key=RESULTS.get)
        terminalreporter.write_line(
            f"torch reference: {len(RESULTS)} ops compared with PyTorch, largest relative "
            f"error {worst:.3g} ({name})")

    from .test_onnx_backend_nodes import OPSETS, RESULTS as NODE_CASES

    if NODE_CASES:
        total = {k: sum(r[k] for r in NODE_CASES.values()) for k in ("passed", "refused",
                                                                      "failed")}
        by_op = ", ".join(f"{op} {r['passed']}/{sum(r.values())}"
                          for op, r in sorted(NODE_CASES.items()))
        terminalreporter.write_line(
            f"onnx backend node cases: {total['passed']} passed, {total['refused']} refused "
            f"by import (xfail), {total['failed']} failed; opsets {min(OPSETS)}-"
            f"{max(OPSETS)}; by op (passed/run): {by_op}")
