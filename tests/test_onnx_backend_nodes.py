"""ONNX's own backend node test cases (onnx.backend.test.case.node, generated here: the
wheel ships no data/node folder) for the op types import maps, each imported and run with
`predict`, compared with ONNX's expected outputs at ONNX's tolerance (rtol 1e-3, atol
1e-7). A case import refuses (an attribute or input form no op of ours expresses, such as
3-D pooling or a second output) is an xfail with the importer's reason; the counts by op
type are printed in the session summary.

Many cases feed constant data (a Conv's weights, a Reshape's shape, axes, bounds, a ratio)
as graph inputs with the value the case gives. ONNX treats initializers and inputs alike as
constant data, so before import the harness moves exactly those inputs, the ones in
CONSTANT_INPUTS for the node reading them, into the model's initializers with the case's
values: the same computation with those values fixed."""
from __future__ import annotations

import re
from collections import defaultdict

import numpy as np
import pytest

from interpreter.core.errors import InterpreterError

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx.backend.test.case.node import collect_testcases  # noqa: E402

from interpreter.onnx.importer import Importer, build_network, import_model  # noqa: E402
from interpreter.onnx.rules import RULES  # noqa: E402

# op type -> {"passed": n, "refused": n, "failed": n}; read by conftest's summary.
RESULTS: dict[str, dict[str, int]] = defaultdict(lambda: {"passed": 0, "refused": 0,
                                                          "failed": 0})
OPSETS: set[int] = set()


def _covered(case) -> bool:
    """Whether every node of the case is one import maps or folds (an expanded case's
    shape arithmetic: Shape, Slice, Cast of constants)."""
    if not any(node.op_type in RULES for node in case.model.graph.node):
        return False
    model, _ = with_constants(case.model, _feeds(case, case.data_sets[0][0]))
    try:
        importer = Importer(model, case.name)
    except InterpreterError:
        return True  # a model import refuses outright (opset 1's Not): an xfail, with why
    return not importer.unmapped(importer.folded())


def _feeds(case, inputs) -> dict[str, np.ndarray]:
    graph = case.model.graph
    initializers = {t.name for t in graph.initializer}
    names = [i.name for i in graph.input if i.name not in initializers]
    return dict(zip(names, inputs))


# op type -> the positions of the inputs its rule reads as constants.
CONSTANT_INPUTS = {
    "Conv": (1, 2), "ConvTranspose": (1, 2), "BatchNormalization": (1, 2, 3, 4),
    "LayerNormalization": (1, 2),
    "Reshape": (1,), "Pow": (1,), "Clip": (1, 2), "Dropout": (1, 2),
    "ReduceSum": (1,), "ReduceMean": (1,), "ReduceMax": (1,), "ReduceMin": (1,),
    "ReduceL1": (1,), "ReduceL2": (1,), "Expand": (1,), "Squeeze": (1,),
    "Unsqueeze": (1,), "Slice": (1, 2, 3, 4), "Split": (1,),
    "InstanceNormalization": (1, 2), "Pad": (1, 2, 3), "Resize": (1, 2, 3), "Upsample": (1,),
}


def _op_type(case) -> str:
    """The op a case tests: an expanded case's nodes are named after its op's function
    (`SoftmaxCrossEntropyLoss_test_sce_mean_expanded_function_X_Log`)."""
    for node in case.model.graph.node:
        match = re.match(r"([A-Za-z]+)_test_", node.output[0])
        if case.name.endswith("_expanded") and match:
            return match.group(1)
    return next(n.op_type for n in case.model.graph.node if n.op_type != "Constant")


def with_constants(model, feeds: dict[str, np.ndarray]):
    """The model with the graph inputs its nodes read as constants (CONSTANT_INPUTS) moved
    into its initializers, holding their values from `feeds`; and the remaining feeds."""
    graph = model.graph
    fixed = {name for node in graph.node
             for i, name in enumerate(node.input)
             if name in feeds and i in CONSTANT_INPUTS.get(node.op_type, ())}
    if not fixed:
        return model, feeds
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    kept = [i for i in copy.graph.input if i.name not in fixed]
    del copy.graph.input[:]
    copy.graph.input.extend(kept)
    copy.graph.initializer.extend(onnx.numpy_helper.from_array(np.asarray(feeds[name]), name)
                                  for name in sorted(fixed))
    return copy, {k: v for k, v in feeds.items() if k not in fixed}


CASES = sorted((c for c in collect_testcases() if c.model is not None and _covered(c)),
               key=lambda c: c.name)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_backend_node_case(case):
    op_type = _op_type(case)
    OPSETS.update(o.version for o in case.model.opset_import if o.domain in ("", "ai.onnx"))
    for inputs, outputs in case.data_sets:
        model, feeds = with_constants(case.model, _feeds(case, inputs))
        try:
            net = build_network(import_model(model, case.name))
        except InterpreterError as exc:
            RESULTS[op_type]["refused"] += 1
            reason = str(exc).splitlines()[-1].strip()
            pytest.xfail(f"import refuses: {reason}")
        got = net.predict(feeds)
        try:
            for out, want in zip(net.outputs, outputs):
                np.testing.assert_allclose(got[out], want, rtol=case.rtol, atol=case.atol)
        except AssertionError:
            RESULTS[op_type]["failed"] += 1
            raise
    RESULTS[op_type]["passed"] += 1
