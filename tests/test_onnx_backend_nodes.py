"""ONNX's own backend node test cases (onnx.backend.test.case.node, generated here: the
wheel ships no data/node folder) for the op types import maps, each imported and run with
`predict`, compared with ONNX's expected outputs at ONNX's tolerance (rtol 1e-3, atol
1e-7). A case import refuses (an attribute or input form no op of ours expresses, such as
ceil_mode or a weight given as a graph input) is an xfail with the importer's reason; the
counts by op type are printed in the session summary."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from interpreter.core.errors import InterpreterError

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx.backend.test.case.node import collect_testcases  # noqa: E402

from interpreter.onnx_import import build_network, import_model  # noqa: E402
from interpreter.onnx_import_rules import RULES  # noqa: E402

# op type -> {"passed": n, "refused": n, "failed": n}; read by conftest's summary.
RESULTS: dict[str, dict[str, int]] = defaultdict(lambda: {"passed": 0, "refused": 0,
                                                          "failed": 0})
OPSETS: set[int] = set()


def _covered(case) -> bool:
    return all(node.domain in ("", "ai.onnx") and node.op_type in RULES
               for node in case.model.graph.node)


CASES = sorted((c for c in collect_testcases() if c.model is not None and _covered(c)),
               key=lambda c: c.name)


def _op_type(case) -> str:
    return case.model.graph.node[0].op_type


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_backend_node_case(case):
    op_type = _op_type(case)
    OPSETS.update(o.version for o in case.model.opset_import if o.domain in ("", "ai.onnx"))
    try:
        net = build_network(import_model(case.model, case.name))
    except InterpreterError as exc:
        RESULTS[op_type]["refused"] += 1
        reason = str(exc).splitlines()[-1].strip()
        pytest.xfail(f"import refuses: {reason}")
    graph = case.model.graph
    initializers = {t.name for t in graph.initializer}
    names = [i.name for i in graph.input if i.name not in initializers]
    for inputs, outputs in case.data_sets:
        feeds = dict(zip(names, inputs))
        got = net.predict(feeds)
        try:
            for out, want in zip(net.outputs, outputs):
                np.testing.assert_allclose(got[out], want, rtol=case.rtol, atol=case.atol)
        except AssertionError:
            RESULTS[op_type]["failed"] += 1
            raise
    RESULTS[op_type]["passed"] += 1
