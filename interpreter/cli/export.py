"""`export SPEC -o model.onnx`: the eval-mode inference graph as an ONNX model."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from ..core.errors import ExitCode, InterpreterError
from ..core.files import check_writable


def _opset(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add `export` to the subcommands (`commands`, from add_subparsers)."""
    export = commands.add_parser(
        "export", parents=parents, help="write the inference graph as an ONNX model",
        description="Write SPEC's inference graph in eval mode (dropout the identity, batch "
        "norm with its running statistics) as an ONNX model: parameters as initializers "
        "with the spec's names, symbolic dims as dim_param. Needs the onnx extra: "
        "pip install 'nnspec-interpreter[onnx]'.")
    export.add_argument("spec", metavar="SPEC", help="a .yaml, .yml or .json spec file")
    export.add_argument("--weights", metavar="WEIGHTS", type=Path,
                        help="a checkpoint written by run --save (.safetensors or .npz); "
                        "without it, the spec's initial values (from train.seed)")
    export.add_argument("-o", "--output", metavar="FILE", type=Path, required=True,
                        help="where to write the model (FILE.onnx)")
    export.add_argument("--opset", metavar="N", type=_opset, default=None,
                        help="the ONNX opset to write, 13 to 21 (default 17)")
    export.add_argument("--with-loss", action="store_true",
                        help="also export the loss node, as an output, and its target inputs")


def command_export(args: argparse.Namespace, out: TextIO) -> int:
    from ..api import load, load_checkpoint
    from ..onnx.export import require_onnx, to_onnx

    path: Path = args.output
    if path.suffix.lower() != ".onnx":
        raise InterpreterError(f"-o {path}: an ONNX model is written as FILE.onnx")
    check_writable(path, "-o")
    require_onnx()
    net = load(args.spec, data=False)
    if args.weights is not None:
        load_checkpoint(net, args.weights)
    model = to_onnx(net, path, opset=args.opset, with_loss=args.with_loss)
    graph = model.graph
    print(f"wrote {path}: opset {model.opset_import[0].version}, {len(graph.node)} ONNX "
          f"nodes for {len(net.node_ops)} spec nodes, {len(graph.initializer)} initializers; "
          f"inputs {', '.join(i.name for i in graph.input)}; "
          f"outputs {', '.join(o.name for o in graph.output)}", file=out)
    return ExitCode.OK
