"""The commands that read specs without running them: validate, ops, schema."""
from __future__ import annotations

import argparse
import json
from typing import TextIO

from ..core.errors import ExitCode, SpecError
from .output import plural


def command_validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..api import load

    status = ExitCode.OK
    for path in args.specs:
        try:
            net = load(path, confine=args.confine)
        except SpecError as exc:
            for problem in exc.problems + exc.warnings:
                print(problem, file=out)
            count = len(exc.problems)
            print(f"{path}: invalid ({count} error{'s' if count != 1 else ''})", file=err)
            status = ExitCode.INVALID
            continue
        for warning in net.warnings:
            print(warning, file=out)
        nodes, params = len(net.spec.nodes), net.parameter_count()
        print(f"{path}: ok ({plural(nodes, 'node')}, {plural(params, 'parameter')})", file=out)
    return status


def command_ops(args: argparse.Namespace, out: TextIO) -> int:
    from .. import ops as _ops  # noqa: F401  (registers the built-in ops)
    from ..ops.docs import ops_markdown, summary
    from ..ops.registry import all_ops

    if args.markdown:
        print(ops_markdown(), end="", file=out)
        return ExitCode.OK
    ops = all_ops()
    width = max(len(op.name) for op in ops)
    for op in ops:
        print(f"{op.name:<{width}}  {summary(op)}", file=out)
    return ExitCode.OK


def schema_text() -> str:
    from ..check.document import Spec

    schema = Spec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
