"""What `graph` draws, and the same drawing as Graphviz DOT text.

A `Drawing` is the network's computation graph made ready to draw, the same for every
format: one box per graph input, node and result, one arrow per argument. Every arrow
carries the symbolic shape of the tensor it carries, so `(batch, 3)` reads the same way the
spec writes it. The outputs and the loss each get a small result box of their own below the
node that makes them, so their shapes sit on an arrow too. Sources (graph inputs, `parameter`
and `constant` nodes) have no arrows in.

Tied parameters (`params: {W: {tie: enc.W}}`) are one tensor used in two places: the node
that uses another's tensor lists it as `W = enc.W (3, 3)`, and a dashed line without an
arrowhead joins the two nodes.

`layout` places the boxes for the HTML view (`html`); DOT leaves that to Graphviz.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.dims import format_shape
from ..core.errors import InterpreterError

# Kinds of box, each with its look (fill, border, shape in DOT, double border or not).
STYLES: dict[str, dict[str, Any]] = {
    "input": {"fill": "#dcf1dc", "border": "#2e7d32", "dot_shape": "ellipse", "double": False},
    "parameter": {"fill": "#ececec", "border": "#6b6b6b", "dot_shape": "box", "double": False},
    "constant": {"fill": "#ececec", "border": "#6b6b6b", "dot_shape": "box", "double": False},
    "op": {"fill": "#ffffff", "border": "#333333", "dot_shape": "box", "double": False},
    "output": {"fill": "#dbe7fb", "border": "#1f5fbf", "dot_shape": "box", "double": True},
    "loss": {"fill": "#fbe0d6", "border": "#c0392b", "dot_shape": "box", "double": True},
}
LEGEND = ("green ovals: graph inputs · grey: parameters and constants\n"
          "blue, double border: outputs · red, double border: the loss\n"
          "arrows: tensors, labelled with their shapes · dashed line: a tied parameter")


@dataclass(frozen=True)
class Box:
    """One thing drawn: a graph input, a node, or a result (an output or the loss)."""

    key: str  # unique in the drawing: the input name, the node id, or `id@output`/`id@loss`
    title: str  # the first line: the name or node id
    kind: str  # a key of STYLES
    op: str | None = None
    details: tuple[str, ...] = ()  # the lines under the title: shapes of params or sources
    unused: bool = False  # nothing the outputs or the loss need
    tooltip: str = ""

    @property
    def lines(self) -> tuple[str, ...]:
        return (self.title,) + ((self.op,) if self.op else ()) + self.details


@dataclass(frozen=True)
class Arrow:
    """A tensor from one box to another (`kind` "data"), or a tie between two nodes."""

    source: str
    target: str
    label: str  # the tensor's shape, `(batch, 3)`; a tie's parameter
    argument: str = ""  # the argument of the target's op it binds to
    kind: str = "data"


@dataclass
class Drawing:
    name: str
    caption: str
    boxes: list[Box] = field(default_factory=list)
    arrows: list[Arrow] = field(default_factory=list)


def _tensor(tensor: Any, float_dtype: Any) -> str:
    """A tensor's shape, and its dtype when it is not the network's float type."""
    text = format_shape(tensor.shape)
    return text if tensor.dtype == float_dtype else f"{text} {tensor.dtype}"


def _attrs(attrs: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in attrs.items())


def build_drawing(net: Any) -> Drawing:
    """The drawing of a loaded network (`interpreter.load(path, data=False)` is enough)."""
    spec, types, graph = net.spec, net.types, net.graph
    values, float_dtype = types.values, net.dtype
    ties = net.params.ties
    count = net.parameter_count()
    caption = (f"{len(spec.nodes)} node{'s' if len(spec.nodes) != 1 else ''}, {count} "
               f"parameter{'s' if count != 1 else ''}, {net.dtype}")
    drawing = Drawing(spec.name, caption)
    used_inputs = {ref for node in graph.order for ref in node.spec.inputs}
    for name in spec.inputs:
        shape = _tensor(values[name], float_dtype)
        drawing.boxes.append(Box(name, name, "input", "input", (shape,),
                                 unused=name not in used_inputs,
                                 tooltip=f"graph input {name}: {shape}"))
    for node in graph.order:
        op = node.op.name
        kind = op if op in ("parameter", "constant") else "op"
        if node.id == spec.loss:
            kind = "loss"
        elif node.id in spec.outputs:
            kind = "output"
        details, tips = [], [f"{node.id}: {op}"]
        if node.spec.attrs:
            tips.append(f"attrs: {_attrs(node.spec.attrs)}")
        for local, shape in types.params.get(node.id, {}).items():
            # A parameter node's one tensor has an empty local name: it is the node.
            own = f"{node.id}.{local}" if local else node.id
            prefix = f"{local} " if local else ""
            if own in ties:
                details.append(f"{local or 'value'} = {ties[own]} {format_shape(shape)}")
                drawing.arrows.append(Arrow(ties[own].split(".")[0], node.id,
                                            local or "value", kind="tie"))
            else:
                details.append(f"{prefix}{format_shape(shape)}")
        if details:
            tips.append(f"params: {'; '.join(details)}")
        if op == "constant":
            details.append(format_shape(values[node.id].shape))
        out = _tensor(values[node.id], float_dtype)
        tips.append(f"output: {out}")
        if node.spec.doc:
            tips.append(node.spec.doc.strip())
        drawing.boxes.append(Box(node.id, node.id, kind, op, tuple(details),
                                 unused=node.id not in graph.needed, tooltip="\n".join(tips)))
        for position, ref in enumerate(node.spec.inputs):
            source, label = _source(ref, values, float_dtype)
            drawing.arrows.append(Arrow(source, node.id, label, node.op.arg_name(position)))
    results = [(name, "output") for name in spec.outputs]
    results += [(spec.loss, "loss")] if spec.loss else []
    for name, role in results:
        what = "the loss training minimises" if role == "loss" else "an output of the network"
        shape = _tensor(values[name], float_dtype)
        drawing.boxes.append(Box(f"{name}@{role}", role, role,
                                 tooltip=f"{name}: {what}, {shape}"))
        source, label = _source(name, values, float_dtype)
        drawing.arrows.append(Arrow(source, f"{name}@{role}", label))
    return drawing


def _source(ref: str, values: dict, float_dtype: Any) -> tuple[str, str]:
    """The box an arrow from `ref` leaves, and its label: a further output (`ln.mean`)
    leaves its node's box, labelled with its name."""
    node, _, output = ref.partition(".")
    label = _tensor(values[ref], float_dtype)
    return node, f"{output}: {label}" if output else label


# ----- DOT ------------------------------------------------------------------------------


def quote(text: str) -> str:
    """A DOT quoted string: backslashes and quotes escaped, newlines as DOT's `\\n`."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "").replace("\n", "\\n") + '"'


def _attributes(pairs: dict[str, str]) -> str:
    return "[" + ", ".join(f"{key}={quote(value)}" for key, value in pairs.items()) + "]"


def dot_text(drawing: Drawing) -> str:
    """The drawing as a Graphviz digraph, deterministic (the same spec gives the same
    bytes): boxes in the spec's order, then arrows in the order of the nodes' arguments."""
    font = "Helvetica"
    lines = [f"digraph {quote(drawing.name)} {{",
             "  " + "graph " + _attributes({
                 "rankdir": "TB", "fontname": font, "fontsize": "12", "labelloc": "t",
                 "label": f"{drawing.name}: {drawing.caption}\n{LEGEND}",
                 "nodesep": "0.3", "ranksep": "0.45"}) + ";",
             "  node " + _attributes({"fontname": font, "fontsize": "11", "shape": "box",
                                      "style": "rounded,filled", "margin": "0.12,0.06"}) + ";",
             "  edge " + _attributes({"fontname": font, "fontsize": "9",
                                      "color": "#555555", "arrowsize": "0.7"}) + ";"]
    for box in drawing.boxes:
        style = STYLES[box.kind]
        attributes = {"label": "\n".join(box.lines), "shape": style["dot_shape"],
                      "fillcolor": style["fill"], "color": style["border"],
                      "tooltip": box.tooltip or box.title}
        if box.key != box.title:  # a result box: small, under the node it belongs to
            attributes.update({"shape": "oval", "fontsize": "10", "height": "0.3"})
        if style["double"] and box.key == box.title:
            attributes["peripheries"] = "2"
        if box.unused:
            attributes["style"] = "rounded,filled,dashed"
        lines.append(f"  {quote(box.key)} {_attributes(attributes)};")
    for arrow in drawing.arrows:
        if arrow.kind == "tie":
            attributes = {"label": f"tied {arrow.label}", "style": "dashed", "dir": "none",
                          "constraint": "false", "color": "#888888", "fontcolor": "#666666"}
        else:
            attributes = {"label": f" {arrow.label} "}
        lines.append(f"  {quote(arrow.source)} -> {quote(arrow.target)} "
                     f"{_attributes(attributes)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def graphviz_missing(target: Path) -> str:
    """What to do when `dot` is not installed: how to get it, and what works without it."""
    return (f"drawing {target} needs Graphviz's 'dot' program, which is not on PATH; "
            "get Graphviz:\n"
            "  apt install graphviz      (Debian, Ubuntu)\n"
            "  brew install graphviz     (macOS)\n"
            "  conda install graphviz    (conda, any system)\n"
            "  or see https://graphviz.org/download/\n"
            f"or draw without it: -o {target.with_suffix('.dot')} (DOT text) or "
            f"-o {target.with_suffix('.html')} (a self-contained page that needs nothing)")


def render_with_graphviz(text: str, target: Path, timeout: float = 60.0) -> bytes:
    """DOT text drawn by Graphviz's `dot` in the format `target`'s suffix names (svg, png)."""
    program = shutil.which("dot")
    if program is None:
        raise InterpreterError(graphviz_missing(target))
    fmt = target.suffix.lower().lstrip(".")
    try:
        done = subprocess.run([program, f"-T{fmt}"], input=text.encode(), capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise InterpreterError(f"Graphviz's dot took more than {timeout:g} s to draw the "
                               f"graph; write -o {target.with_suffix('.html')} instead") from None
    except OSError as exc:
        raise InterpreterError(f"cannot run {program}: {exc.strerror or exc}") from None
    if done.returncode != 0 or not done.stdout:
        message = done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}"
        raise InterpreterError(f"Graphviz's dot failed: {message}")
    return done.stdout
