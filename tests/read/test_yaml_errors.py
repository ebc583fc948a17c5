"""YAML syntax errors in plain words: tabs and indentation named, with the line."""
from __future__ import annotations

import pytest

from interpreter import SpecError, loads

HEAD = "version: 1\nname: x\ninputs:\n  X: {shape: [batch, 2]}\n"


def problem(text: str):
    with pytest.raises(SpecError) as info:
        loads(text, "yaml", name="s.yaml")
    [found] = info.value.problems
    return found.line, found.column, found.message


def test_a_tab_is_named_with_its_line():
    line, column, message = problem(HEAD + "nodes:\n  - id: a\n    op: relu\n    attrs:\n"
                                    "\t  x: 1\n")
    assert (line, column) == (9, 1)
    assert message.startswith("line 9 is indented with a tab; YAML indents with spaces only "
                              "[YAML: ")


def test_a_key_deeper_than_its_neighbours():
    line, column, message = problem(HEAD + "nodes:\n  - id: a\n    op: relu\n"
                                    "     inputs: [X]\n")
    assert (line, column) == (8, 6)
    assert message.startswith("line 8: this key is indented deeper than the key 'op' above it "
                              "(line 7, column 5), which already has its value")


def test_a_top_level_key_indented():
    line, _, message = problem("version: 1\nname: x\n  nodes: []\n")
    assert line == 3 and "deeper than the key 'name' above it (line 2, column 1)" in message


def test_an_indented_first_key():
    line, column, message = problem("# spec\n  version: 1\nname: x\n")
    assert (line, column) == (3, 1)
    assert message.startswith("line 3 starts left of line 2, the first line of the spec, which "
                              "is indented by 2: start the top-level keys at column 1")


def test_a_list_item_between_columns_lists_the_columns_above():
    _, column, message = problem(HEAD + "nodes:\n- id: a\n  op: relu\n - id: b\n")
    assert column == 2
    assert ("line 8: this list item starts at column 2, which lines up with nothing above it: "
            "keys at column 3 on line 7, list items at column 1 on line 6; line it up") in message


def test_a_key_under_a_dash():
    _, _, message = problem(HEAD + "nodes:\n  - id: a\n    op: relu\n  inputs: [X]\n")
    assert message.startswith("line 8: this key starts at column 3, under the '- ' of the list "
                              "item at line 6: indent it to column 5")


def test_a_colon_inside_a_value():
    _, _, message = problem("version: 1\nname: a: b\n")
    assert message.startswith("line 2: a value holds ': ', which YAML reads as another key; "
                              "put the value in quotes")


def test_block_scalars_and_comments_are_not_structure():
    text = ("version: 1\nname: x\ndescription: >\n  some text\n      indented more\n"
            "# a comment at column 1\ninputs:\n  X: {shape: [batch, 2]}\n"
            "   Y: {shape: [batch, 2]}\n")
    line, _, message = problem(text)
    assert line == 9 and "deeper than the key 'X' above it (line 8, column 3)" in message


def test_other_syntax_errors_keep_libyaml_s_words():
    line, column, message = problem(HEAD + "nodes: [\n")
    assert message.startswith("YAML syntax error: ")


@pytest.mark.parametrize("change", [" ", "\t", "- ", ": x: "])
def test_any_line_mis_indented_in_any_spec_gives_a_located_spec_error(change):
    """Every line of every spec, shifted or broken in turn: never a crash, always a line."""
    from ..conftest import SPECS

    for path in SPECS:
        if path.suffix == ".json":
            continue
        lines = path.read_text().splitlines()
        for number in range(len(lines)):
            broken = lines[:number] + [change + lines[number]] + lines[number + 1:]
            try:
                loads("\n".join(broken), "yaml", name="s.yaml", data=False)
            except SpecError as exc:
                assert all(p.line is not None for p in exc.problems[:1]), (path, number)
