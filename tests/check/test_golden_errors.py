"""Bad specs under tests/data/bad and the exact lines `validate` must print for them."""
from __future__ import annotations

from pathlib import Path

import pytest

from interpreter.cli import main

from ..conftest import DATA, ROOT

BAD = sorted(p for p in (DATA / "bad").iterdir() if p.suffix in (".yaml", ".json"))
GOOD = sorted(p for p in (DATA / "good").iterdir() if p.suffix in (".yaml", ".json"))


def run_validate(path: Path, capsys, monkeypatch) -> tuple[int, list[str], str]:
    monkeypatch.chdir(ROOT)
    code = main(["validate", str(path.relative_to(ROOT))])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_bad_spec_prints_exactly_the_expected_lines(path, capsys, monkeypatch):
    code, lines, err = run_validate(path, capsys, monkeypatch)
    expected = Path(f"{path}.expected").read_text().splitlines()
    assert lines == expected
    assert code == 1
    assert "Traceback" not in err
    assert err.strip().endswith("error)") or err.strip().endswith("errors)")


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_good_spec_with_warnings(path, capsys, monkeypatch):
    code, lines, err = run_validate(path, capsys, monkeypatch)
    assert lines == Path(f"{path}.expected").read_text().splitlines()
    assert code == 0


def test_every_problem_line_is_located(capsys, monkeypatch):
    """file:line:col on every line, for every golden file."""
    for path in BAD:
        _, lines, _ = run_validate(path, capsys, monkeypatch)
        for line in lines:
            file, lineno, column, _ = line.split(":", 3)
            assert file == str(path.relative_to(ROOT))
            assert int(lineno) >= 1 and int(column) >= 1


def test_python_tag_runs_nothing(capsys, monkeypatch, tmp_path):
    marker = Path("/tmp/interpreter-pwned")
    if marker.exists():
        marker.unlink()
    run_validate(DATA / "bad" / "python_tag.yaml", capsys, monkeypatch)
    assert not marker.exists()


def test_expected_files_have_no_strays():
    for expected in (DATA / "bad").glob("*.expected"):
        assert Path(str(expected)[: -len(".expected")]).exists(), expected
