"""`gradcheck SPEC`: the whole spec's gradients against float64 finite differences, one
line per parameter and per graph input; when one disagrees, each node's vjp is checked on
its own at the values the network fed it, to name the node at fault."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from ..core.errors import DataError, ExitCode, InterpreterError
from .output import plural
from .arguments import whole_number
from .tensors import Style

ROWS = 4  # few rows keep the finite differences fast and the kinks (relu at 0) rare


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    check = commands.add_parser(
        "gradcheck", parents=parents,
        help="check a spec's gradients against float64 finite differences",
        description="Load SPEC in float64 and compare the gradient of its loss with central "
        "finite differences along random directions, for every parameter and every float "
        "graph input, on the first rows of its training data. Exit 1 when one disagrees, "
        "naming the node whose vjp disagrees with its own forward.")
    check.add_argument("spec", metavar="SPEC", help="a .yaml, .yml or .json spec file")
    check.add_argument("--weights", metavar="W", type=Path,
                       help="check at these weights (.safetensors or .npz) instead of the "
                       "spec's initialisation")
    check.add_argument("--batch", metavar="N", type=whole_number(1),
                       help=f"use the first N rows (default {ROWS}, or fewer if the data "
                       "has fewer)")


def command_gradcheck(args: argparse.Namespace, out: TextIO) -> int:
    from ..gradcheck import check_network_tensors, check_nodes, float64_network
    from ..train.data import spec_data

    if args.weights is not None and not args.weights.exists():
        raise InterpreterError(f"--weights {args.weights}: no such file")
    net = float64_network(args.spec, args.weights)
    if net.loss is None:
        raise DataError([net.source.problem((), "this spec has no loss, so it has no "
                                            "gradients to check")])
    data = spec_data(net)
    names = net.training_inputs()
    rows = len(data[names[0]]) if names else 0
    size = args.batch if args.batch is not None else min(ROWS, rows)
    if size > rows:
        raise InterpreterError(f"--batch {size}: the training data has only "
                               f"{plural(rows, 'row')}")
    feeds = {name: array[:size] for name, array in data.items()}
    style = Style(out)
    checks = check_network_tensors(net, feeds)
    print(style.heading(f"gradcheck of {net.spec.name} ({args.spec}) in float64 on the first "
                        f"{plural(size, 'row')}: central differences along 2 random "
                        "directions per tensor"), file=out)
    header = ("tensor", "kind", "node", "max rel error", "")
    cells = [(c.name, c.kind, ", ".join(c.nodes) or "-", f"{c.error:.2e}",
              "ok" if c.ok else "FAIL") for c in checks]
    widths = [max(len(row[i]) for row in [header] + cells) for i in range(4)]
    print("  " + "  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(), file=out)
    for row, check in zip(cells, checks):
        verdict = style.good(row[4]) if check.ok else style.bad(row[4])
        print(f"  {row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  "
              f"{row[3]:>{widths[3]}}  {verdict}", file=out)
    worst = max((c.error for c in checks), default=0.0)
    failed = [c for c in checks if not c.ok]
    if not failed:
        print(f"ok: {plural(len(checks), 'gradient')} agree with finite differences "
              f"(largest relative error {worst:.2e})", file=out)
        return ExitCode.OK
    print(style.bad(f"FAILED: {len(failed)} of {plural(len(checks), 'gradient')} disagree "
                    "with finite differences"), file=out)
    nodes = check_nodes(net, feeds)
    culprits = [n for n in nodes if not n.ok and not n.kinks]
    doubtful = [n for n in nodes if not n.ok and n.kinks]
    for node in culprits + doubtful:
        where = net.locate(node.node)
        note = (" (its op has kinks; its inputs may sit on one, so this may not be the "
                "fault)" if node.kinks else "")
        for failure in node.failures:
            located = type(where)(f"its vjp disagrees with finite differences of its "
                                  f"forward: {failure}{note}", where.file, where.line,
                                  where.column, where.node, where.op)
            print(located, file=out)
    if not culprits and not doubtful:
        owners = sorted({node for c in failed for node in c.nodes})
        print("every node's vjp agrees with its own forward; the fault is in how the "
              "gradients are combined, around " + ", ".join(f"'{n}'" for n in owners),
              file=out)
    return ExitCode.INVALID
