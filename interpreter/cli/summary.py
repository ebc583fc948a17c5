"""`summary SPEC`: a table like Keras's `summary()`: each node's op, output shape and
parameter count, with the totals, the parameters' memory, and the activation memory one
more row of a batch adds to a training step."""
from __future__ import annotations

import argparse
from typing import Any, TextIO

from ..core.dims import Sym, evaluate_shape, format_shape
from ..core.errors import ExitCode
from .output import plural
from .tensors import Style


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    summary = commands.add_parser(
        "summary", parents=parents, help="a table of nodes, shapes and parameter counts",
        description="Print each node a run computes, in graph order, with its op, output "
        "shape and parameter count; then the total parameters, their memory, and the "
        "activation memory per sample of a training step (the node outputs one more row "
        "of a batch adds).")
    summary.add_argument("spec", metavar="SPEC", help="a .yaml, .yml or .json spec file")


def _bytes(count: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:.1f} {unit} ({count:,} bytes)"
    return plural(count, "byte")


def _symbols(shape: tuple) -> set[str]:
    names: set[str] = set()
    for dim in shape:
        if isinstance(dim, Sym):
            for monomial, _ in dim.terms:
                names.update(monomial)
    return names


def summary_rows(net: Any) -> dict[str, Any]:
    """The table's rows and totals, as data (the test and the printer share it)."""
    plan = net.plan
    owned: dict[str, int] = {}
    for info, array in zip(plan.param_infos, plan.params.arrays):
        owned[info.node] = owned.get(info.node, 0) + int(array.size)
    rows = []
    for step in plan.steps:
        rows.append({"node": step.node, "op": step.op.name,
                     "shape": format_shape(net.types.values[step.node].shape),
                     "params": owned.get(step.node, 0)})
    # The batch is axis 0 of the graph inputs: per sample is what one more row adds.
    batch = {str(t.shape[0]) for name in net.inputs
             if (t := net.types.values.get(name)) is not None and t.shape
             and isinstance(t.shape[0], Sym)}
    trained = plan.steps_for([plan.loss_slot]) if plan.loss_slot is not None else plan.steps
    shapes = [net.types.values[step.node].shape for step in trained]
    other = set().union(*(_symbols(s) for s in shapes)) - batch if shapes else set()
    per_sample = None
    if not other:
        sizes = []
        for rows_in_batch in (1, 2):
            total = 0
            for shape in shapes:
                concrete = evaluate_shape(shape, {name: rows_in_batch for name in batch})
                count = 1
                for dim in concrete or ():
                    count *= dim
                total += count
            sizes.append(total)
        per_sample = (sizes[1] - sizes[0]) * net.dtype.itemsize
    state = int(sum(array.size for array in net.state.values()))
    return {"rows": rows, "params": net.parameter_count(),
            "param_bytes": net.parameter_count() * net.dtype.itemsize, "state": state,
            "activation_bytes_per_sample": per_sample, "unbound": sorted(other),
            "training": plan.loss_slot is not None}


def command_summary(args: argparse.Namespace, out: TextIO) -> int:
    from ..api import load

    net = load(args.spec, data=False)
    content = summary_rows(net)
    style = Style(out)
    header = ("node", "op", "output shape", "params")
    cells = [(r["node"], r["op"], r["shape"], f"{r['params']:,}") for r in content["rows"]]
    widths = [max(len(row[i]) for row in [header] + cells) for i in range(4)]
    rule = "  " + "-" * (sum(widths) + 6)
    print(style.heading(f"{net.spec.name} ({args.spec}), {net.dtype}"), file=out)
    print("  " + "  ".join(h.ljust(w) if i < 3 else h.rjust(w)
                           for i, (h, w) in enumerate(zip(header, widths))), file=out)
    print(rule, file=out)
    for row in cells:
        print(f"  {style.node(row[0].ljust(widths[0]))}  {row[1]:<{widths[1]}}  "
              f"{row[2]:<{widths[2]}}  {row[3]:>{widths[3]}}", file=out)
    print(rule, file=out)
    print(f"  total parameters: {content['params']:,}", file=out)
    print(f"  parameter memory: {_bytes(content['param_bytes'])} ({net.dtype})", file=out)
    if content["state"]:
        print(f"  non-trained state: {content['state']:,} values (batch-norm statistics)",
              file=out)
    what = "training step" if content["training"] else "forward pass"
    if content["activation_bytes_per_sample"] is None:
        print(f"  activation memory per sample of a {what}: depends on "
              + ", ".join(f"'{s}'" for s in content["unbound"]), file=out)
    else:
        print(f"  activation memory per sample of a {what}: "
              f"{_bytes(content['activation_bytes_per_sample'])} (the node outputs one "
              "more row adds)", file=out)
    return ExitCode.OK
