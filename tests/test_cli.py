"""The command line: output, exit codes, --json, and errors without tracebacks."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from interpreter.cli import main

from .conftest import DATA, ROOT
from .train.specs import diverging

XOR = str(ROOT / "specs" / "xor.yaml")



def run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def test_run_prints_progress_final_loss_and_outputs_beside_targets(capsys):
    code, out, _ = run(["run", XOR], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("xor (") and "13 parameters, float64" in lines[0]
    assert any(line.startswith("epoch 1000/1000  loss") for line in lines)
    final = next(line for line in lines if line.startswith("final loss"))
    assert float(final.split()[2]) < 1e-4
    header = next(i for i, line in enumerate(lines) if "outputs on the training data" in line)
    assert lines[header + 1].split() == ["row", "a2", "y"]
    assert len(lines) == header + 6


def test_run_overrides_and_json_summary(tmp_path, capsys):
    summary = tmp_path / "out.json"
    code, out, _ = run(["run", XOR, "--epochs", "7", "--lr", "0.01", "--seed", "3",
                        "--json", str(summary), "--quiet"], capsys)
    assert code == 0
    data = json.loads(summary.read_text())
    assert data["status"] == "ok" and data["epochs"] == 7 and data["seed"] == 3
    assert len(data["loss_history"]) == 7
    assert data["final_loss"] == pytest.approx(float(out.split()[2]), rel=1e-5)
    assert set(data["outputs"]) == {"a2"} and set(data["targets"]) == {"y"}
    assert len(data["outputs"]["a2"]) == 4
    assert list(tmp_path.iterdir()) == [summary]  # no temporary files left behind


@pytest.mark.parametrize("argv", [
    ["run"], ["run", XOR, "--epochs", "-1"], ["run", XOR, "--lr", "0"],
    ["run", XOR, "--lr", "nan"], ["run", XOR, "--bogus"], ["frobnicate"], [],
])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_missing_file_exits_1(capsys):
    code, _, err = run(["run", "no/such/spec.yaml"], capsys)
    assert code == 1 and err.strip() == "no/such/spec.yaml: no such file"


def test_invalid_spec_exits_1_with_located_lines(capsys):
    code, _, err = run(["run", str(DATA / "bad" / "cycle.yaml")], capsys)
    assert code == 1 and "cycle.yaml:6:30: node 'a' (add): cycle: a -> b -> c -> a" in err


def test_json_into_a_missing_folder_fails_before_training(tmp_path, capsys):
    code, out, err = run(["run", XOR, "--json", str(tmp_path / "nope" / "x.json")], capsys)
    assert code == 1 and "does not exist" in err and out == ""


def test_json_does_not_clobber_on_failure(tmp_path, capsys):
    spec = tmp_path / "diverging.yaml"
    spec.write_text(diverging())
    code, _, err = run(["run", str(spec), "--json", str(tmp_path / "s.json")], capsys)
    assert code == 3
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["status"] == "diverged" and summary["error"]


def test_divergence_exits_3_naming_the_place(tmp_path, capsys):
    spec = tmp_path / "diverging.yaml"
    spec.write_text(diverging())
    code, _, err = run(["run", str(spec)], capsys)
    assert code == 3
    assert err.startswith(f"{spec}:8:5: node 'loss' (mse): output became non-finite in forward "
                          "(1 inf among 1 value) although its inputs and parameters are finite, "
                          "at epoch ")
    assert "lower the learning rate (now 1e+06)" in err
    assert "RuntimeWarning" not in err


def test_an_overflowing_update_is_blamed_on_its_parameter(tmp_path, capsys):
    spec = tmp_path / "diverging.yaml"
    spec.write_text(diverging("1.0e+300"))
    code, _, err = run(["run", str(spec)], capsys)
    assert code == 3
    assert err.startswith(f"{spec}:7:5: node 'a' (linear): parameter 'a.W' is not finite (")
    assert "): the update before epoch 2, step 1 made it so (the epoch before ended at loss" in err
    assert "RuntimeWarning" not in err


def test_validate_many_files(capsys):
    code, out, err = run(["validate", XOR, str(DATA / "bad" / "ids.yaml")], capsys)
    assert code == 1
    assert f"{XOR}: ok (4 nodes, 13 parameters)" in out
    assert "duplicate node id" in out and "ids.yaml: invalid (2 errors)" in err


def test_a_spec_without_train_cannot_run(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(diverging().split("train:")[0])
    code, _, err = run(["run", str(spec)], capsys)
    assert code == 1 and "has no 'train' section" in err


def test_python_dash_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "interpreter", "validate", XOR],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and "ok (4 nodes" in result.stdout
    result = subprocess.run([sys.executable, "-m", "interpreter", "--version"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and result.stdout.strip()


def test_committed_schema_is_up_to_date(capsys):
    from interpreter.cli import schema_text

    assert (ROOT / "schema" / "spec.schema.json").read_text() == schema_text(), (
        "regenerate with: python -m interpreter schema -o schema/spec.schema.json")


def test_specs_validate_against_the_schema_keys():
    """Every top-level key the specs use is one the schema names."""
    schema = json.loads((ROOT / "schema" / "spec.schema.json").read_text())
    for path in (ROOT / "specs").glob("*.json"):
        assert set(json.loads(path.read_text())) <= set(schema["properties"])


def test_save_then_predict_reproduces_the_trained_outputs(tmp_path, capsys):
    weights, outputs = tmp_path / "w.npz", tmp_path / "o.json"
    code, _, _ = run(["run", XOR, "--save", str(weights), "--json", str(tmp_path / "s.json"),
                      "-q"], capsys)
    assert code == 0
    code, _, _ = run(["predict", XOR, "--weights", str(weights), "--json", str(outputs)],
                     capsys)
    assert code == 0
    trained = json.loads((tmp_path / "s.json").read_text())["outputs"]
    assert json.loads(outputs.read_text())["outputs"] == trained


def test_run_can_start_from_saved_weights(tmp_path, capsys):
    weights = tmp_path / "w.npz"
    run(["run", XOR, "--save", str(weights), "-q"], capsys)
    code, out, _ = run(["run", XOR, "--load", str(weights), "--epochs", "0", "-q"], capsys)
    assert code == 0 and float(out.split()[2]) < 1e-4


def test_predict_with_mismatched_weights(tmp_path, capsys):
    import numpy as np

    np.savez(tmp_path / "w.npz", **{"a1.W": np.zeros((2, 3)), "a9.W": np.zeros(1)})
    code, _, err = run(["predict", XOR, "--weights", str(tmp_path / "w.npz")], capsys)
    assert code == 1
    assert f"{tmp_path / 'w.npz'}: holds 'a9.W', which this network does not have" in err
    assert "has no 'a2.b'" in err


def test_docs_ops_md_is_up_to_date():
    from interpreter.ops.docs import ops_markdown

    assert (ROOT / "docs" / "ops.md").read_text() == ops_markdown(), (
        "regenerate with: python -m interpreter ops --markdown > docs/ops.md")


def test_ops_command_lists_every_op(capsys):
    from interpreter.ops.registry import all_ops

    code, out, _ = run(["ops"], capsys)
    assert code == 0 and len(out.splitlines()) == len(all_ops()) + 1  # and a header


HOSTILE_FILES = {
    "corrupt.npz": b"PK\x03\x04" + b"\x00" * 60,
    "text.npz": b"X,y\n1,2\n",
    "pickle.npz": b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94.",
    "empty.npz": b"",
}


@pytest.mark.parametrize("name", [*HOSTILE_FILES, "missing.npz", "a_directory", "array.npy"])
@pytest.mark.parametrize("flag", ["--data", "--weights"])
def test_hostile_npz_files_are_invalid_input_either_way(tmp_path, capsys, name, flag):
    """One reader for every .npz: the same file gives the same clear error (exit 1),
    whether it is given as data or as weights."""
    import numpy as np

    path = tmp_path / name
    if name in HOSTILE_FILES:
        path.write_bytes(HOSTILE_FILES[name])
    elif name == "a_directory":
        path.mkdir()
    elif name == "array.npy":
        np.save(path, np.ones(3))
    good = tmp_path / "w.npz"
    assert main(["run", XOR, "--epochs", "1", "--quiet", "--save", str(good)]) == 0
    capsys.readouterr()
    other = "--weights" if flag == "--data" else "--data"
    argv = ["predict", XOR, flag, str(path)] + ([other, str(good)] if other == "--weights"
                                                else [])
    code, _, err = run(argv, capsys)
    assert code == 1, err
    assert str(path) in err and "Traceback" not in err
    # As data, an .npy file is one array: it feeds predict's one input, X, if it fits.
    npy = "input 'X' has shape (3,)" if flag == "--data" else "an .npy file"
    assert {"corrupt.npz": "not a readable zip archive", "text.npz": "not an .npz archive",
            "pickle.npz": "a Python pickle, which is never loaded",
            "empty.npz": "the file is empty", "missing.npz": "no such file",
            "a_directory": "is a directory", "array.npy": npy}[name] in err


def test_run_refuses_to_start_from_non_finite_weights(tmp_path, capsys):
    # Before, this was exit 3, "the update before epoch 1, step 1 made it so".
    import numpy as np

    weights = tmp_path / "w.npz"
    run(["run", XOR, "--save", str(weights), "-q", "--epochs", "1"], capsys)
    arrays = dict(np.load(weights))
    arrays["a1.W"][0, 0] = np.nan
    np.savez(weights, **arrays)
    code, _, err = run(["run", XOR, "--load", str(weights), "-q"], capsys)
    assert code == 1
    assert err.strip() == (f"{weights}: holds values that are not finite (NaN or infinite) in "
                           "'a1.W'; a run cannot start from them")
