"""YAML syntax errors in plain words: tabs and indentation, said so, with the line.

libyaml reports where it gave up and what it expected ("while parsing a block mapping did
not find expected key"), which says little to someone who indented one line by a space too
many. The usual causes are few: a tab, a key indented deeper than the keys beside it, a line
that lines up with nothing above it. This module looks at the text around the error for
them and says which it is; libyaml's own words follow in brackets. Any other error keeps
libyaml's wording.
"""
from __future__ import annotations

import re

import yaml

_BLOCK_SCALAR = re.compile(r"[|>][-+0-9]*\s*(#.*)?$")  # `description: >` and the like
_KEY = re.compile(r"""([^\s#'"{\[][^:#]*?|'[^']*'|"[^"]*")\s*:(\s|$)""")


def explain(text: str, error: yaml.MarkedYAMLError) -> tuple[str, tuple[int, int] | None]:
    """A message and a (line, column) for a YAML syntax error."""
    mark = error.problem_mark or error.context_mark
    detail = " ".join(str(part) for part in (error.context, error.problem) if part)
    where = (mark.line + 1, mark.column + 1) if mark is not None else None
    plain = f"YAML syntax error: {detail}"
    if mark is None:
        return plain, where
    lines = text.splitlines()
    row = mark.line
    if row >= len(lines):
        return plain, where
    line = lines[row]
    leading = line[:len(line) - len(line.lstrip(" \t"))]
    if "\t" in leading:
        return (f"line {row + 1} is indented with a tab; YAML indents with spaces only "
                f"[YAML: {detail}]"), (row + 1, leading.index("\t") + 1)
    if "<document start>" in (error.problem or ""):
        first = min(_plain_lines(lines, row + 1), default=row)
        if _indent(lines[first]) > _indent(line):
            return (f"line {row + 1} starts left of line {first + 1}, the first line of the "
                    f"spec, which is indented by {_indent(lines[first])}: start the "
                    f"top-level keys at column 1 [YAML: {detail}]"), (row + 1, 1)
    if "block" in (error.context or "") or "mapping values" in (error.problem or ""):
        said = _indentation(lines, row, error.problem or "")
        if said is not None:
            return f"{said} [YAML: {detail}]", (row + 1, _indent(line) + 1)
    return plain, where


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _starts(line: str) -> list[tuple[int, str]]:
    """Where the line's list items and key begin: `  - id: a` -> [(2, item), (4, key)]."""
    column, starts = _indent(line), []
    while line[column:column + 2] == "- " or line[column:] == "-":
        starts.append((column, "item"))
        column += 2
        while line[column:column + 1] == " ":
            column += 1
    if column < len(line) and _KEY.match(line, column):
        starts.append((column, "key"))
    return starts


def _plain_lines(lines: list[str], last: int) -> set[int]:
    """The lines before `last` that hold structure: not blank, not comments, not inside a
    block scalar (`description: >`) or a flow collection spread over lines."""
    plain: set[int] = set()
    scalar_indent: int | None = None
    depth = 0
    for number in range(last):
        line = lines[number]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if scalar_indent is not None:
            if _indent(line) > scalar_indent:
                continue
            scalar_indent = None
        if depth == 0:
            plain.add(number)
        # Brackets outside quotes and comments, roughly: enough to skip a multi-line list.
        code = re.sub(r"'[^']*'|\"[^\"]*\"", "", line).split(" #")[0]
        depth = max(0, depth + code.count("[") + code.count("{") - code.count("]")
                    - code.count("}"))
        if depth == 0 and _BLOCK_SCALAR.search(code):
            scalar_indent = _indent(line)
    return plain


def _indentation(lines: list[str], row: int, problem: str) -> str | None:
    line = lines[row]
    starts = _starts(line)
    if not starts:
        return None
    column, kind = starts[0]
    what = "list item" if kind == "item" else "key"
    plain = sorted(_plain_lines(lines, row))
    if not plain:
        return None
    previous = plain[-1]
    previous_starts = _starts(lines[previous])
    # The columns open above the line: each line further up counts where it is shallower.
    open_columns: list[tuple[int, str, int]] = []
    limit = len(line) + 1
    for number in reversed(plain):
        for start, start_kind in reversed(_starts(lines[number])):
            if start < limit:
                open_columns.append((start, start_kind, number))
                limit = start
        if limit == 0:
            break
    if previous_starts and previous_starts[-1][1] == "key" and column > previous_starts[-1][0] \
            and _has_value(lines[previous]):
        key_column = previous_starts[-1][0]
        key = _KEY.match(lines[previous], key_column).group(1)  # type: ignore[union-attr]
        return (f"line {row + 1}: this {what} is indented deeper than the key '{key}' above "
                f"it (line {previous + 1}, column {key_column + 1}), which already has its "
                "value; the keys of one mapping start in the same column")
    if "mapping values" in problem and kind == "key" and ": " in _rest(line, column):
        # `name: a: b`: with the indentation right, the commoner cause.
        return (f"line {row + 1}: a value holds ': ', which YAML reads as another key; put "
                "the value in quotes")
    matching = [(start, start_kind, number) for start, start_kind, number in open_columns
                if start == column]
    if not matching:
        above = ", ".join(f"{'list items' if k == 'item' else 'keys'} at column {s + 1} on "
                          f"line {n + 1}" for s, k, n in open_columns)
        return (f"line {row + 1}: this {what} starts at column {column + 1}, which lines up "
                f"with nothing above it: {above}; line it up with one of those")
    _, matched_kind, number = matching[0]
    if kind == "key" and matched_kind == "item":
        inside = next((s for s, k in _starts(lines[number]) if k == "key"), column + 2)
        return (f"line {row + 1}: this key starts at column {column + 1}, under the '- ' of "
                f"the list item at line {number + 1}: indent it to column {inside + 1} to "
                "go on with that item, or start it with '- ' to begin a new item")
    if kind == "item" and matched_kind == "key":
        return (f"line {row + 1}: this list item starts at column {column + 1}, where the "
                f"keys of the mapping at line {number + 1} start; a list belongs under a key "
                "whose line ends with ':'")
    return None


def _rest(line: str, column: int) -> str:
    """What follows the key starting at `column`, comments aside."""
    match = _KEY.match(line, column)
    return line[match.end():].split(" #")[0].strip() if match else ""


def _has_value(line: str) -> bool:
    """Whether a `key: value` line gives its value on the line itself."""
    rest = _rest(line, _starts(line)[-1][0])
    return bool(rest) and not _BLOCK_SCALAR.match(rest)
