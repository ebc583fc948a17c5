"""`import MODEL.onnx -o SPEC.yaml [--weights-out W.safetensors]`: an ONNX model as a spec."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from ..core.errors import ExitCode, InterpreterError
from ..core.files import check_writable


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add `import` to the subcommands (`commands`, from add_subparsers)."""
    command = commands.add_parser(
        "import", parents=parents, help="turn an ONNX model into a spec (and weights file)",
        description="Map each node of an ONNX model onto an op of ours (where the semantics "
        "match exactly) and write the spec: graph inputs as inputs (dim_param as symbols), "
        "initializers as parameters, literal in the spec when small, all of them in the "
        "weights file. Every unsupported op is listed in one error. Needs the onnx extra: "
        "pip install 'nnspec-interpreter[onnx]'.")
    command.add_argument("model", metavar="MODEL", type=Path, help="an .onnx file")
    command.add_argument("-o", "--output", metavar="SPEC", type=Path, required=True,
                         help="where to write the spec (SPEC.yaml)")
    command.add_argument("--weights-out", metavar="WEIGHTS", type=Path,
                         help="where to write every parameter and state value (.safetensors; "
                         "default: beside SPEC, when the spec alone does not hold them)")


def command_import(args: argparse.Namespace, out: TextIO) -> int:
    from ..api import save_checkpoint
    from ..onnx.importer import build_network, import_model, require_onnx, write_spec

    path: Path = args.output
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise InterpreterError(f"-o {path}: the spec is written as SPEC.yaml")
    weights: Path | None = args.weights_out
    if weights is not None and weights.suffix.lower() != ".safetensors":
        raise InterpreterError(f"--weights-out {weights}: weights are written as "
                               "FILE.safetensors")
    check_writable(path, "-o")
    require_onnx()
    imported = import_model(args.model)
    net = build_network(imported)
    if weights is None and not imported.in_spec():
        weights = path.with_suffix(".safetensors")
    if weights is not None:
        check_writable(weights, "--weights-out")
    write_spec(imported, path)
    ops = sorted({node["op"] for node in imported.spec["nodes"]})
    count = len(imported.spec["nodes"])
    print(f"wrote {path}: {count} node{'s' if count != 1 else ''} ({', '.join(ops)}); inputs "
          f"{', '.join(net.inputs)}; outputs {', '.join(net.outputs)}", file=out)
    if weights is not None:
        save_checkpoint(net, weights, {"imported_from": str(args.model)})
        print(f"wrote {weights}: {len(imported.values)} arrays (use it with --weights)",
              file=out)
    return ExitCode.OK
