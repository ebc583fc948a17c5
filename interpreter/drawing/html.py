"""The drawing as one self-contained HTML page: an inline SVG placed by `layout`, a
little CSS and a little script, and nothing fetched (no CDN, no web fonts, no system
program). Hovering a box lights its arrows; clicking it shows its details (attrs,
parameters, output shape, doc) in a panel; each box and arrow also has an SVG <title>,
which browsers show as a tooltip.
"""
from __future__ import annotations

from html import escape

from .layout import layered_layout
from .view import LEGEND, STYLES, Box, Drawing

# The page's font is the system's monospace, so text widths can be known here: about 0.6 em
# a character, a little more for the bold titles.
FONT_SIZE, CHAR_WIDTH, TITLE_WIDTH, LINE_HEIGHT = 12, 7.4, 8.0, 15
PADDING_X, PADDING_Y = 12, 8
LABEL_CHAR_WIDTH = 6.2  # the arrows' labels are 10 px
TIE_ROOM = 60  # beside the drawing, for the curves joining tied parameters

CSS = """
body { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono",
       monospace; margin: 16px; color: #222; background: #fff; }
h1 { font-size: 18px; margin: 0 0 4px; }
p { margin: 0 0 6px; font-size: 13px; }
.legend { color: #555; font-size: 12px; white-space: pre-line; }
.canvas { overflow: auto; border-top: 1px solid #ddd; padding-top: 8px; }
svg { display: block; }
.node { cursor: pointer; }
.node text { font-size: 12px; fill: #222; }
.node .title { font-weight: bold; font-size: 13px; }
.node .op { fill: #444; font-style: italic; }
.node.unused rect { stroke-dasharray: 4 3; }
.edge path { fill: none; stroke: #666; stroke-width: 1.2; }
.edge text, .tie text { font-size: 10px; fill: #333; paint-order: stroke; stroke: #fff;
                         stroke-width: 4px; stroke-linejoin: round; }
.edge.lit path { stroke: #d35400; stroke-width: 2.4; }
.edge.lit text { fill: #d35400; font-weight: bold; }
.tie path { fill: none; stroke: #888; stroke-width: 1.2; stroke-dasharray: 5 4; }
#details { position: fixed; right: 16px; top: 16px; max-width: 40%; white-space: pre-wrap;
           background: #fffbe6; border: 1px solid #d9c77a; padding: 8px 10px;
           font-size: 12px; }
"""

SCRIPT = """
(function () {
  var svg = document.getElementById("graph");
  var details = document.getElementById("details");
  var edges = Array.prototype.slice.call(svg.querySelectorAll(".edge"));
  var nodes = svg.querySelectorAll(".node");
  function light(id, on) {
    edges.forEach(function (edge) {
      if (edge.dataset.source === id || edge.dataset.target === id) {
        edge.classList.toggle("lit", on);
      }
    });
  }
  Array.prototype.forEach.call(nodes, function (node) {
    node.addEventListener("mouseenter", function () { light(node.dataset.id, true); });
    node.addEventListener("mouseleave", function () { light(node.dataset.id, false); });
    node.addEventListener("click", function () {
      details.textContent = node.dataset.details;
      details.hidden = false;
    });
  });
  details.addEventListener("click", function () { details.hidden = true; });
  document.body.dataset.ready = String(nodes.length);
})();
"""


def _size(box: Box) -> tuple[float, float]:
    if box.key != box.title:  # a result box: one small line
        return len(box.title) * CHAR_WIDTH + 2 * PADDING_X, LINE_HEIGHT + PADDING_Y
    widths = [len(line) * (TITLE_WIDTH if n == 0 else CHAR_WIDTH)
              for n, line in enumerate(box.lines)]
    return max(widths) + 2 * PADDING_X, len(box.lines) * LINE_HEIGHT + 2 * PADDING_Y


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _curve(points: list[tuple[float, float]]) -> str:
    """An SVG path through the points, vertical at each one (a cubic per segment)."""
    (x, y), parts = points[0], [f"M{_number(points[0][0])},{_number(points[0][1])}"]
    for nx_, ny in points[1:]:
        middle = (y + ny) / 2
        parts.append(f"C{_number(x)},{_number(middle)} {_number(nx_)},{_number(middle)} "
                     f"{_number(nx_)},{_number(ny)}")
        x, y = nx_, ny
    return " ".join(parts)


def _label_place(start: tuple[float, float], end: tuple[float, float], length: int,
                 placed: list[tuple[float, float, float, float]]) -> tuple[float, float]:
    """Where on an arrow's first segment its label goes: the middle, unless another label
    is there already, then the first place along the curve that is free (or the least
    covered). `placed` collects the labels' rectangles."""
    (x0, y0), (x3, y3) = start, end
    middle = (y0 + y3) / 2
    half_width, half_height = length * LABEL_CHAR_WIDTH / 2 + 2, 7

    def overlap(x: float, y: float) -> float:
        return sum(max(0.0, min(x + half_width, right) - max(x - half_width, left))
                   * max(0.0, min(y + half_height, bottom) - max(y - half_height, top))
                   for left, top, right, bottom in placed)

    candidates = []
    for t in (0.5, 0.3, 0.7, 0.15, 0.85):
        # The segment's cubic (see _curve) at t: control points at mid-height.
        x = (1 - t) ** 3 * x0 + 3 * (1 - t) ** 2 * t * x0 + 3 * (1 - t) * t ** 2 * x3 + t ** 3 * x3
        y = (1 - t) ** 3 * y0 + 3 * (1 - t) * t * middle + t ** 3 * y3
        candidates.append((overlap(x, y), len(candidates), x, y))
    _, _, x, y = min(candidates)
    placed.append((x - half_width, y - half_height, x + half_width, y + half_height))
    return x, y


def _box_svg(box: Box, centre: tuple[float, float], size: tuple[float, float]) -> str:
    style = STYLES[box.kind]
    (x, y), (width, height) = centre, size
    left, top = x - width / 2, y - height / 2
    rounding = height / 2 if box.kind == "input" or box.key != box.title else 6
    classes = " ".join(["node", box.kind] + (["result"] if box.key != box.title else [])
                       + (["unused"] if box.unused else []))
    parts = [f'<g class="{classes}" data-id="{escape(box.key)}" data-kind="{box.kind}" '
             f'data-details="{escape(box.tooltip)}">',
             f"<title>{escape(box.tooltip)}</title>",
             f'<rect x="{_number(left)}" y="{_number(top)}" width="{_number(width)}" '
             f'height="{_number(height)}" rx="{_number(rounding)}" fill="{style["fill"]}" '
             f'stroke="{style["border"]}" stroke-width="1.3"/>']
    if style["double"] and box.key == box.title:
        parts.append(f'<rect x="{_number(left + 3)}" y="{_number(top + 3)}" '
                     f'width="{_number(width - 6)}" height="{_number(height - 6)}" '
                     f'rx="{_number(max(rounding - 3, 1))}" fill="none" '
                     f'stroke="{style["border"]}" stroke-width="1"/>')
    first = top + PADDING_Y + LINE_HEIGHT * 0.75 if box.key == box.title else y + 4
    for n, line in enumerate(box.lines):
        role = "title" if n == 0 else ("op" if n == 1 and box.op else "detail")
        baseline = first + n * LINE_HEIGHT
        parts.append(f'<text class="{role}" x="{_number(x)}" y="{_number(baseline)}" '
                     f'text-anchor="middle">{escape(line)}</text>')
    parts.append("</g>")
    return "".join(parts)


def html_page(drawing: Drawing) -> str:
    """The whole page, deterministic for a given drawing."""
    boxes = {box.key: box for box in drawing.boxes}
    sizes = {key: _size(box) for key, box in boxes.items()}
    data = [arrow for arrow in drawing.arrows if arrow.kind == "data"]
    layout = layered_layout(sizes, [(a.source, a.target) for a in data])
    room = TIE_ROOM if any(a.kind == "tie" for a in drawing.arrows) else 0
    width = layout.width + 2 * room
    edges, labelled, placed = [], set(), []
    for arrow, route in zip(data, layout.routes):
        where = f" (argument {arrow.argument})" if arrow.argument else ""
        title = f"{arrow.source} → {arrow.target.split('@')[0]}{where}: {arrow.label}"
        label = ""
        if (arrow.source, arrow.target) not in labelled:  # add(x, x): one label is enough
            labelled.add((arrow.source, arrow.target))
            x, y = _label_place(route[0], route[1], len(arrow.label), placed)
            label = (f'<text x="{_number(x)}" y="{_number(y + 3)}" text-anchor="middle">'
                     f"{escape(arrow.label)}</text>")
        edges.append(f'<g class="edge" data-source="{escape(arrow.source)}" '
                     f'data-target="{escape(arrow.target)}" data-shape="{escape(arrow.label)}">'
                     f"<title>{escape(title)}</title>"
                     f'<path d="{_curve(route)}" marker-end="url(#arrowhead)"/>{label}</g>')
    ties = []
    for arrow in (a for a in drawing.arrows if a.kind == "tie"):
        (x1, y1), (x2, y2) = layout.centres[arrow.source], layout.centres[arrow.target]
        # Side to side, bowed out on the side the borrowing node lies towards.
        side = -1 if x2 <= x1 else 1
        x1 += side * sizes[arrow.source][0] / 2
        x2 += side * sizes[arrow.target][0] / 2
        bulge = (min(x1, x2) if side < 0 else max(x1, x2)) + side * TIE_ROOM * 0.8
        controls = ((bulge, y1), (bulge, y2))
        middle_x = (x1 + 3 * controls[0][0] + 3 * controls[1][0] + x2) / 8
        middle_y = (y1 + 3 * controls[0][1] + 3 * controls[1][1] + y2) / 8
        ties.append(f'<g class="tie" data-source="{escape(arrow.source)}" '
                    f'data-target="{escape(arrow.target)}"><title>{escape(arrow.target)} '
                    f"uses {escape(arrow.source)}'s {escape(arrow.label)}</title>"
                    f'<path d="M{_number(x1)},{_number(y1)} C{_number(controls[0][0])},'
                    f"{_number(controls[0][1])} {_number(controls[1][0])},"
                    f'{_number(controls[1][1])} {_number(x2)},{_number(y2)}"/>'
                    f'<text x="{_number(middle_x + side * 4)}" y="{_number(middle_y)}" '
                    f'text-anchor="{"end" if side < 0 else "start"}">tied '
                    f"{escape(arrow.label)}</text></g>")
    nodes = [_box_svg(box, layout.centres[key], sizes[key]) for key, box in boxes.items()]
    name = escape(drawing.name)
    svg = (f'<svg id="graph" xmlns="http://www.w3.org/2000/svg" width="{_number(width)}" '
           f'height="{_number(layout.height)}" viewBox="0 0 {_number(width)} '
           f'{_number(layout.height)}" role="img" aria-label="the computation graph of {name}">'
           '<defs><marker id="arrowhead" viewBox="0 0 10 10" refX="9" refY="5" '
           'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
           '<path d="M0,0 L10,5 L0,10 z" fill="#666"/></marker></defs>'
           f'<g transform="translate({room},0)"><g class="edges">{"".join(edges)}</g>'
           f'<g class="ties">{"".join(ties)}</g><g class="nodes">{"".join(nodes)}</g></g>'
           "</svg>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{name}: computation graph</title>\n<style>{CSS}</style>\n</head>\n"
            f"<body>\n<h1>{name}</h1>\n<p>{escape(drawing.caption)}</p>\n"
            f'<p class="legend">{escape(LEGEND)}\nhover a box to light its arrows; click it '
            "for its details</p>\n"
            f'<div class="canvas">{svg}</div>\n<div id="details" hidden></div>\n'
            f"<script>{SCRIPT}</script>\n</body>\n</html>\n")
