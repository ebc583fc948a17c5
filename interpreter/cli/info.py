"""The commands that read specs without running them: validate, ops, schema."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

from ..check.schema import schema_text
from ..core.errors import ExitCode, InterpreterError, Problem, SpecError
from ..core.files import write_atomically
from .output import check_output, plural
from .tables import Style, table, width

COMMANDS = ("validate", "ops", "schema")


def add_commands(commands: Any, plugins: argparse.ArgumentParser) -> None:
    """Register validate, ops and schema on the CLI's subparsers."""
    validate = commands.add_parser(
        "validate", parents=[plugins], help="check specs without running them",
        description="Check each SPEC (document, ops, graph, shapes, data) and print every "
        "problem as FILE:LINE:COL: node 'ID' (OP): message. Exit 1 if any SPEC is invalid.")
    validate.add_argument("specs", metavar="SPEC", nargs="+", help="spec files to check")
    validate.add_argument("--confine", metavar="DIR", type=Path,
                          help="refuse data paths that leave DIR (absolute paths, '..', "
                          "symlinks): for specs you did not write")
    validate.add_argument("--json", action="store_true",
                          help="print a JSON array to stdout instead, one object per SPEC "
                          "with its status and every problem as a record (file, line, "
                          "column, node, op, severity, message)")

    ops = commands.add_parser(
        "ops", parents=[plugins], help="list the registered ops, or show one",
        description="List the registered ops; with NAME, print that op's full record: "
        "inputs, attrs, parameters, its forward, gradient and shape rules, and its "
        "convention at kinks. An unknown NAME exits 1. --markdown prints the same as "
        "Markdown (without NAME: docs/ops.md).")
    ops.add_argument("names", metavar="NAME", nargs="*", help="ops to show in full")
    ops.add_argument("--markdown", action="store_true", help="the reference in Markdown")

    schema = commands.add_parser(
        "schema", parents=[plugins], help="print the JSON Schema of the spec format",
        description="Print the JSON Schema (draft-07) of the spec format, each node's attrs "
        "and params checked per op, for editors and outside tools; "
        "schema/spec.schema.json holds the built-in ops' schema. With --plugin, the "
        "plugin's ops are in it too.")
    schema.add_argument("-o", "--output", metavar="FILE", type=Path,
                        help="write the schema to FILE instead of stdout")


def run_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run validate, ops or schema."""
    if args.command == "ops":
        return command_ops(args, out, err)
    if args.command == "schema":
        return command_schema(args, out)
    return command_validate(args, out, err)


# ----- validate ---------------------------------------------------------------------------

def problem_record(problem: Problem) -> dict[str, Any]:
    """One problem as JSON: every field, null where unknown."""
    return {"file": problem.file, "line": problem.line, "column": problem.column,
            "node": problem.node, "op": problem.op, "severity": problem.severity,
            "message": problem.message}


def command_validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..api import load

    status = ExitCode.OK
    reports = []
    style = Style(err)
    for path in args.specs:
        try:
            net = load(path, confine=args.confine)
        except SpecError as exc:
            status = ExitCode.INVALID
            reports.append({"file": path, "status": "invalid", "errors": len(exc.problems),
                            "warnings": len(exc.warnings),
                            "problems": [problem_record(p)
                                         for p in exc.problems + exc.warnings]})
            if not args.json:
                for problem in exc.problems + exc.warnings:
                    print(problem, file=out)
                count = len(exc.problems)
                print(f"{path}: " + style.red(f"invalid ({plural(count, 'error')})"),
                      file=err)
            continue
        except InterpreterError as exc:  # not expected from load; kept as a record anyway
            if not args.json:
                raise
            status = ExitCode.INVALID
            reports.append({"file": path, "status": "invalid", "errors": 1, "warnings": 0,
                            "problems": [problem_record(Problem(str(exc), path))]})
            continue
        nodes, params = len(net.spec.nodes), net.parameter_count()
        reports.append({"file": path, "status": "ok", "errors": 0,
                        "warnings": len(net.warnings), "nodes": nodes, "parameters": params,
                        "problems": [problem_record(w) for w in net.warnings]})
        if not args.json:
            for warning in net.warnings:
                print(warning, file=out)
            print(f"{path}: ok ({plural(nodes, 'node')}, {plural(params, 'parameter')})",
                  file=out)
    if args.json:
        print(json.dumps(reports, indent=2), file=out)
    return status


# ----- ops --------------------------------------------------------------------------------

def command_ops(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .. import ops as _ops  # noqa: F401  (registers the built-in ops)
    from ..core.names import suggest
    from ..ops.docs import op_markdown, ops_markdown, summary
    from ..ops.registry import all_ops, get_op

    ops = all_ops()
    if not args.names:
        if args.markdown:
            print(ops_markdown(), end="", file=out)
            return ExitCode.OK
        style = Style(out)
        rows = [[op.name, ", ".join(a.label for a in op.inputs)
                 or "-", ", ".join(p.name or "(node id)" for p in op.params) or "-",
                 summary(op)] for op in ops]
        for line in table(rows, ["op", "inputs", "parameters", "what it does"],
                          total_width=width(out), style=style, one_line=True):
            print(line, file=out)
        return ExitCode.OK
    unknown = [name for name in args.names if get_op(name) is None]
    for name in unknown:
        hint = suggest(name, [op.name for op in ops]) or "; `ops` lists them all"
        print(f"error: no op is named '{name}'{hint}", file=err)
    if unknown:
        return ExitCode.INVALID
    records = [op_markdown(get_op(name)) if args.markdown
               else op_text(get_op(name), width(out), Style(out)) for name in args.names]
    print("\n".join(records), end="", file=out)
    return ExitCode.OK


def op_text(op: Any, total_width: int = 100, style: Style | None = None) -> str:
    """One op's whole record as aligned plain text (what `ops NAME` prints)."""
    from ..ops.docs import default_value, field_type, input_kind, rules, summary

    style = style or Style(None)  # type: ignore[arg-type]
    import textwrap

    first = textwrap.wrap(f"{op.name}: {summary(op)}", total_width)
    lines = [style.bold(op.name) + first[0][len(op.name):], *first[1:], ""]

    def section(title: str, body: list[str]) -> None:
        lines.extend([style.bold(title)] + body + [""])

    if rules(op):
        section("rules (forward, gradient, shape)",
                ["  " + line if line else "" for line in rules(op).splitlines()])
    rows = []
    for arg in op.inputs:
        notes = [input_kind(arg),
                 "differentiable" if arg.differentiable else "not differentiated"]
        if arg.variadic:
            notes.append("one or more")
        if arg.optional:
            notes.append("optional")
        rows.append([arg.name, ", ".join(notes)])
    section("inputs", table(rows, ["name", "kind"], indent=2, total_width=total_width)
            if rows else ["  none"])
    fields = op.attrs.model_fields
    rows = []
    for name, field in fields.items():
        default = default_value(field)
        rows.append([name, field_type(field), "required" if default is None else default,
                     field.description or ""])
    section("attrs", table(rows, ["name", "type", "default", "meaning"], indent=2,
                           total_width=total_width) if rows else ["  none"])
    if op.params:
        rows = [[param.name or "(the node id)", str(param.init),
                 param.doc + (f" (when {param.enabled_by})" if param.enabled_by else "")]
                for param in op.params]
        section("parameters", table(rows, ["name", "default start", "meaning"], indent=2,
                                    total_width=total_width))
    if op.state:
        rows = [[state.name, str(state.init), state.doc] for state in op.state]
        section("state (saved, not trained)", table(
            rows, ["name", "start", "meaning"], indent=2, total_width=total_width))
    if op.outputs:
        rows = [[f"<id>.{output.name}", {"float": "float", "int": "int64", "bool": "bool"}[
            output.kind], output.doc] for output in op.outputs]
        section("further outputs (not differentiated)", table(
            rows, ["reference", "dtype", "meaning"], indent=2, total_width=total_width))
    section("at kinks", table([[op.kinks or "-"]], indent=2, total_width=total_width))
    return "\n".join(lines)


# ----- schema -----------------------------------------------------------------------------

def command_schema(args: argparse.Namespace, out: TextIO) -> int:
    from .. import ops as _ops  # noqa: F401  (registers the built-in ops)

    text = schema_text()
    if args.output is None:
        print(text, end="", file=out)
    else:
        check_output(args.output, "--output")
        write_atomically(args.output, lambda stream: stream.write(text.encode()))
    return ExitCode.OK
