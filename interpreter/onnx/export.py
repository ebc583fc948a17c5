"""Export a network to ONNX: the inference graph in eval mode, one op lowering per node.

Each op's lowering lives beside the op (`Op.onnx`, see ops/lowering.py); this module is
the other half: `NodeLowering` implements the neutral `Lowering` interface with
onnx.helper, and `to_onnx` walks the compiled plan's forward order, lowers every node the
outputs (and, with `with_loss`, the loss) need, and assembles the model:

- graph inputs as the spec declares them, symbolic dims as `dim_param` (`batch`);
- parameters as initializers named as the spec names them (`a1.W`), batch-norm running
  statistics by their state names (`norm1.running_mean`);
- every node's value named by its node id, the graph outputs by the spec's outputs;
- dropout is the identity and batch norm uses its running statistics (eval mode).

`onnx` is an optional dependency (`pip install 'nnspec-interpreter[onnx]'`).
"""
from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from ..core.dims import Shape, is_known
from ..core.errors import InternalError, InterpreterError, SpecError
from ..core.files import write_atomically
from ..ops.lowering import CannotLower

DEFAULT_OPSET = 17
OPSETS = range(13, 22)  # the default-domain opsets export supports
INSTALL_HINT = "pip install 'nnspec-interpreter[onnx]'"


def require_onnx() -> Any:
    """The onnx module, or an error saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise InterpreterError(f"ONNX export needs the onnx package: {INSTALL_HINT}") from None
    return onnx


class NodeLowering:
    """The `Lowering` one node's rule writes to (ops/lowering.py), backed by onnx.helper."""

    def __init__(self, exporter: "Exporter", step: Any) -> None:
        self._exporter = exporter
        self._step = step
        self.node_id: str = step.node
        self.attrs = step.ctx.attrs
        self.dtype = exporter.dtype
        self.opset = exporter.opset
        self.nodes: list[Any] = []  # the ONNX nodes this step emitted, in order
        self._inputs = [exporter.tensor_of[exporter.plan.slots[slot]] for slot in step.ins]
        self._input_names = [exporter.plan.slots[slot] for slot in step.ins]

    def input(self, index: int) -> str:
        return self._inputs[index]

    def input_count(self) -> int:
        return len(self._inputs)

    def shape(self, index: int) -> Shape:
        return tuple(self._exporter.types.values[self._input_names[index]].shape)

    def input_dtype(self, index: int) -> np.dtype:
        return np.dtype(self._exporter.types.values[self._input_names[index]].dtype)

    def out_shape(self) -> Shape:
        return tuple(self._exporter.types.values[self.node_id].shape)

    def param(self, name: str) -> str:
        step = self._step
        names = [d.name for d in step.op.active_params(self.attrs)]
        if name not in names:
            raise InternalError(f"op '{step.op.name}' has no parameter {name!r}")
        info = self._exporter.plan.param_infos[step.param_ids[names.index(name)]]
        return self._exporter.initializer(info.name, self._exporter.params[info.name])

    def state(self, name: str) -> str:
        full = f"{self.node_id}.{name}"
        return self._exporter.initializer(full, self._exporter.state[full])

    def constant(self, value: Any, name: str = "const", dtype: Any = None) -> str:
        if dtype is None and not isinstance(value, np.ndarray):
            dtype = self.dtype
        array = np.asarray(value, dtype=dtype)
        # A dtype asked for is kept (Resize's scales are float32 in a float64 network).
        return self._exporter.initializer(self._exporter.fresh(f"{self.node_id}/{name}"),
                                          array, exact=dtype is not None)

    def node(self, op_type: str, inputs: Sequence[str], outputs: int = 1,
             **attrs: Any) -> Any:
        helper = self._exporter.onnx.helper
        inputs = list(inputs)
        while inputs and inputs[-1] == "":
            inputs.pop()  # an omitted optional input at the end is left out
        names = [self._exporter.fresh(f"{self.node_id}/{op_type}") for _ in range(outputs)]
        converted = {key: self._attribute(value) for key, value in attrs.items()}
        self.nodes.append(helper.make_node(op_type, inputs, names,
                                           name=self._exporter.fresh(f"{self.node_id}:{op_type}"),
                                           **converted))
        return names[0] if outputs == 1 else tuple(names)

    def require(self, opset: int, what: str) -> None:
        if self.opset < opset:
            raise CannotLower(f"{what}, which ONNX has from opset {opset}; this export is "
                              f"opset {self.opset} (use --opset {opset} or later)")

    def _attribute(self, value: Any) -> Any:
        onnx = self._exporter.onnx
        if isinstance(value, np.ndarray):
            return onnx.numpy_helper.from_array(value)
        if isinstance(value, (np.dtype, type)):
            return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(value))
        if isinstance(value, (np.floating, np.integer)):
            return value.item()
        return value


class Exporter:
    """One export: the names taken, the initializers, and each value's ONNX tensor."""

    def __init__(self, net: Any, opset: int) -> None:
        self.onnx = require_onnx()
        self.net = net
        self.plan = net.plan
        self.types = net.types
        self.dtype = np.dtype(net.dtype)
        self.opset = opset
        net.params.sync()
        self.params = net.params
        self.state = net.state
        self.tensor_of: dict[str, str] = {}  # a spec value (input or node) -> ONNX tensor
        self.initializers: dict[str, Any] = {}
        self.nodes: list[Any] = []
        self._taken: set[str] = set(self.plan.slots) | set(net.params) | set(net.state)

    def fresh(self, hint: str) -> str:
        name, count = hint, 1
        while name in self._taken:
            count += 1
            name = f"{hint}_{count}"
        self._taken.add(name)
        return name

    def initializer(self, name: str, array: np.ndarray, exact: bool = False) -> str:
        if name not in self.initializers:
            array = np.asarray(array)
            if array.dtype.kind == "f" and not exact:
                array = array.astype(self.dtype, copy=False)
            self.initializers[name] = self.onnx.numpy_helper.from_array(array, name)
        return name

    def lower(self, step: Any) -> None:
        """Emit the node's value as the tensor named by its id, and each further output
        something reads as `<id>.<name>`."""
        op = step.op
        self._emit(step, op.onnx, step.node, f"op '{op.name}' has no ONNX lowering")
        for slot, output in step.extras:
            name = self.plan.slots[slot]
            self._emit(step, output.onnx, name, f"output '{name}' of op '{op.name}' has no "
                       "ONNX lowering")

    def _emit(self, step: Any, rule: Any, name: str, missing: str) -> None:
        if rule is None:
            raise self.problem(step.node, f"{missing}, so this spec cannot be exported (give "
                               "the op an `onnx` rule: see docs/onnx.md)")
        b = NodeLowering(self, step)
        try:
            result = rule(b)
        except CannotLower as exc:
            raise self.problem(step.node, f"cannot export to ONNX: {exc}") from None
        produced = [n for n in b.nodes if result in n.output]
        if result == name:
            pass  # already named so (a parameter node's initializer)
        elif produced:
            # The value takes the spec's name (what the graph outputs are named).
            for node in b.nodes:
                node.input[:] = [name if tensor == result else tensor for tensor in node.input]
            produced[-1].output[:] = [name if tensor == result else tensor
                                      for tensor in produced[-1].output]
        else:  # the value is an input or initializer as it is
            b.nodes.append(self.onnx.helper.make_node("Identity", [result], [name],
                                                      name=self.fresh(f"{name}:Identity")))
        self.nodes += b.nodes
        self.tensor_of[name] = name

    def problem(self, node: str, message: str) -> SpecError:
        return SpecError([replace(self.net.locate(node), message=message)])

    def value_info(self, name: str) -> Any:
        helper = self.onnx.helper
        value = self.types.values[name]
        dims = [d if is_known(d) else (str(d) if str(d).isidentifier() else None)
                for d in value.shape]
        return helper.make_tensor_value_info(
            name, helper.np_dtype_to_tensor_dtype(np.dtype(value.dtype)), dims)


def to_onnx(net: Any, path: str | os.PathLike | None = None, *, opset: int | None = None,
            with_loss: bool = False) -> Any:
    """The network's eval-mode inference graph as an ONNX ModelProto, checked with
    `onnx.checker.check_model(full_check=True)`, and written to `path` when given.

    `with_loss` adds the loss node (named by its id) as a further output, and the target
    inputs it reads. Raises SpecError naming the node for an op that cannot be exported."""
    opset = DEFAULT_OPSET if opset is None else opset
    if opset not in OPSETS:
        raise InterpreterError(f"opset {opset} is not supported: export writes opsets "
                               f"{OPSETS.start} to {OPSETS.stop - 1}")
    if with_loss and net.loss is None:
        raise InterpreterError("--with-loss: this spec has no loss")
    exporter = Exporter(net, opset)
    onnx, helper = exporter.onnx, exporter.onnx.helper
    plan = net.plan
    results = list(net.outputs) + ([net.loss] if with_loss and net.loss not in net.outputs
                                   else [])
    steps = plan.steps_for([plan.slot(name) for name in results])
    inputs = plan.inputs_of(steps)
    for name in inputs:
        exporter.tensor_of[name] = name
    for step in steps:
        exporter.lower(step)
    nodes = exporter.nodes
    for name in results:
        if name in net.inputs:  # an input passed straight out needs a node of its own
            raise exporter.problem(name, "an output that is a graph input cannot be exported")
    graph = helper.make_graph(
        nodes, net.spec.name or "network", [exporter.value_info(n) for n in inputs],
        [exporter.value_info(n) for n in results], list(exporter.initializers.values()),
        doc_string=net.spec.description or "")
    from .. import __version__

    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="nnspec-interpreter",
                              producer_version=__version__,
                              ir_version=helper.find_min_ir_version_for(opsets))
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise InternalError(f"the exported model fails onnx's checker (a bug in a lowering): "
                            f"{exc}") from None
    if path is not None:
        data = model.SerializeToString()
        write_atomically(os.fspath(path), lambda stream: stream.write(data))
    return model
