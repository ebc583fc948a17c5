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
