"""Finite-difference checks of ops and whole networks, in float64.

The test suite runs these over every registered op; library users can run them over ops
they register themselves (`check_op(my_op)`). An op's vjp is compared with central
differences of its forward: the full Jacobian for tiny inputs, random directions for larger.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .ops.registry import Context, Op, for_output, output_dtype
from .ops.samples import Gen, Sample

# numpy demotes 0-d results of arithmetic to scalars, which carry shape and dtype too.
ARRAY = (np.ndarray, np.generic)


@dataclass
class Case:
    """An op bound to one sample: attrs, context, inputs and parameters, ready to run."""

    op: Op
    sample: Sample
    attrs: Any
    xs: list[np.ndarray]
    ps: list[np.ndarray]
    out_shape: tuple
    seed: int
    compute_dtype: np.dtype = np.dtype(np.float64)  # for ops with no float input (constant)

    def context(self) -> Context:
        # A fresh context (and rng) per evaluation, so random ops draw the same mask.
        state = {s.name: np.ones(s.shape(self.attrs, [x.shape for x in self.xs]), self.dtype)
                 for s in self.op.active_state(self.attrs)}
        return Context(self.attrs, "sample", self.sample.training,
                       np.random.default_rng(self.seed), state, self.out_dtype)

    @property
    def dtype(self) -> np.dtype:
        floats = [a.dtype for a in self.xs + self.ps if a.dtype.kind == "f"]
        return floats[0] if floats else self.compute_dtype

    @property
    def out_dtype(self) -> np.dtype:
        """The output's dtype: the float one, or what the op's dtype rule gives."""
        return output_dtype(self.op, self.attrs, [x.dtype for x in self.xs], self.dtype)

    @property
    def differentiable(self) -> bool:
        """Whether the output carries gradients (an integer one does not)."""
        return self.out_dtype.kind == "f"

    def run(self, xs: list[np.ndarray] | None = None, ps: list[np.ndarray] | None = None):
        return self.op.forward(self.context(), xs if xs is not None else self.xs,
                               ps if ps is not None else self.ps)


def materialize(op: Op, sample: Sample, dtype: Any = np.float64, seed: int = 0) -> Case:
    """Draw a sample's inputs and parameters (seeded) and infer its output shape."""
    rng = np.random.default_rng(seed)
    attrs = op.attrs.model_validate(sample.attrs)
    xs = []
    for item in sample.inputs:
        array = item.draw(rng) if isinstance(item, Gen) else np.asarray(item)
        if array.dtype.kind == "f":
            array = array.astype(dtype)
        xs.append(array)
    shapes = [x.shape for x in xs]
    out_shape = tuple(op.shape(attrs, shapes))
    ps = [(rng.normal(0.0, 0.5, p.shape(attrs, shapes))).astype(dtype)
          for p in op.active_params(attrs)]
    case = Case(op, sample, attrs, xs, ps, out_shape, seed, np.dtype(dtype))
    # As the plan does: an integer output runs the op's integer forward, if it has one.
    case.op = for_output(op, case.out_dtype)
    return case


def _wants(case: Case) -> list[bool]:
    return [case.op.arg(i).differentiable and x.dtype.kind == "f" for i, x in enumerate(case.xs)]


def check_contract(case: Case) -> None:
    """Shape rule = forward shape, dtype kept, vjp arity and exact gradient shapes/dtypes."""
    name = f"{case.op.name}[{case.sample.name}]"
    out, saved = case.run()
    assert isinstance(out, ARRAY), f"{name}: forward returned {type(out).__name__}"
    assert out.shape == case.out_shape, (f"{name}: shape rule says {case.out_shape}, forward "
                                         f"gave {out.shape}")
    assert out.dtype == case.out_dtype, (f"{name}: forward gave {out.dtype}, but the dtype "
                                         f"should be {case.out_dtype}")
    shapes = [x.shape for x in case.xs]
    for output in case.op.outputs:
        value = output.value(case.context(), case.xs, case.ps, out, saved)
        what = f"{name}: output '{output.name}'"
        assert isinstance(value, ARRAY), f"{what} is {type(value).__name__}"
        promised = tuple(output.shape(case.attrs, shapes))
        assert value.shape == promised, f"{what}: rule says {promised}, value is {value.shape}"
        assert value.dtype == output.dtype(case.dtype), f"{what} is {value.dtype}"
    if case.op.vjp is None or not case.differentiable:
        return  # a forward-only op, or an integer output: nothing more to check
    g = np.random.default_rng(1).normal(size=out.shape).astype(case.dtype)
    needs = tuple(_wants(case))
    gxs, gps = case.op.vjp(case.context(), g, saved, needs)
    assert len(gxs) == len(case.xs), f"{name}: vjp gave {len(gxs)} input gradients"
    assert len(gps) == len(case.ps), f"{name}: vjp gave {len(gps)} parameter gradients"
    for i, (x, gx, need) in enumerate(zip(case.xs, gxs, needs)):
        if not need:
            continue
        arg = case.op.arg_name(i)
        assert isinstance(gx, ARRAY), f"{name}: gradient of {arg} is {type(gx).__name__}"
        assert gx.shape == x.shape, f"{name}: gradient of {arg} is {gx.shape}, input {x.shape}"
        assert gx.dtype == x.dtype, f"{name}: gradient of {arg} is {gx.dtype}, input {x.dtype}"
    for p, gp, definition in zip(case.ps, gps, case.op.active_params(case.attrs)):
        assert gp.shape == p.shape, f"{name}: gradient of {definition.name} is {gp.shape}"
        assert gp.dtype == p.dtype, f"{name}: gradient of {definition.name} is {gp.dtype}"


def check_gradients(case: Case, eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7,
                    full_limit: int = 4096) -> float:
    """Compare the vjp with central differences; returns the largest error seen."""
    name = f"{case.op.name}[{case.sample.name}]"
    if not case.differentiable:
        return 0.0  # integer values are never differentiated
    out, saved = case.run()
    rng = np.random.default_rng(2)
    needs = tuple(_wants(case))
    worst = 0.0
    targets = [("x", i) for i, n in enumerate(needs) if n] + [("p", k) for k in range(len(case.ps))]

    def evaluate(kind: str, index: int, value: np.ndarray) -> np.ndarray:
        xs, ps = list(case.xs), list(case.ps)
        (xs if kind == "x" else ps)[index] = value
        return case.run(xs, ps)[0]

    def analytic(g: np.ndarray) -> list[np.ndarray]:
        gxs, gps = case.op.vjp(case.context(), g, saved, needs)
        return [gxs[i] if kind == "x" else gps[i] for kind, i in targets]

    for slot, (kind, index) in enumerate(targets):
        base = (case.xs if kind == "x" else case.ps)[index]
        label = case.op.arg_name(index) if kind == "x" else case.op.active_params(
            case.attrs)[index].name or "value"
        if base.size * max(out.size, 1) <= full_limit:
            numeric = np.zeros((max(out.size, 1), base.size))
            for j in range(base.size):
                bump = np.zeros(base.size)
                bump[j] = eps
                bump = bump.reshape(base.shape)
                diff = evaluate(kind, index, base + bump) - evaluate(kind, index, base - bump)
                numeric[:, j] = diff.reshape(-1) / (2 * eps)
            exact = np.zeros_like(numeric)
            for k in range(max(out.size, 1)):
                g = np.zeros(out.size)
                g[k] = 1.0
                exact[k] = analytic(g.reshape(out.shape))[slot].reshape(-1)
        else:
            g = rng.normal(size=out.shape)
            directions = [rng.normal(size=base.shape) for _ in range(3)]
            grad = analytic(g)[slot]
            exact = np.array([np.vdot(grad, v) for v in directions])
            numeric = np.array([np.vdot(g, evaluate(kind, index, base + eps * v)
                                        - evaluate(kind, index, base - eps * v)) / (2 * eps)
                                for v in directions])
        error = np.abs(exact - numeric)
        bound = atol + rtol * np.abs(numeric)
        worst = max(worst, float(error.max(initial=0.0)))
        if not np.all(error <= bound):
            at = np.unravel_index(np.argmax(error - bound), error.shape)
            raise AssertionError(f"{name}: gradient of {label} disagrees with finite "
                                 f"differences: vjp {exact[at]:.10g} vs numeric "
                                 f"{numeric[at]:.10g} (at {at})")
    return worst


def check_op(op: Op, dtype: Any = np.float64) -> None:
    """Every sample of `op`: the contract (in `dtype`) and the gradients (in float64)."""
    if not op.samples:
        raise AssertionError(f"op '{op.name}' has no samples to check")
    for sample in op.samples:
        check_contract(materialize(op, sample, dtype))
        if op.vjp is not None:
            check_gradients(materialize(op, sample, np.float64))


def check_network(net: Any, feeds: dict[str, np.ndarray], directions: int = 2,
                  eps: float = 1e-6, rtol: float = 1e-6, atol: float = 1e-9,
                  seed: int = 0) -> float:
    """Directional finite differences of a whole network's loss, for every parameter and
    every float input that reaches the loss; best run on a float64 network. Returns the
    largest relative error; raises AssertionError naming the tensor that disagrees."""
    checks = check_network_tensors(net, feeds, directions, eps, rtol, atol, seed)
    for check in checks:
        if not check.ok:
            raise AssertionError(f"gradient of '{check.name}' disagrees with finite "
                                 f"differences: {check.exact:.10g} vs {check.numeric:.10g}")
    return max((check.error for check in checks), default=0.0)


# ----- a whole spec, tensor by tensor and node by node (the `gradcheck` command) -------------


@dataclass
class TensorCheck:
    """One parameter's or graph input's gradient against directional finite differences."""

    name: str
    kind: str  # "parameter" | "input"
    nodes: list[str]  # the node owning the parameter, or the nodes reading the input
    error: float  # the largest relative error over the directions
    ok: bool
    exact: float = 0.0  # at the worst direction: the gradient's directional derivative
    numeric: float = 0.0  # ... and the finite difference


@dataclass
class NodeCheck:
    """One node's vjp against finite differences of its own forward, at the values the
    network fed it."""

    node: str
    op: str
    error: float
    failures: list[str]  # what disagrees, one sentence each
    # Whether the op declares points where its derivative is undefined (relu at 0, max
    # ties): moving its inputs alone may cross one, so a disagreement there is not proof.
    kinks: bool = False

    @property
    def ok(self) -> bool:
        return not self.failures


def float64_network(path: Any, weights: Any = None) -> Any:
    """The spec at `path` loaded in float64 (float32 inputs too), with `weights` (a file
    written for the spec as it is) copied in when given."""
    from .api import build, load
    from .read.reader import read_file

    data, source = read_file(path)
    if isinstance(data, dict):
        data["dtype"] = "float64"
        for decl in (data.get("inputs") or {}).values():
            if isinstance(decl, dict) and decl.get("dtype") == "float32":
                decl["dtype"] = "float64"
        for node in data.get("nodes") or []:
            attrs = node.get("attrs") if isinstance(node, dict) else None
            if isinstance(attrs, dict) and node.get("op") == "cast" \
                    and attrs.get("to") == "float32":
                attrs["to"] = "float64"  # the spec's float, as the spec's dtype now is
    net = build(data, source)
    if weights is not None:
        original = load(path, data=False)
        original.load_weights(weights)
        for name, array in {**original.params, **original.state}.items():
            target = net.params[name] if name in net.params else net.state[name]
            target[...] = array
    return net


def _relative(error: float, numeric: float, atol: float, rtol: float) -> float:
    # Relative to the finite difference, but never to less than atol/rtol: a gradient of
    # zero (a dead unit) is then judged by the absolute tolerance, as the pass test is.
    return error / max(abs(numeric), atol / rtol)


def check_network_tensors(net: Any, feeds: dict[str, np.ndarray], directions: int = 2,
                          eps: float = 1e-6, rtol: float = 1e-6, atol: float = 1e-9,
                          seed: int = 0) -> list[TensorCheck]:
    """`check_network`'s comparison, one result per parameter and per float graph input
    that receives a gradient, none stopping at the first failure."""
    rng = np.random.default_rng(seed)
    feeds = {name: np.array(array, copy=True) for name, array in feeds.items()}

    def loss() -> float:
        net.reseed(seed)  # random ops draw the same mask in every evaluation
        return float(net.forward(feeds)[net.loss])

    loss()
    grads = net.backward(inputs=True)
    owners = {info.name: info.node for info in net.plan.param_infos}
    readers: dict[str, list[str]] = {}
    for step in net.plan.steps:
        for slot in step.ins:
            readers.setdefault(net.plan.slots[slot], []).append(step.node)
    results = []
    for name, grad in grads.items():
        is_param = name in net.params
        target = net.params[name] if is_param else feeds[name]
        check = TensorCheck(name, "parameter" if is_param else "input",
                            [owners[name]] if is_param else readers.get(name, []), 0.0, True)
        for _ in range(directions):
            v = rng.normal(size=target.shape)
            original = target.copy()
            target += eps * v
            up = loss()
            target[...] = original - eps * v
            down = loss()
            target[...] = original
            numeric = (up - down) / (2 * eps)
            exact = float(np.vdot(grad, v))
            error = abs(exact - numeric)
            relative = _relative(error, numeric, atol, rtol)
            if relative >= check.error:
                check.error, check.exact, check.numeric = relative, exact, numeric
            if error > atol + rtol * abs(numeric):
                check.ok = False
        results.append(check)
    return results


def check_nodes(net: Any, feeds: dict[str, np.ndarray], eps: float = 1e-6,
                rtol: float = 1e-5, atol: float = 1e-8, seed: int = 0) -> list[NodeCheck]:
    """Each node of a training step on its own: its vjp against central differences of its
    forward at the inputs and parameters the network gave it (one random direction per
    input and parameter). A wrong vjp shows here at the node that has it, not only in the
    tensors upstream of it."""
    from .run.trace import trace_step

    plan = net.plan
    state = {name: array.copy() for name, array in net.state.items()}
    rng_state = plan.rng.bit_generator.state
    try:
        trace = trace_step(net, {name: feeds[name] for name in net.training_inputs()})
    finally:
        for name, array in state.items():
            net.state[name][...] = array
    rng = np.random.default_rng(seed)
    results = []
    for record in trace.forward:
        step = record.step
        xs, ps = list(record.inputs), list(record.params)
        needs = tuple(differentiable and x.dtype.kind == "f"
                      for differentiable, x in zip(step.differentiable, xs))

        def run(xs: list[np.ndarray], ps: list[np.ndarray], step: Any = step) -> Any:
            # The same random draws (a dropout mask) and state in every evaluation.
            plan.rng.bit_generator.state = rng_state
            kept = {name: array.copy() for name, array in step.ctx.state.items()}
            try:
                return step.op.forward(step.ctx, xs, ps)
            finally:
                for name, array in kept.items():
                    step.ctx.state[name][...] = array

        out, saved = run(xs, ps)
        if np.asarray(out).dtype.kind != "f":
            continue  # an integer value has no gradient to check
        g = rng.normal(size=np.shape(out))
        input_grads, param_grads = step.op.vjp(step.ctx, g, saved, needs)
        smooth = step.op.kinks.strip().lower().startswith("none")
        check = NodeCheck(step.node, step.op.name, 0.0, [], kinks=not smooth)
        targets = [(f"input {step.op.arg_name(i)}", "x", i, input_grads[i])
                   for i, need in enumerate(needs) if need]
        names = [d.name or "P" for d in step.op.active_params(step.ctx.attrs)]
        targets += [(f"parameter {names[k]}", "p", k, param_grads[k]) for k in range(len(ps))]
        for what, kind, index, grad in targets:
            base = (xs if kind == "x" else ps)[index]
            v = rng.normal(size=base.shape)
            moved = []
            for sign in (1, -1):
                changed_xs, changed_ps = list(xs), list(ps)
                (changed_xs if kind == "x" else changed_ps)[index] = base + sign * eps * v
                moved.append(run(changed_xs, changed_ps)[0])
            numeric = float(np.vdot(g, moved[0] - moved[1])) / (2 * eps)
            exact = float(np.vdot(grad, v))
            error = abs(exact - numeric)
            check.error = max(check.error, _relative(error, numeric, atol, rtol))
            if error > atol + rtol * abs(numeric):
                check.failures.append(f"gradient of {what}: vjp gives {exact:.10g}, finite "
                                      f"differences {numeric:.10g}")
        results.append(check)
    plan.rng.bit_generator.state = rng_state
    return results
