"""Every bad data source gets one clear line at the place in the spec to fix: FILE:LINE:COL,
the section, and what is wrong; the independent problems of one spec all at once."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

import interpreter
from interpreter.cli import main
from interpreter.core.errors import DataError, SpecError

SPEC = """version: 1
name: ds
dtype: float64
inputs:
  X: {shape: [batch, 2]}
  y: {shape: [batch, 1]}
nodes:
  - {id: a, op: linear, inputs: [X], attrs: {out_features: 1}}
  - {id: loss, op: mse, inputs: [a, y]}
outputs: [a]
loss: loss
train:
  data: DATA
"""
CSV_INPUTS = "inputs: {X: [x1, x2], y: target}"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "good.csv").write_text("x1,x2,target\n1,2,3\n4,5,6\n0,1,1\n")
    (tmp_path / "bad.csv").write_text("x1,x2,target\n1,2,3\n4,oops,6\n")
    (tmp_path / "header_only.csv").write_text("x1,x2,target\n")
    (tmp_path / "notes.txt").write_text("1,2,3\n")
    np.savez(tmp_path / "three.npz", X=np.zeros((4, 3)), y=np.zeros((4, 1)))
    np.savez(tmp_path / "zero.npz", X=np.zeros((0, 2)), y=np.zeros((0, 1)))
    with open(tmp_path / "pickled.npy", "wb") as stream:
        pickle.dump({"X": [[1, 2]]}, stream)
    return tmp_path


def write_spec(folder: Path, data: str, extra: str = "", name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(SPEC.replace("DATA", data) + extra)
    return path


def validate(path: Path, capsys, *flags: str) -> tuple[int, list[str]]:
    code = main(["validate", str(path), *flags])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out.splitlines()


def at(path: Path, line: int, text: str) -> str:
    """FILE:LINE:COL of `text`'s first occurrence on (1-based) `line` of the spec."""
    column = path.read_text().splitlines()[line - 1].index(text) + 1
    return f"{path}:{line}:{column}"


@pytest.mark.parametrize("data, where, message", [
    ("{file: missing.csv}", "missing.csv",
     "train.data.file: no such file '{folder}/missing.csv'"),
    ("{file: bad.csv, " + CSV_INPUTS + "}", "bad.csv",
     "train.data.file: cannot read '{folder}/bad.csv': line 3, column 'x2': 'oops' is not a "
     "number (header: x1, x2, target)"),
    ("{file: header_only.csv, " + CSV_INPUTS + "}", "header_only.csv",
     "train.data.file: cannot read '{folder}/header_only.csv': has a header (x1, x2, target) "
     "but no rows"),
    ("{file: zero.npz}", "{file", "train.data: there are no rows of data"),
    ("{file: three.npz}", "three.npz",
     "train.data.file: 'three.npz': member 'X' has shape (4, 3), but input 'X' is declared "
     "[batch, 2]"),
    ("{file: good.csv, inputs: {X: [x1, x2, target], y: target}}", "{file",
     "train.data: input 'X' has shape (3, 3), but the spec declares (batch, 2)"),
    ("{file: notes.txt}", "notes.txt",
     "train.data.file: 'notes.txt': a data file is .npz, .npy or .csv, not '.txt'"),
    ("{file: pickled.npy}", "pickled.npy",
     "train.data.file: cannot read '{folder}/pickled.npy': the file is a Python pickle, which "
     "is never loaded (it could run code)"),
    ("{split: 0.2}", "0.2", "train.data.split: split holds rows out of the training data; use "
     "it in validation: or test:"),
    ("{dataset: irs}", "irs", "train.data.dataset: unknown dataset 'irs' (did you mean "
     "'iris'?); the bundled datasets are digits, iris"),
    ("{synthetic: moon}", "moon", "train.data.synthetic: unknown synthetic dataset 'moon' "
     "(did you mean 'moons'?); the generators are moons, spirals, sine"),
], ids=["missing", "csv_cell", "header_only", "zero_rows", "shape", "mapped_shape", "suffix", "pickle",
        "split_in_train", "dataset", "synthetic"])
def test_a_bad_source_is_one_located_line(folder, capsys, data, where, message):
    spec = write_spec(folder, data)
    code, lines = validate(spec, capsys)
    assert code == 1
    assert lines == [f"{at(spec, 13, where)}: " + message.format(folder=folder)]


def test_a_misspelt_column_is_located_at_its_mapping_with_a_suggestion(folder, capsys):
    spec = write_spec(folder, "{file: good.csv, inputs: {X: [x1, x2], y: targt}}")
    code, lines = validate(spec, capsys)
    assert code == 1
    [line] = lines
    assert line.startswith(f"{at(spec, 13, 'targt')}: train.data.inputs: ")
    assert line.endswith("there is no column 'targt' (did you mean 'target'?) "
                         "(the columns: x1, x2, target)")


def test_splits_that_leave_no_training_rows(folder, capsys):
    spec = write_spec(folder, "{file: good.csv, " + CSV_INPUTS + "}",
                      "validation: {split: 0.5}\ntest: {split: 0.5}\n")
    code, lines = validate(spec, capsys)
    assert code == 1
    assert lines == [f"{at(spec, 14, '0.5')}: validation.split: the splits hold out 1 of the "
                     "training rows, leaving none to train on"]


def test_validation_given_twice(folder, capsys):
    spec = write_spec(folder, "{file: good.csv, " + CSV_INPUTS + "}",
                      "  validation: {split: 0.3}\nvalidation: {split: 0.3}\n")
    code, lines = validate(spec, capsys)
    assert code == 1
    assert lines == [f"{at(spec, 14, '{split')}: 'validation' is given twice, at the top "
                     "level and inside train:; keep one"]


def test_every_section_s_problem_is_reported_at_once(folder, capsys):
    spec = write_spec(folder, "{file: missing.npz}",
                      "validation: {dataset: irs}\ntest: {file: notes.txt}\n")
    code, lines = validate(spec, capsys)
    assert code == 1
    assert [line.split(": ", 2)[1] for line in lines] == [
        "train.data.file", "validation.dataset", "test.file"]
    assert lines[0].startswith(at(spec, 13, "missing.npz"))
    assert lines[1].startswith(at(spec, 14, "irs"))
    assert lines[2].startswith(at(spec, 15, "notes.txt"))


# ----- --confine -------------------------------------------------------------------------


@pytest.fixture
def confined(tmp_path: Path) -> Path:
    inside, outside = tmp_path / "inside", tmp_path / "outside"
    inside.mkdir()
    outside.mkdir()
    for place in (inside, outside):
        (place / "good.csv").write_text("x1,x2,target\n1,2,3\n4,5,6\n")
    os.symlink(outside / "good.csv", inside / "link.csv")
    (inside / "sub").mkdir()
    return inside


@pytest.mark.parametrize("name, message", [
    ("ABSOLUTE", "'{path}' is an absolute path, which --confine {inside} does not allow"),
    ("../outside/good.csv", "'../outside/good.csv' leads outside {inside} (to {target}), "
     "which --confine does not allow"),
    ("sub/../../outside/good.csv", "'sub/../../outside/good.csv' leads outside {inside} (to "
     "{target}), which --confine does not allow"),
    ("link.csv", "'link.csv' leads outside {inside} (to {target}), which --confine does not "
     "allow"),
], ids=["absolute", "dotdot", "dotdot_via_subfolder", "symlink"])
def test_confine_refuses_paths_that_leave_the_folder(confined, capsys, name, message):
    outside = confined.parent / "outside" / "good.csv"
    written = str(outside) if name == "ABSOLUTE" else name
    spec = write_spec(confined, "{file: " + written + ", " + CSV_INPUTS + "}")
    code, lines = validate(spec, capsys, "--confine", str(confined))
    assert code == 1
    assert lines == [f"{at(spec, 13, written)}: train.data.file: " + message.format(
        path=outside, inside=confined, target=outside.resolve())]
    # The library's own switch refuses the same; without it the path is opened as written.
    with pytest.raises(SpecError, match="--confine"):
        interpreter.load(spec, confine=confined)
    assert interpreter.load(spec).data["X"].shape == (2, 2)


def test_confine_allows_paths_inside(confined, capsys):
    spec = write_spec(confined, "{file: sub/../good.csv, " + CSV_INPUTS + "}")
    code, lines = validate(spec, capsys, "--confine", str(confined))
    assert code == 0 and lines[-1].endswith(": ok (2 nodes, 3 parameters)")


# ----- run --data ------------------------------------------------------------------------


@pytest.mark.parametrize("file, message", [
    ("bad.csv", "{path}: cannot read '{path}': line 3, column 'x2': 'oops' is not a number "
     "(header: x1, x2, target)"),
    ("missing.npz", "{path}: no such file '{path}'"),
    ("three.npz", "{path}: member 'X' has shape (4, 3), but input 'X' is declared [batch, 2]"),
    ("notes.txt", "{path}: 'notes.txt' is not a data file: .npz, .npy or .csv"),
], ids=["csv_cell", "missing", "shape", "suffix"])
def test_run_data_errors_name_the_file(folder, capsys, file, message):
    spec = write_spec(folder, "{file: good.csv, " + CSV_INPUTS + "}")
    path = folder / file
    code = main(["run", str(spec), "--data", str(path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().startswith(f"{path}: ")
    if file != "notes.txt":
        assert err.strip() == message.format(path=path)
    else:
        assert "'.txt'" in err and ".npz, .npy or .csv" in err


def test_library_data_errors_are_data_errors(folder):
    spec = write_spec(folder, "{file: missing.csv}")
    with pytest.raises(SpecError) as caught:
        interpreter.load(spec)
    [problem] = caught.value.problems
    assert (problem.line, problem.column) == (13, SPEC.splitlines()[12].index("DATA") + 8)
    net = interpreter.load(spec, data=False)
    with pytest.raises(DataError, match="no such file"):
        net.train()


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"),
                    reason="needs FIFOs and /dev/zero")
@pytest.mark.parametrize("name, target, message", [
    ("pipe.csv", "fifo", "is a FIFO (named pipe), not a regular file"),
    ("pipe.npz", "fifo", "is a FIFO (named pipe), not a regular file"),
    ("zero.csv", "/dev/zero", "is a device, not a regular file"),
    ("zero.npy", "/dev/zero", "is a device, not a regular file"),
    ("loop.csv", "loop.csv", "Too many levels of symbolic links"),
], ids=["fifo_csv", "fifo_npz", "dev_zero_csv", "dev_zero_npy", "symlink_loop"])
def test_files_that_never_end_are_refused_at_once(folder, capsys, name, target, message):
    # Before, a FIFO hung validate forever and /dev/zero as a CSV read 4 GiB into memory.
    import signal

    if target == "fifo":
        os.mkfifo(folder / name)
    else:
        os.symlink(target, folder / name)

    def fail(*_):
        raise AssertionError("reading the file blocked")
    signal.signal(signal.SIGALRM, fail)
    signal.alarm(10)
    try:
        spec = write_spec(folder, "{file: " + name + "}")
        code, lines = validate(spec, capsys)
    finally:
        signal.alarm(0)
    assert code == 1
    assert lines == [f"{at(spec, 13, name)}: train.data.file: cannot read '{folder / name}': "
                     + message]


def test_a_csv_keeps_its_own_budget_below_the_data_budget(folder, monkeypatch):
    # The spec's data budget (4 GiB) must not lift the CSV reader's 128 MiB limit.
    from interpreter.read import csv_file

    seen = []
    real = csv_file._read_bytes
    monkeypatch.setattr(csv_file, "_read_bytes",
                        lambda path, max_bytes: seen.append(max_bytes) or real(path, max_bytes))
    interpreter.load(write_spec(folder, "{file: good.csv, " + CSV_INPUTS + "}"))
    assert seen == [csv_file.DEFAULT_MAX_BYTES]
