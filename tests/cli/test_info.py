"""`ops`, `ops NAME` and `validate --json`: their real output, and clear failures."""
from __future__ import annotations

import io
import json

import pytest

from interpreter.cli import main
from interpreter.cli.info import op_text
from interpreter.cli.tables import Style, table
from interpreter.ops.registry import all_ops, get_op

from ..conftest import DATA, ROOT, SPECS

LINEAR = """\
linear: Affine map over the last axis, in the founding note's layout.

rules (forward, gradient, shape)
  out = X W + b            W: (in_features, out_features), b: (1, out_features)
  dX = g W^T               (passed back to the previous layer)
  dW = X^T g               (leading axes of X and g flattened into rows)
  db = sum of g over rows  (kept as shape (1, out_features))
  Shape: X (..., in_features) -> (..., out_features).

inputs
  name  kind
  X     float, differentiable

attrs
  name          type        default   meaning
  out_features  int         required  Width of the output's last axis.
  in_features   int | null  null      Width of the input's last axis; inferred from the input when
                                      not given.
  bias          bool        true      Whether to add the bias b.

parameters
  name  default start             meaning
  W     kaiming_uniform(a=2.236)  weights, (in, out)
  b     uniform_fan_in            bias, (1, out) (when bias)

at kinks
  none: linear is smooth everywhere.
"""


def run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def test_ops_lists_every_op_in_aligned_columns(capsys):
    code, out, _ = run(["ops"], capsys)
    lines = out.splitlines()
    assert code == 0 and len(lines) == len(all_ops()) + 1
    assert lines[0].split() == ["op", "inputs", "parameters", "what", "it", "does"]
    column = lines[0].index("what it does")
    assert all(len(line) <= 100 for line in lines)
    linear = next(line for line in lines if line.startswith("linear "))
    assert linear[column - 13:].startswith("W, b") and linear[column:].startswith("Affine map")
    assert "\033[" not in out  # not a terminal: no colour


def test_ops_name_prints_the_whole_record(capsys):
    code, out, _ = run(["ops", "linear"], capsys)
    assert code == 0 and out == LINEAR


@pytest.mark.parametrize("op", all_ops(), ids=lambda op: op.name)
def test_every_op_s_record_names_all_its_parts(op):
    text = op_text(op)
    assert text.startswith(f"{op.name}: ")
    for heading in ("inputs", "attrs", "at kinks"):
        assert f"\n{heading}\n" in text
    for arg in op.inputs:
        assert f"\n  {arg.name} " in text
    for name in op.attrs.model_fields:
        assert f"\n  {name} " in text
    for param in op.params:
        assert str(param.init) in text
    # The tables fit 100 columns (the rules are the op author's own layout).
    tables = text[text.index("\ninputs\n"):]
    assert all(len(line) <= 100 for line in tables.splitlines()), op.name


def test_a_not_differentiated_input_says_so(capsys):
    code, out, _ = run(["ops", "embedding", "nll"], capsys)
    assert code == 0
    assert "  indices  integer, not differentiated" in out
    assert "  labels     integer, not differentiated" in out
    assert out.index("embedding: ") < out.index("\nnll: ")


def test_ops_name_markdown_is_its_section_of_docs_ops_md(capsys):
    code, out, _ = run(["ops", "linear", "--markdown"], capsys)
    assert code == 0 and out.startswith("## `linear`")
    assert out in (ROOT / "docs" / "ops.md").read_text()


@pytest.mark.parametrize("name, hint", [
    ("linaer", " (did you mean 'linear'?)"),
    ("max_pool", " (did you mean 'max_pool3d' or 'max_pool2d' or 'max_pool1d'?)"),
    ("qqq", "; `ops` lists them all"),
])
def test_an_unknown_op_exits_1_with_a_suggestion(capsys, name, hint):
    code, out, err = run(["ops", "relu", name], capsys)
    assert code == 1 and out == ""
    assert err == f"error: no op is named '{name}'{hint}\n"


def test_colour_only_on_a_terminal_without_no_color(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert Style(Terminal()).bold("x") == "\033[1mx\033[0m"
    assert Style(io.StringIO()).bold("x") == "x"
    monkeypatch.setenv("NO_COLOR", "1")
    assert Style(Terminal()).bold("x") == "x"


def test_table_aligns_and_wraps_its_last_column():
    lines = table([["a", "one two three four"], ["bbb", "x"]], ["k", "v"], total_width=30)
    assert lines == ["k    v", "a    one two three four", "bbb  x"]
    lines = table([["a", "one two three four five six seven"]], indent=2, total_width=25)
    assert lines == ["  a  one two three four", "     five six seven"]
    assert table([["a", "one two three four five"]], total_width=23, one_line=True) == [
        "a  one two three fou..."]


# ----- validate --json --------------------------------------------------------------------

RECORD = {"file", "line", "column", "node", "op", "severity", "message"}


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_validate_json_on_every_spec(capsys, monkeypatch, path):
    monkeypatch.chdir(ROOT)
    relative = str(path.relative_to(ROOT))
    code, out, err = run(["validate", "--json", relative], capsys)
    assert code == 0 and err == ""
    [report] = json.loads(out)
    assert report["file"] == relative and report["status"] == "ok" and report["errors"] == 0
    assert report["nodes"] >= 1 and report["parameters"] >= 0


def test_validate_json_gives_every_problem_as_a_record(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    bad = "tests/data/bad/five_at_once.yaml"
    code, out, err = run(["validate", "--json", "specs/xor.yaml", bad], capsys)
    assert code == 1 and err == ""
    ok, invalid = json.loads(out)
    assert ok == {"file": "specs/xor.yaml", "status": "ok", "errors": 0, "warnings": 0,
                  "nodes": 4, "parameters": 13, "problems": []}
    assert invalid["status"] == "invalid" and invalid["errors"] == 5
    assert all(set(record) == RECORD for record in invalid["problems"])
    assert invalid["problems"][0] == {
        "file": bad, "line": 8, "column": 63, "node": "h", "op": "linear",
        "severity": "error", "message": "attrs: unknown key 'bais' (did you mean 'bias'?)"}
    # The same problems as the text output, line for line.
    run(["validate", bad], capsys)
    code, text, _ = run(["validate", bad], capsys)
    assert text.splitlines() == (DATA / "bad" / "five_at_once.yaml.expected").read_text(
    ).splitlines()


def test_validate_json_includes_warnings_with_their_severity(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out, _ = run(["validate", "--json", "tests/data/good/warnings.yaml"], capsys)
    [report] = json.loads(out)
    assert code == 0 and report["status"] == "ok" and report["warnings"] == 2
    assert [p["severity"] for p in report["problems"]] == ["warning", "warning"]
    assert report["problems"][1]["node"] == "dangling" and report["problems"][1]["op"] == "tanh"


@pytest.mark.parametrize("name", ["syntax.yaml", "syntax.json", "python_tag.yaml",
                                  "duplicate_key.yaml"])
def test_validate_json_is_json_even_when_the_spec_is_unreadable(capsys, monkeypatch, name):
    monkeypatch.chdir(ROOT)
    code, out, err = run(["validate", "--json", f"tests/data/bad/{name}", "no/such.yaml"],
                         capsys)
    unreadable, missing = json.loads(out)
    assert code == 1 and err == ""
    assert unreadable["status"] == "invalid" and unreadable["problems"][0]["line"] >= 1
    assert missing["problems"] == [{"file": "no/such.yaml", "line": None, "column": None,
                                    "node": None, "op": None, "severity": "error",
                                    "message": "no such file"}]
