"""Finite-difference checks of ops and whole networks, in float64.

The test suite runs these over every registered op; library users can run them over ops
they register themselves (`check_op(my_op)`). An op's vjp is compared with central
differences of its forward: the full Jacobian for tiny inputs, random directions for larger.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .ops.registry import Context, Op
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
                 for s in self.op.state}
        return Context(self.attrs, "sample", self.sample.training,
                       np.random.default_rng(self.seed), state, self.dtype)

    @property
    def dtype(self) -> np.dtype:
        floats = [a.dtype for a in self.xs + self.ps if a.dtype.kind == "f"]
        return floats[0] if floats else self.compute_dtype

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
    return Case(op, sample, attrs, xs, ps, out_shape, seed, np.dtype(dtype))


def _wants(case: Case) -> list[bool]:
    return [case.op.arg(i).differentiable and x.dtype.kind == "f" for i, x in enumerate(case.xs)]


def check_contract(case: Case) -> None:
    """Shape rule = forward shape, dtype kept, vjp arity and exact gradient shapes/dtypes."""
    name = f"{case.op.name}[{case.sample.name}]"
    out, saved = case.run()
    assert isinstance(out, ARRAY), f"{name}: forward returned {type(out).__name__}"
    assert out.shape == case.out_shape, (f"{name}: shape rule says {case.out_shape}, forward "
                                         f"gave {out.shape}")
    assert out.dtype == case.dtype, f"{name}: forward turned {case.dtype} into {out.dtype}"
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
        check_gradients(materialize(op, sample, np.float64))


def check_network(net: Any, feeds: dict[str, np.ndarray], directions: int = 2,
                  eps: float = 1e-6, rtol: float = 1e-6, atol: float = 1e-9,
                  seed: int = 0) -> float:
    """Directional finite differences of a whole network's loss, for every parameter and
    every float input that reaches the loss; best run on a float64 network. Returns the
    largest relative error; raises AssertionError naming the tensor that disagrees."""
    rng = np.random.default_rng(seed)

    def loss() -> float:
        net.reseed(seed)  # random ops draw the same mask in every evaluation
        return float(net.forward(feeds)[net.loss])

    loss()
    grads = net.backward(inputs=True)
    worst = 0.0
    for name, grad in grads.items():
        target = net.params[name] if name in net.params else feeds[name]
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
            worst = max(worst, error / max(abs(numeric), 1e-12))
            if error > atol + rtol * abs(numeric):
                raise AssertionError(f"gradient of '{name}' disagrees with finite differences: "
                                     f"{exact:.10g} vs {numeric:.10g}")
    return worst
