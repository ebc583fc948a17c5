"""docs/ops.md, generated from the registry: every op's inputs, attrs, parameters and rules.

    python -m interpreter ops --markdown > docs/ops.md
"""
from __future__ import annotations

import inspect
import typing
from typing import Any

from pydantic_core import PydanticUndefined

from .registry import Op, all_ops

HEADER = """# Ops

Generated from the op registry by `python -m interpreter ops --markdown > docs/ops.md`; a
test keeps it up to date. Semantics follow PyTorch's functional op of the same name unless an
op says otherwise; layout is NCHW. Every op's gradient is checked against finite differences
in float64 by the test suite.

"""


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " | ".join("null" if a is type(None) else _type_name(a) for a in args)
    if origin in (list, tuple):
        inner = ", ".join(_type_name(a) for a in args if a is not Ellipsis)
        return f"{origin.__name__}[{inner}]"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _int_list(count: int) -> str:
    # Long lists by their count, so the attrs table of a 3-D op fits 100 columns.
    return f"[int × {count}]" if count > 3 else "[" + ", ".join(["int"] * count) + "]"


def field_type(field: Any) -> str:
    """An attr's type as a spec writes it: `int`, `int | null`, `'sum' | 'mean'`."""
    from ..core.fieldtypes import PerAxis

    per_axis = next((m.func for m in field.metadata if isinstance(getattr(m, "func", None),
                                                                   PerAxis)), None)
    if per_axis is not None:
        # Sizes: an int, or a list of one per spatial axis (per side too, for padding).
        forms = ["int", _int_list(per_axis.rank)]
        if per_axis.sides:
            forms.append(_int_list(2 * per_axis.rank))
        if type(None) in typing.get_args(field.annotation):
            forms.append("null")
        return " | ".join(forms)
    return _type_name(field.annotation)


def default_value(field: Any) -> str | None:
    """An attr's default as a spec would write it (`true`, `[1, 1]`, `null`); None when the
    attr is required."""
    if field.default is PydanticUndefined and field.default_factory is None:
        return None
    value = field.default if field.default_factory is None else field.default_factory()
    if value is None:
        return "null"
    if isinstance(value, tuple):  # written as a list in a spec
        value = list(value)
    if isinstance(value, bool):
        value = str(value).lower()
    return f"{value}"


def _default(field: Any) -> str:
    value = default_value(field)
    if value is None:
        return "required"
    return "null" if value == "null" else f"`{value}`"


def summary(op: Op) -> str:
    """The docstring's first paragraph, on one line."""
    return " ".join(inspect.cleandoc(op.doc).split("\n\n")[0].split())


def rules(op: Op) -> str:
    """The docstring after its first paragraph: the forward and gradient formulas and the
    shape rule, as the op's author laid them out."""
    return inspect.cleandoc(op.doc).partition("\n\n")[2].strip()


def input_kind(arg: Any) -> str:
    return {"float": "float", "int": "integer", "bool": "bool",
            "any": "float or integer"}[arg.kind]


def op_markdown(op: Op) -> str:
    body = rules(op)
    lines = [f"## `{op.name}`", "", summary(op), ""]
    if body:
        lines += ["```", body, "```", ""]
    if op.inputs:
        described = []
        for arg in op.inputs:
            kind = input_kind(arg)
            note = "" if arg.differentiable else ", not differentiated"
            many = ", one or more" if arg.variadic else ""
            optional = ", optional" if arg.optional else ""
            described.append(f"`{arg.name}` ({kind}{note}{many}{optional})")
        lines += ["**Inputs:** " + ", ".join(described), ""]
    else:
        lines += ["**Inputs:** none", ""]
    fields = op.attrs.model_fields
    if fields:
        lines += ["| attr | type | default | meaning |", "|---|---|---|---|"]
        for name, field in fields.items():
            kind = field_type(field).replace("|", "\\|")
            lines.append(f"| `{name}` | {kind} | {_default(field)} | "
                         f"{field.description or ''} |")
        lines.append("")
    if op.params:
        lines += ["| parameter | start | meaning |", "|---|---|---|"]
        for param in op.params:
            name = param.name or "(the node id)"
            when = f" (when `{param.enabled_by}`)" if param.enabled_by else ""
            lines.append(f"| `{name}` | `{param.init}` | {param.doc}{when} |")
        lines.append("")
    if op.state:
        lines += ["| state (saved, not trained) | start | meaning |", "|---|---|---|"]
        for state in op.state:
            lines.append(f"| `{state.name}` | `{state.init}` | {state.doc} |")
        lines.append("")
    if op.outputs:
        lines += ["| further output (`<id>.<name>`, not differentiated) | dtype | meaning |",
                  "|---|---|---|"]
        for output in op.outputs:
            kind = {"float": "the float dtype", "int": "int64", "bool": "bool"}[output.kind]
            lines.append(f"| `{output.name}` | {kind} | {output.doc} |")
        lines.append("")
    lines += [f"**At kinks:** {op.kinks}", ""]
    return "\n".join(lines)


def ops_markdown() -> str:
    ops = all_ops()
    index = ", ".join(f"[`{op.name}`](#{op.name})" for op in ops)
    return HEADER + f"{len(ops)} ops: {index}\n\n" + "\n".join(op_markdown(op) for op in ops)
