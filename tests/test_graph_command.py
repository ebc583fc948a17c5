"""`graph SPEC -o FILE`: DOT for every spec, SVG and PNG drawn by a real Graphviz, an HTML
page opened in a real headless Chromium, and clear failures on bad input.

The Graphviz and Chromium tests skip only when those programs are missing; .ci/run installs
both, so CI runs them.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

import interpreter
from interpreter.core.dims import format_shape
from interpreter.cli import main
from interpreter.drawing.layout import layered_layout, place_in_order
from interpreter.drawing.view import build_drawing, dot_text, quote

from .conftest import ROOT, SPECS

XOR = ROOT / "specs" / "xor.yaml"
SVG = "{http://www.w3.org/2000/svg}"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser",
                                                 "google-chrome") if shutil.which(name)), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")

# Ties, a parameter node, a constant, an argument used twice, a node nothing needs.
TIED = """version: 1
name: tied
inputs:
  X: {shape: [batch, 3]}
  "y": {shape: [batch, 3]}
nodes:
  - {id: enc, op: linear, inputs: [X], attrs: {out_features: 3}}
  - {id: h, op: tanh, inputs: [enc], doc: 'say "hi" <b>\\n</b>'}
  - {id: dec, op: linear, inputs: [h], attrs: {out_features: 3}, params: {W: {tie: enc.W}}}
  - {id: P, op: parameter, attrs: {shape: [3]}}
  - {id: c, op: constant, attrs: {value: [1.0, 2.0, 3.0]}}
  - {id: s, op: add, inputs: [dec, P]}
  - {id: t, op: mul, inputs: [s, c]}
  - {id: both, op: add, inputs: [t, t]}
  - {id: spare, op: relu, inputs: [h]}
  - {id: loss, op: mse, inputs: [both, "y"]}
outputs: [both]
loss: loss
"""


def graph(argv, capsys):
    code = main(["graph", *map(str, argv)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def expected(spec: Path):
    """What every drawing of `spec` must show: names, ops, and the shape on each arrow."""
    net = interpreter.load(spec, data=False)
    shapes = [tensor(net, ref) for node in net.spec.nodes for ref in node.inputs]
    return net, shapes


def tensor(net, name: str) -> str:
    """An arrow's label: the shape, and the dtype when it is not the network's float."""
    value = net.types.values[name]
    dtype = "" if value.dtype == net.dtype else f" {value.dtype}"
    return format_shape(value.shape) + dtype


@pytest.fixture
def tied(tmp_path) -> Path:
    path = tmp_path / "tied.yaml"
    path.write_text(TIED)
    return path


# ----- DOT ------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_every_spec_draws_to_dot_with_its_nodes_ops_shapes_and_roles(spec, tmp_path, capsys):
    out = tmp_path / "graph.dot"
    code, printed, err = graph([spec, "-o", out], capsys)
    assert (code, err) == (0, "")
    net, shapes = expected(spec)
    assert printed == (f"wrote {out}: {len(net.spec.nodes)} nodes, "
                       f"{len(shapes) + len(net.outputs) + 1} arrows\n")
    text = out.read_text()
    assert text.startswith(f'digraph "{net.spec.name}" {{\n') and text.endswith("}\n")
    for node in net.spec.nodes:
        assert re.search(rf'^  "{node.id}" \[label="{node.id}\\n{node.op}[\\"]', text, re.M)
    for name in net.inputs:
        assert f'"{name}" [label="{name}\\ninput\\n' in text
    for shape in shapes:
        assert f'[label=" {shape}' in text
    assert f'"{net.outputs[0]}" -> "{net.outputs[0]}@output"' in text
    assert f'"{net.loss}" -> "{net.loss}@loss" [label=" () "]' in text
    # The same spec gives the same bytes.
    graph([spec, "-o", tmp_path / "again.dot"], capsys)
    assert (tmp_path / "again.dot").read_text() == text


def test_the_xor_dot_labels_parameter_shapes_and_marks_inputs_outputs_and_loss():
    text = dot_text(build_drawing(interpreter.load(XOR, data=False)))
    assert '"a1" [label="a1\\nlinear\\nW (2, 3)\\nb (1, 3)", shape="box"' in text
    assert re.search(r'"X" \[[^\n]*shape="ellipse", fillcolor="#dcf1dc"', text)
    assert re.search(r'"a2" \[[^\n]*fillcolor="#dbe7fb"[^\n]*peripheries="2"', text)
    assert re.search(r'"loss" \[[^\n]*fillcolor="#fbe0d6"[^\n]*peripheries="2"', text)
    assert '"o1" -> "a2" [label=" (batch, 3) "];' in text
    assert "green ovals: graph inputs" in text  # the legend


def test_ties_parameters_constants_and_unused_nodes_are_drawn(tied, tmp_path, capsys):
    out = tmp_path / "tied.dot"
    assert graph([tied, "-o", out], capsys)[0] == 0
    text = out.read_text()
    assert '"dec" [label="dec\\nlinear\\nW = enc.W (3, 3)\\nb (1, 3)"' in text
    assert '"enc" -> "dec" [label="tied W", style="dashed", dir="none"' in text
    assert '"P" [label="P\\nparameter\\n(3,)"' in text
    assert '"c" [label="c\\nconstant\\n(3,)"' in text
    assert text.count('"t" -> "both"') == 2  # add(t, t) takes t twice
    assert re.search(r'"spare" \[[^\n]*style="rounded,filled,dashed"', text)
    # The doc's quotes and backslash are escaped, so the file stays valid DOT.
    assert 'say \\"hi\\" <b>\\\\n</b>' in text


def test_dot_strings_are_quoted_and_escaped():
    assert quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


@needs_dot
@pytest.mark.parametrize("spec", SPECS + ["tied"], ids=lambda p: getattr(p, "name", p))
def test_graphviz_accepts_every_dot_file(spec, tied):
    text = dot_text(build_drawing(interpreter.load(tied if spec == "tied" else spec,
                                                   data=False)))
    done = subprocess.run(["dot", "-Tsvg"], input=text.encode(), capture_output=True,
                          timeout=60, check=False)
    assert done.returncode == 0 and done.stderr == b"", done.stderr.decode()


def test_dash_writes_the_dot_to_stdout_and_nothing_else(capsys):
    code, printed, err = graph([XOR, "-o", "-"], capsys)
    assert (code, err) == (0, "")
    assert printed == dot_text(build_drawing(interpreter.load(XOR, data=False)))


# ----- SVG and PNG through Graphviz ----------------------------------------------------------


def svg_nodes(path: Path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    return {g.find(f"{SVG}title").text: g for g in root.iter(f"{SVG}g")
            if g.get("class") == "node"}


@needs_dot
@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_the_svg_graphviz_draws_shows_every_node_op_and_shape(spec, tmp_path, capsys):
    out = tmp_path / "graph.svg"
    assert graph([spec, "-o", out], capsys)[0] == 0
    net, shapes = expected(spec)
    nodes = svg_nodes(out)
    for node in net.spec.nodes:
        texts = [t.text for t in nodes[node.id].iter(f"{SVG}text")]
        assert texts[:2] == [node.id, node.op]
    for name in net.inputs:
        assert [t.text for t in nodes[name].iter(f"{SVG}text")][1] == "input"
        assert next(nodes[name].iter(f"{SVG}ellipse")).get("fill") == "#dcf1dc"
    # Outputs and the loss have a double border: two outlines.
    for name in net.outputs + [net.loss]:
        assert len(list(nodes[name].iter(f"{SVG}path"))) == 2
    assert next(nodes[f"{net.loss}@loss"].iter(f"{SVG}text")).text == "loss"
    labels = [t.text.strip() for g in ET.parse(out).getroot().iter(f"{SVG}g")
              if g.get("class") == "edge" for t in g.iter(f"{SVG}text")]
    assert sorted(labels) == sorted(shapes + ["()"] + [tensor(net, o) for o in net.outputs])


@needs_dot
def test_the_xor_svg_lists_the_parameter_shapes(tmp_path, capsys):
    out = tmp_path / "xor.svg"
    graph([XOR, "-o", out], capsys)
    texts = [t.text for t in svg_nodes(out)["a1"].iter(f"{SVG}text")]
    assert texts == ["a1", "linear", "W (2, 3)", "b (1, 3)"]


@needs_dot
def test_png_is_drawn_by_graphviz(tmp_path, capsys):
    out = tmp_path / "xor.png"
    assert graph([XOR, "-o", out], capsys)[0] == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_without_graphviz_svg_and_png_say_how_to_get_it(suffix, tmp_path, capsys,
                                                         monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot there
    out = tmp_path / f"graph{suffix}"
    code, printed, err = graph([XOR, "-o", out], capsys)
    assert (code, printed) == (1, "")
    assert err == (f"error: drawing {out} needs Graphviz's 'dot' program, which is not on "
                   "PATH; get Graphviz:\n"
                   "  apt install graphviz      (Debian, Ubuntu)\n"
                   "  brew install graphviz     (macOS)\n"
                   "  conda install graphviz    (conda, any system)\n"
                   "  or see https://graphviz.org/download/\n"
                   f"or draw without it: -o {tmp_path / 'graph.dot'} (DOT text) or "
                   f"-o {tmp_path / 'graph.html'} (a self-contained page that needs nothing)\n")
    assert list(tmp_path.iterdir()) == []


# ----- HTML ---------------------------------------------------------------------------------


class Elements(HTMLParser):
    """Every element with its attributes, and the text inside each <text> element."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.stack: list[dict[str, str]] = []  # the open <g class="node|edge"> groups

    def handle_starttag(self, tag, attrs):
        attributes = {k: v or "" for k, v in attrs}
        self.elements.append((tag, attributes))
        if tag == "g":
            attributes["texts"] = []
            self.stack.append(attributes)
        self.in_text = tag == "text"

    def handle_endtag(self, tag):
        if tag == "g":
            self.stack.pop()
        self.in_text = False

    def handle_data(self, data):
        if getattr(self, "in_text", False):
            for group in self.stack:
                group["texts"].append(data)


def parse_html(text: str) -> Elements:
    parser = Elements()
    parser.feed(text)
    return parser


def groups(parsed: Elements, kind: str) -> list[dict]:
    return [a for tag, a in parsed.elements if tag == "g" and kind in a.get("class", "").split()]


def check_drawn(parsed: Elements, spec: Path) -> None:
    """The page draws each input, node and result, and each arrow with its shape."""
    net, shapes = expected(spec)
    nodes = {g["data-id"]: g for g in groups(parsed, "node")}
    assert set(nodes) == (set(net.inputs) | {n.id for n in net.spec.nodes}
                          | {f"{o}@output" for o in net.outputs} | {f"{net.loss}@loss"})
    for node in net.spec.nodes:
        assert nodes[node.id]["texts"][:2] == [node.id, node.op]
    for name in net.inputs:
        assert "input" in nodes[name]["class"].split()
    for name in net.outputs:
        assert "output" in nodes[name]["class"].split()
    assert "loss" in nodes[net.loss]["class"].split()
    edges = groups(parsed, "edge")
    assert sorted(e["data-shape"] for e in edges if "@" not in e["data-target"]) == sorted(shapes)
    assert all(len(e["texts"]) <= 1 for e in edges)
    assert any(t == shapes[0] for e in edges for t in e["texts"])


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_every_spec_draws_to_a_self_contained_html_page(spec, tmp_path, capsys):
    out = tmp_path / "graph.html"
    code, printed, err = graph([spec, "-o", out], capsys)
    assert (code, err) == (0, "") and printed.startswith(f"wrote {out}: ")
    text = out.read_text()
    check_drawn(parse_html(text), spec)
    # Nothing to fetch: no links, no sources, no imports, no address but the SVG namespace.
    assert not re.search(r"<link|<img|\bsrc=|@import|url\((?!#)", text)
    assert re.findall(r"https?://[^\s\"']+", text) == ["http://www.w3.org/2000/svg"]


def test_the_html_draws_ties_and_escapes_text(tied, tmp_path, capsys):
    out = tmp_path / "tied.html"
    assert graph([tied, "-o", out], capsys)[0] == 0
    text = out.read_text()
    parsed = parse_html(text)
    (tie,) = groups(parsed, "tie")
    assert (tie["data-source"], tie["data-target"], tie["texts"][-1]) == ("enc", "dec",
                                                                          "tied W")
    assert "say &quot;hi&quot; &lt;b&gt;" in text and "<b>" not in text
    node = {g["data-id"]: g for g in groups(parsed, "node")}
    assert "unused" in node["spare"]["class"].split()
    assert node["dec"]["texts"][2] == "W = enc.W (3, 3)"


def test_the_layout_keeps_boxes_apart_and_arrows_pointing_down():
    for spec in SPECS:
        drawing = build_drawing(interpreter.load(spec, data=False))
        sizes = {box.key: (60.0 + 5 * len(box.key), 40.0) for box in drawing.boxes}
        edges = [(a.source, a.target) for a in drawing.arrows if a.kind == "data"]
        layout = layered_layout(sizes, edges)
        rows: dict[float, list[tuple[float, float]]] = {}
        for key, (x, y) in layout.centres.items():
            assert sizes[key][0] / 2 <= x <= layout.width - sizes[key][0] / 2
            rows.setdefault(y, []).append((x - sizes[key][0] / 2, x + sizes[key][0] / 2))
        for spans in rows.values():
            spans.sort()
            assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))
        for (source, target), route in zip(edges, layout.routes):
            assert layout.centres[source][1] < layout.centres[target][1]
            assert all(p[1] < q[1] for p, q in zip(route, route[1:]))


def test_placing_in_order_is_as_close_as_the_gaps_allow():
    assert place_in_order([0, 0, 0], [10, 10]) == [-10, 0, 10]
    placed = place_in_order([5, 100, 0], [10, 10])
    assert placed[0] == 5 and placed[1] == pytest.approx(45) and placed[2] == pytest.approx(55)


# ----- a real browser -------------------------------------------------------------------------


def chromium(*arguments: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
             *arguments], capture_output=True, timeout=120, check=False)


@needs_chromium
@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_chromium_runs_the_page_and_draws_every_box_and_arrow(spec, tmp_path, capsys):
    out = tmp_path / "graph.html"
    graph([spec, "-o", out], capsys)
    done = chromium("--dump-dom", out.as_uri())
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    parsed = parse_html(done.stdout.decode())
    body = next(a for tag, a in parsed.elements if tag == "body")
    # The script ran to its end: it counts the boxes it gave handlers to.
    assert body.get("data-ready") == str(len(groups(parsed, "node")))
    check_drawn(parsed, spec)


@needs_chromium
def test_chromium_paints_the_inputs_outputs_and_loss_in_their_colours(tmp_path, capsys):
    image = pytest.importorskip("PIL.Image")
    out, shot = tmp_path / "xor.html", tmp_path / "xor.png"
    graph([XOR, "-o", out], capsys)
    done = chromium("--hide-scrollbars", "--window-size=900,1000", f"--screenshot={shot}",
                    out.as_uri())
    assert done.returncode == 0 and shot.exists(), done.stderr.decode(errors="replace")[-2000:]
    colours = {colour for _, colour in image.open(shot).convert("RGB").getcolors(1 << 20)}
    for fill in ("#dcf1dc", "#dbe7fb", "#fbe0d6", "#1f5fbf", "#c0392b"):
        rgb = tuple(int(fill[i:i + 2], 16) for i in (1, 3, 5))
        assert rgb in colours, f"{fill} is not on the screenshot"


# ----- bad input ------------------------------------------------------------------------------


def test_an_invalid_spec_fails_with_located_errors(tmp_path, capsys):
    spec = tmp_path / "bad.yaml"
    spec.write_text(XOR.read_text().replace("op: relu", "op: rleu"))
    out = tmp_path / "bad.dot"
    code, printed, err = graph([spec, "-o", out], capsys)
    assert (code, printed) == (1, "")
    assert re.match(rf"{re.escape(str(spec))}:\d+:\d+: node 'o1'.*unknown op 'rleu'", err)
    assert not out.exists()


def test_a_missing_spec_fails_clearly(tmp_path, capsys):
    code, _, err = graph([tmp_path / "none.yaml", "-o", tmp_path / "g.dot"], capsys)
    assert code == 1 and "none.yaml" in err


@pytest.mark.parametrize("name, message", [
    ("graph.pdf", "graph.pdf: unknown format '.pdf'; the suffix picks the format: .dot, "
                  ".svg, .png or .html (or - for DOT on stdout)"),
    ("graph", "graph: no suffix; the suffix picks the format"),
])
def test_an_unknown_format_is_a_usage_error(name, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["graph", str(XOR), "-o", str(tmp_path / name)])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_an_output_that_cannot_be_written_fails_before_any_work(tmp_path, capsys):
    code, _, err = graph([XOR, "-o", tmp_path / "missing" / "g.dot"], capsys)
    assert code == 1 and "the folder" in err and "does not exist" in err
    (tmp_path / "folder.html").mkdir()
    code, _, err = graph([XOR, "-o", tmp_path / "folder.html"], capsys)
    assert code == 1 and "is a directory" in err


def test_the_documented_dot_excerpt_is_real_output():
    text = (ROOT / "README.md").read_text()
    block = text.split("```dot\n", 1)[1].split("```", 1)[0]
    real = dot_text(build_drawing(interpreter.load(XOR, data=False))).splitlines()
    shown = [line for line in block.splitlines() if line != "  ..."]
    assert len(shown) >= 8 and all(line in real for line in shown)
