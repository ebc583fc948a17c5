"""The command line: `python -m interpreter COMMAND` (also installed as `nnspec`).

Exit codes (`core.errors.ExitCode`): 0 success; 1 invalid input (spec, data, files, a
plugin); 2 usage error; 3 training stopped on non-finite numbers; 4 internal error (a bug);
130 interrupted.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from ..core.errors import ExitCode, InternalError, InterpreterError, SpecError
from . import export, graph, import_onnx
from .arguments import positive_float, whole_number
from .inference import command_evaluate, command_predict
from .info import COMMANDS as INFO_COMMANDS, add_commands as add_info_commands
from .info import run_command as run_info_command, schema_text
from . import gradcheck, summary, trace
from .output import STDOUT
from .training import command_run

__all__ = ["build_parser", "main", "schema_text"]


def _prog() -> str:
    """`nnspec` when run as the installed command, else `python -m interpreter`."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "nnspec" if name.startswith("nnspec") else "python -m interpreter"


def _output_path(text: str) -> Path:
    return STDOUT if text == "-" else Path(text)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    prog = _prog()
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Validate, train and run neural networks written as YAML/JSON graph specs.",
        epilog="exit codes: 0 ok, 1 invalid input, 2 usage error, 3 non-finite numbers in "
               "training, 4 internal error, 130 interrupted")
    parser.add_argument("--version", action="version", version=f"{prog} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # Every command that reads specs or lists ops can first import op plugins.
    plugins = argparse.ArgumentParser(add_help=False)
    plugins.add_argument("--plugin", metavar="MODULE", action="append", default=[],
                         help="import this module (or nnspec.ops entry point) first, to "
                         "register its ops; repeatable")
    json_out = argparse.ArgumentParser(add_help=False)
    json_out.add_argument("--json", metavar="PATH", type=_output_path,
                          help="also write a machine-readable summary to PATH ('-': stdout)")

    run = commands.add_parser("run", parents=[plugins, json_out],
                              help="train a spec as its train: section says",
                              description="Train SPEC as its train: section says; print "
                              "progress, the final loss and metrics, and the outputs beside "
                              "the targets. Ctrl-C stops after the current step (and writes "
                              "the --save checkpoint).")
    run.add_argument("spec", metavar="SPEC", help="a .yaml, .yml or .json spec file")
    run.add_argument("--data", metavar="FILE", type=Path,
                     help="train on this .npz, .npy or .csv file instead of train.data")
    run.add_argument("--epochs", type=whole_number(0),
                     help="override train.epochs (with --resume: the total, counting the "
                     "epochs already done)")
    run.add_argument("--lr", type=positive_float, help="override the optimizer's lr")
    run.add_argument("--seed", type=whole_number(0),
                     help="override train.seed (initialisation, shuffling, dropout)")
    run.add_argument("--batch-size", type=whole_number(1), help="override train.batch_size")
    run.add_argument("--quiet", "-q", action="store_true", help="print only the final line")
    run.add_argument("--log-every", metavar="N", type=whole_number(1),
                     help="a progress line every N epochs (default: every epoch up to 100 "
                     "epochs, else every tenth of the run)")
    run.add_argument("--check", action="store_true",
                     help="check every step: each value and gradient as it is made (shapes, "
                     "dtypes, finiteness), failures naming the node; slower")
    run.add_argument("--load", metavar="WEIGHTS", type=Path,
                     help="start from these weights (.safetensors or .npz)")
    run.add_argument("--save", metavar="PATH", type=Path,
                     help="write a checkpoint here when training ends (.safetensors: weights "
                     "and the whole training state; .npz: weights only)")
    run.add_argument("--save-every", metavar="N", type=whole_number(1),
                     help="also write the --save checkpoint every N epochs")
    run.add_argument("--save-best", action="store_true",
                     help="write the --save checkpoint only when the monitored number "
                     "improves (early_stopping.monitor, else val_loss or loss)")
    run.add_argument("--resume", metavar="CHECKPOINT", type=Path,
                     help="continue the run a --save checkpoint recorded")
    run.add_argument("--plot", metavar="PNG", type=Path,
                     help="draw the loss and metric curves to this image (needs matplotlib)")

    trained = argparse.ArgumentParser(add_help=False)
    trained.add_argument("spec", metavar="SPEC", help="a .yaml, .yml or .json spec file")
    trained.add_argument("--weights", metavar="WEIGHTS", type=Path, required=True,
                         help="a checkpoint written by run --save (.safetensors or .npz)")
    trained.add_argument("--data", metavar="FILE", type=Path,
                         help="an .npz, .npy or .csv file of rows (default: the spec's test "
                         "section, else its training data)")

    predict = commands.add_parser("predict", parents=[plugins, trained, json_out],
                                  help="run a trained spec on data",
                                  description="Run SPEC in eval mode on data; print (or "
                                  "write) its outputs, the predicted class of a classifier, "
                                  "and the loss when the data holds the targets.")
    predict.add_argument("-o", "--output", metavar="OUT", type=Path,
                         help="write the predictions to OUT: .npy, .npz or .csv")

    commands.add_parser("evaluate", parents=[plugins, trained, json_out],
                        help="the loss and metrics of a trained spec on data",
                        description="Report the loss and metrics (train.metrics; accuracy or "
                        "mae/rmse/r2 when it names none) of SPEC with WEIGHTS on the test "
                        "section or --data FILE.")

    add_info_commands(commands, plugins)
    graph.add_parser(commands, [plugins])
    export.add_parser(commands, [plugins])
    import_onnx.add_parser(commands, [plugins])
    trace.add_parser(commands, [plugins])
    gradcheck.add_parser(commands, [plugins])
    summary.add_parser(commands, [plugins])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("run", "predict", "evaluate"):
        from ..run.allocator import keep_freed_memory

        keep_freed_memory()
    try:
        for name in getattr(args, "plugin", []):
            from ..ops.plugins import load_plugin

            load_plugin(name)
        if args.command == "run":
            return command_run(args, sys.stdout, sys.stderr)
        if args.command == "predict":
            return command_predict(args, sys.stdout)
        if args.command == "evaluate":
            return command_evaluate(args, sys.stdout)
        if args.command in INFO_COMMANDS:
            return run_info_command(args, sys.stdout, sys.stderr)
        if args.command == "graph":
            return graph.command_graph(args, sys.stdout)
        if args.command == "export":
            return export.command_export(args, sys.stdout)
        if args.command == "import":
            return import_onnx.command_import(args, sys.stdout)
        if args.command == "trace":
            return trace.command_trace(args, sys.stdout)
        if args.command == "gradcheck":
            return gradcheck.command_gradcheck(args, sys.stdout)
        if args.command == "summary":
            return summary.command_summary(args, sys.stdout)
        raise InternalError(f"no handler for the command {args.command!r}")
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
