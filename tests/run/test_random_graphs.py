"""Random graphs: the compiled plan against the reference interpreter, and `run` on each.

Hypothesis draws specs of mixed ops with fan-out, shared and tied parameters, non-
differentiable arguments (labels, indices, stop_gradient), nodes that do not reach the loss,
targets computed by the network, and several losses summed. For each, the generated code and
the oracle (tests/reference.py) must agree to rounding on forward, on backward with and
without input gradients, and over three training steps; and `run` must train it.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import interpreter
from interpreter.check.document import SGDSpec
from interpreter.cli import main
from interpreter.train.optimizers import make_optimizer

from ..reference import Reference

ROWS = 5
CLASSES = 3
VOCAB = 4

UNARY = ["relu", "tanh", "sigmoid", "softplus", "leaky_relu", "stop_gradient", "dropout",
         "layer_norm", "batch_norm", "neg"]
BINARY = ["add", "sub", "mul", "maximum"]


@st.composite
def graphs(draw) -> dict:
    """A valid spec: every value is (batch, width); the loss is a sum of one or more terms."""
    values: dict[str, int] = {"X": 3, "y": 2}  # name -> width
    nodes: list[dict] = []
    linears: dict[tuple[int, int], str] = {}  # (in, out) -> a linear node owning such a W
    shared: dict[int, str] = {}  # width -> a parameter node (width, width)

    def fresh(prefix: str) -> str:
        return f"{prefix}{len(nodes)}"

    def pick(width: int | None = None) -> str:
        names = [n for n, w in values.items() if width is None or w == width]
        return draw(st.sampled_from(names))

    def add(node: dict, width: int) -> str:
        nodes.append(node)
        values[node["id"]] = width
        return node["id"]

    for _ in range(draw(st.integers(1, 9))):
        kind = draw(st.sampled_from(["linear", "unary", "binary", "matmul", "concat",
                                     "embedding", "constant"]))
        if kind == "linear":
            source = pick()
            width = draw(st.sampled_from([2, 3]))
            node = {"id": fresh("lin"), "op": "linear", "inputs": [source],
                    "attrs": {"out_features": width, "bias": draw(st.booleans())}}
            key = (values[source], width)
            if key in linears and draw(st.booleans()):
                node["params"] = {"W": {"tie": f"{linears[key]}.W"}}
            else:
                linears.setdefault(key, node["id"])
            add(node, width)
        elif kind == "unary":
            op = draw(st.sampled_from(UNARY))
            source = pick()
            attrs = {"layer_norm": {"normalized_shape": values[source]},
                     "dropout": {"p": 0.3}}.get(op, {})
            add({"id": fresh(op[:4]), "op": op, "inputs": [source], "attrs": attrs},
                values[source])
        elif kind == "binary":
            first = pick()
            second = pick(values[first])  # may be `first` itself: add(x, x)
            add({"id": fresh("bin"), "op": draw(st.sampled_from(BINARY)),
                 "inputs": [first, second]}, values[first])
        elif kind == "matmul":
            source = pick()
            width = values[source]
            if width not in shared:
                shared[width] = add({"id": fresh("P"), "op": "parameter",
                                     "attrs": {"shape": [width, width]}}, -1)
                del values[shared[width]]  # (width, width): not a (batch, width) value
            add({"id": fresh("mm"), "op": "matmul", "inputs": [source, shared[width]]}, width)
        elif kind == "concat":
            first, second = pick(), pick()
            add({"id": fresh("cat"), "op": "concat", "inputs": [first, second],
                 "attrs": {"axis": 1}}, values[first] + values[second])
        elif kind == "embedding":
            table = add({"id": fresh("emb"), "op": "embedding", "inputs": ["idx"],
                         "attrs": {"num_embeddings": VOCAB, "embedding_dim": 2}}, -1)
            del values[table]
            add({"id": fresh("avg"), "op": "mean", "inputs": [table], "attrs": {"axis": 1}}, 2)
        else:
            row = draw(st.lists(st.floats(-1, 1, width=32), min_size=2, max_size=2))
            constant = add({"id": fresh("const"), "op": "constant", "attrs": {"value": [row]}},
                           -1)
            del values[constant]
            add({"id": fresh("shift"), "op": "add", "inputs": [pick(2), constant]}, 2)

    terms = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["mse", "l1", "half_squared_error", "cross_entropy",
                                     "soft_targets", "bce"]))
        pred = pick()
        width = values[pred]
        if kind == "cross_entropy":
            logits = add({"id": fresh("head"), "op": "linear", "inputs": [pred],
                          "attrs": {"out_features": CLASSES}}, CLASSES)
            node = {"id": fresh("ce"), "op": "softmax_cross_entropy",
                    "inputs": [logits, "labels"]}
        elif kind == "soft_targets":
            target = add({"id": fresh("soft"), "op": "softmax", "inputs": [pick(width)]}, width)
            node = {"id": fresh("kd"), "op": "softmax_cross_entropy", "inputs": [pred, target]}
        elif kind == "bce":
            target = add({"id": fresh("prob"), "op": "sigmoid", "inputs": [pick(width)]}, width)
            node = {"id": fresh("bce"), "op": "bce_with_logits", "inputs": [pred, target]}
        else:
            node = {"id": fresh(kind[:3]), "op": kind, "inputs": [pred, pick(width)]}
        nodes.append(node)
        terms.append(node["id"])
    loss = terms[0]
    for term in terms[1:]:
        loss = add({"id": fresh("total"), "op": "add", "inputs": [loss, term]}, 0)
    outputs = draw(st.lists(st.sampled_from([n for n, w in values.items()
                                             if w > 0 and n not in ("X", "y")] or [loss]),
                            min_size=1, max_size=3, unique=True))
    return {
        "version": 1, "name": "random", "dtype": "float64",
        "inputs": {"X": {"shape": ["batch", 3]}, "y": {"shape": ["batch", 2]},
                   "labels": {"shape": ["batch"], "dtype": "int64"},
                   "idx": {"shape": ["batch", 2], "dtype": "int64"}},
        "nodes": nodes, "outputs": outputs, "loss": loss,
        "train": {"data": {"inline": batch_data(ROWS, 0, lists=True)},
                  "optimizer": {"name": "sgd", "lr": 0.05}, "epochs": 2, "batch_size": 3},
    }


def batch_data(rows: int, seed: int, lists: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    data = {"X": rng.normal(size=(rows, 3)), "y": rng.normal(size=(rows, 2)),
            "labels": rng.integers(0, CLASSES, rows), "idx": rng.integers(0, VOCAB, (rows, 2))}
    return {k: v.tolist() for k, v in data.items()} if lists else data


def close(actual: dict, expected: dict) -> None:
    assert set(actual) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(actual[name], value, rtol=1e-10, atol=1e-12, err_msg=name)


# INTERPRETER_EXAMPLES raises the count for a long local run; the suite's is kept quick.
EXAMPLES = int(os.environ.get("INTERPRETER_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(graphs())
def test_compiled_forward_and_backward_agree_with_the_oracle(document):
    net = interpreter.load(document)
    oracle = Reference(net)
    feeds = batch_data(4, 1)
    state = net.plan.rng.bit_generator.state
    out = net.forward(feeds)
    oracle.rng.bit_generator.state = state
    close(out, oracle.forward(feeds))
    close(net.backward(retain=True), oracle.backward())
    close(net.backward(inputs=True), oracle.backward(inputs=True))


@SETTINGS
@given(graphs())
def test_three_training_steps_agree_with_the_oracle(document):
    fast, slow = interpreter.load(document), interpreter.load(document)
    oracle = Reference(slow)
    batch = batch_data(4, 2)
    names = fast.training_inputs()
    step = fast.compile_step(make_optimizer(SGDSpec(name="sgd", lr=0.05),
                                            fast.params.arrays).update)
    for _ in range(3):
        oracle.rng.bit_generator.state = fast.plan.rng.bit_generator.state
        a = step(*[np.asarray(batch[n]) for n in names])
        b = oracle.sgd_step(batch, 0.05)
        assert a == pytest.approx(b, rel=1e-10, abs=1e-12)
    close(dict(fast.params), dict(slow.params))


@settings(max_examples=max(15, EXAMPLES // 4), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(document=graphs())
def test_run_trains_every_generated_graph(document, tmp_path, capsys):
    path = tmp_path / "random.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    code = main(["run", str(path), "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
