"""The command line: `python -m interpreter run|validate SPEC` (also installed as `nnspec`).

Exit codes (`core.errors.ExitCode`): 0 success; 1 invalid input (spec, data, files, a
plugin); 2 usage error; 3 training stopped on non-finite numbers; 4 internal error (a bug);
130 interrupted.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence, TextIO

import numpy as np

from .core.errors import (ExitCode, InternalError, InterpreterError, SpecError,
                          TrainingError)
from .core.files import check_writable, write_atomically


def _whole_number(minimum: int):
    """An argparse type: an int of at least `minimum` (argparse turns errors into exit 2)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="python -m interpreter",
        description="Validate, train and run neural networks written as YAML/JSON graph specs.",
        epilog="exit codes: 0 ok, 1 invalid input, 2 usage error, 3 non-finite numbers in "
               "training, 4 internal error, 130 interrupted")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # Every command that reads specs or lists ops can first import op plugins.
    plugins = argparse.ArgumentParser(add_help=False)
    plugins.add_argument("--plugin", metavar="MODULE", action="append", default=[],
                         help="import this module (or nnspec.ops entry point) first, to "
                         "register its ops; repeatable")

    run = commands.add_parser("run", parents=[plugins], help="train a spec as its train: section says",
                              description="Train SPEC as its train: section says; print "
                              "progress, the final loss and the outputs beside the targets.")
    run.add_argument("spec", metavar="SPEC", help="a .yaml, .yml or .json spec file")
    run.add_argument("--epochs", type=_whole_number(0), help="override train.epochs")
    run.add_argument("--lr", type=_positive_float, help="override the optimizer's lr")
    run.add_argument("--seed", type=_whole_number(0),
                     help="override train.seed (initialisation, shuffling, dropout)")
    run.add_argument("--batch-size", type=_whole_number(1), help="override train.batch_size")
    run.add_argument("--json", metavar="PATH", type=Path,
                     help="also write a machine-readable summary to PATH")
    run.add_argument("--quiet", "-q", action="store_true", help="print only the final loss")
    run.add_argument("--check", action="store_true",
                     help="check every step: each value and gradient as it is made (shapes, "
                     "dtypes, finiteness), failures naming the node; slower")
    run.add_argument("--load", metavar="WEIGHTS", type=Path,
                     help="start from the weights in this .npz (from --save)")
    run.add_argument("--save", metavar="WEIGHTS", type=Path,
                     help="after training, save parameters and state to this .npz")

    predict = commands.add_parser("predict", parents=[plugins], help="run a trained spec on data",
                                  description="Run SPEC in eval mode on data and print (or "
                                  "--json write) its outputs.")
    predict.add_argument("spec", metavar="SPEC", help="a .yaml, .yml or .json spec file")
    predict.add_argument("--weights", metavar="WEIGHTS", type=Path, required=True,
                         help="an .npz written by run --save")
    predict.add_argument("--data", metavar="NPZ", type=Path,
                         help="an .npz with one array per input (default: the spec's "
                         "training data)")
    predict.add_argument("--json", metavar="PATH", type=Path,
                         help="write the outputs to PATH as JSON")

    validate = commands.add_parser("validate", parents=[plugins], help="check specs without running them",
                                   description="Check each SPEC (document, ops, graph, "
                                   "shapes, training data) and print every problem as "
                                   "FILE:LINE:COL: node 'ID' (OP): message.")
    validate.add_argument("specs", metavar="SPEC", nargs="+", help="spec files to check")

    ops = commands.add_parser("ops", parents=[plugins], help="list the registered ops",
                              description="List the registered ops, or print their full "
                              "reference (docs/ops.md) with --markdown.")
    ops.add_argument("--markdown", action="store_true", help="the full reference in Markdown")

    commands.add_parser("schema", help="print the JSON Schema of the spec format",
                        description="Print the JSON Schema of the spec document (for editors "
                        "and outside tools; schema/spec.schema.json holds the same).")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("run", "predict"):
        from .run.allocator import keep_freed_memory

        keep_freed_memory()
    try:
        for name in getattr(args, "plugin", []):
            from .ops.plugins import load_plugin

            load_plugin(name)
        if args.command == "run":
            return command_run(args, sys.stdout, sys.stderr)
        if args.command == "predict":
            return command_predict(args, sys.stdout)
        if args.command == "ops":
            return command_ops(args, sys.stdout)
        if args.command == "schema":
            print(schema_text(), end="")
            return ExitCode.OK
        return command_validate(args, sys.stdout, sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`); stop quietly without a second error at exit.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return ExitCode.OK
    except InterpreterError as exc:
        located = isinstance(exc, SpecError) or getattr(exc, "problem", None) is not None
        print(str(exc) if located else f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except InternalError as exc:
        print(f"internal error (a bug; please report it): {exc}", file=sys.stderr)
        return ExitCode.INTERNAL
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if os.environ.get("INTERPRETER_DEBUG"):
            raise
        print(f"internal error (a bug; please report it): {type(exc).__name__}: {exc}\n"
              "set INTERPRETER_DEBUG=1 to see the traceback", file=sys.stderr)
        return ExitCode.INTERNAL


def command_predict(args: argparse.Namespace, out: TextIO) -> int:
    from .api import load
    from .read.npz import load_npz
    from .train.data import spec_data

    if args.json is not None:
        check_writable(args.json, "--json")
    net = load(args.spec, data=args.data is None)
    net.load_weights(args.weights)
    if args.data is None:
        data = spec_data(net)
    else:
        data = {k: v for k, v in load_npz(args.data, "data").items() if k in net.inputs}
    outputs = net.predict(data)
    if args.json is not None:
        _write_json(args.json, {k: v.tolist() for k, v in outputs.items()})
    else:
        _print_table(out, outputs, {}, limit=20)
    return ExitCode.OK


def command_ops(args: argparse.Namespace, out: TextIO) -> int:
    from . import ops  # noqa: F401  (registers the built-in ops)
    from .ops.docs import ops_markdown, summary
    from .ops.registry import all_ops

    if args.markdown:
        print(ops_markdown(), end="", file=out)
        return ExitCode.OK
    ops = all_ops()
    width = max(len(op.name) for op in ops)
    for op in ops:
        print(f"{op.name:<{width}}  {summary(op)}", file=out)
    return ExitCode.OK


def schema_text() -> str:
    from .check.document import Spec

    schema = Spec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def command_validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .api import load

    status = ExitCode.OK
    for path in args.specs:
        try:
            net = load(path)
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
        print(f"{path}: ok ({_plural(nodes, 'node')}, {_plural(params, 'parameter')})", file=out)
    return status


def command_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .api import load
    from .train.data import spec_data
    from .train.loop import settings, train

    for flag, path in (("--json", args.json), ("--save", args.save)):
        if path is not None:
            check_writable(path, flag)
    net = load(args.spec, seed=args.seed, check=args.check)
    if args.load is not None:
        net.load_weights(args.load)
    for warning in net.warnings:
        print(warning, file=err)
    if net.spec.train is None:
        raise SpecError([net.source.problem((), "this spec has no 'train' section; add one "
                                            "(data, optimizer, epochs) to run it")])
    data = spec_data(net)
    config = settings(net, epochs=args.epochs, lr=args.lr, seed=args.seed,
                      batch_size=args.batch_size)
    rows = len(next(iter(data.values())))
    if not args.quiet:
        print(f"{net.spec.name} ({args.spec}): {_plural(len(net.spec.nodes), 'node')}, "
              f"{_plural(net.parameter_count(), 'parameter')}, {net.dtype}", file=out)
        opt = config.optimizer
        print(f"training: {_plural(config.epochs, 'epoch')}, {opt.name} lr={opt.lr:g}, batch "
              f"{min(config.batch_size or rows, rows)} of {rows} rows, seed {config.seed}",
              file=out)
    every = max(1, config.epochs // 10)

    def progress(epoch: int, loss: float) -> None:
        if not args.quiet and (epoch == 1 or epoch % every == 0 or epoch == config.epochs):
            print(f"epoch {epoch:>{len(str(config.epochs))}}/{config.epochs}  loss {loss:.6g}",
                  file=out, flush=True)

    started = time.perf_counter()
    try:
        history = train(net, epochs=config.epochs, lr=args.lr, seed=config.seed,
                        batch_size=config.batch_size, on_epoch=progress)
    except TrainingError as exc:
        if args.json is not None:
            _write_json(args.json, {"spec": str(args.spec), "name": net.spec.name,
                                    "status": "diverged", "error": str(exc),
                                    "loss_history": exc.history})
        raise
    seconds = time.perf_counter() - started
    if args.save is not None:
        net.save_weights(args.save)
    # The outputs may read inputs that training does not (a side branch on its own input).
    absent = [name for name in net.inference_inputs() if name not in data]
    outputs = net.predict(data) if not absent else {}
    print(f"final loss {history.final_loss:.6g} ({history.epochs} epochs, {history.steps} "
          f"steps, {seconds:.2f} s)", file=out)
    targets = loss_targets(net, data)
    if not args.quiet:
        print(file=out)
        if absent:
            print("the outputs need input" + ("s " if len(absent) > 1 else " ")
                  + ", ".join(f"'{name}'" for name in absent) + ", which the training data "
                  "does not hold: not shown", file=out)
        else:
            print("outputs on the training data:", file=out)
            _print_table(out, outputs, targets)
    if args.json is not None:
        _write_json(args.json, {
            "spec": str(args.spec), "name": net.spec.name, "status": "ok",
            "seed": config.seed, "epochs": history.epochs, "steps": history.steps,
            "seconds": seconds, "parameters": net.parameter_count(),
            "final_loss": history.final_loss, "loss_history": history.losses,
            "outputs": {k: v.tolist() for k, v in outputs.items()},
            "targets": {k: v.tolist() for k, v in targets.items()},
        })
    return ExitCode.OK


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def loss_targets(net: Any, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The graph inputs the loss compares outputs with: the loss node's own inputs after
    its first (the prediction) that are graph inputs."""
    if net.loss is None:
        return {}
    node = net.spec.nodes[[n.id for n in net.spec.nodes].index(net.loss)]
    return {ref: data[ref] for ref in node.inputs[1:] if ref in data and ref in net.inputs}


def _print_table(out: TextIO, outputs: dict[str, np.ndarray],
                 targets: dict[str, np.ndarray], limit: int = 10) -> None:
    columns = list(outputs.items()) + list(targets.items())
    rows = min(len(a) for _, a in columns) if columns and all(a.ndim for _, a in columns) else 0
    cells = [[name for name, _ in columns]]
    for row in range(min(rows, limit)):
        # Rounded, and + 0.0 turns -0.0 into 0.0, so a converged output reads cleanly.
        cells.append([np.array2string(np.round(np.asarray(a[row], dtype=float), 6) + 0.0,
                                      precision=6, suppress_small=True, max_line_width=60)
                      for _, a in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    label = ["row"] + [str(r) for r in range(min(rows, limit))]
    for index, line in enumerate(cells):
        print(f"  {label[index]:>4}  " + "  ".join(c.rjust(w) for c, w in zip(line, widths)),
              file=out)
    if rows > limit:
        print(f"  ... {rows - limit} more rows", file=out)


def _write_json(path: Path, summary: dict[str, Any]) -> None:
    def write(stream: Any) -> None:
        stream.write((json.dumps(summary, indent=2, allow_nan=False) + "\n").encode())

    write_atomically(path, write)
