"""`graph SPEC -o FILE`: draw the computation graph as .dot, .svg, .png or .html."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from ..core.errors import ExitCode
from ..core.files import write_atomically
from .output import STDOUT, check_output

SUFFIXES = (".dot", ".gv", ".svg", ".png", ".html", ".htm")


def _graph_output(text: str) -> Path:
    if text == "-":
        return STDOUT
    path = Path(text)
    if path.suffix.lower() not in SUFFIXES:
        found = f"unknown format '{path.suffix}'" if path.suffix else "no suffix"
        raise argparse.ArgumentTypeError(f"{text}: {found}; the suffix picks the format: "
                                         ".dot, .svg, .png or .html (or - for DOT on stdout)")
    return path


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add `graph` to the subcommands (`commands`, from add_subparsers)."""
    graph = commands.add_parser(
        "graph", parents=parents, help="draw the computation graph (.dot, .svg, .png, .html)",
        description="Draw SPEC's computation graph: op names, parameter shapes, tensor "
        "shapes on the arrows, the inputs, outputs and loss marked. The suffix of FILE picks "
        "the format: .dot (Graphviz text, always available), .svg and .png (drawn by "
        "Graphviz's dot, which must be installed), .html (a self-contained page that needs "
        "no other program); '-' writes the DOT to stdout.")
    graph.add_argument("spec", metavar="SPEC", help="a .yaml, .yml or .json spec file")
    graph.add_argument("-o", "--output", metavar="FILE", type=_graph_output, required=True,
                       help="where to write: FILE.dot, FILE.svg, FILE.png, FILE.html, or -")


def command_graph(args: argparse.Namespace, out: TextIO) -> int:
    from ..api import load
    from ..drawing.html import html_page
    from ..drawing.view import build_drawing, dot_text, render_with_graphviz

    path: Path = args.output
    check_output(path, "-o")
    drawing = build_drawing(load(args.spec, data=False))
    if path == STDOUT:
        out.write(dot_text(drawing))
        out.flush()
        return ExitCode.OK
    suffix = path.suffix.lower()
    if suffix in (".dot", ".gv"):
        content = dot_text(drawing).encode()
    elif suffix in (".html", ".htm"):
        content = html_page(drawing).encode()
    else:
        content = render_with_graphviz(dot_text(drawing), path)
    write_atomically(path, lambda stream: stream.write(content))
    nodes = sum(1 for box in drawing.boxes if box.key == box.title and box.kind != "input")
    arrows = sum(1 for arrow in drawing.arrows if arrow.kind == "data")
    print(f"wrote {path}: {nodes} nodes, {arrows} arrows", file=out)
    return ExitCode.OK

