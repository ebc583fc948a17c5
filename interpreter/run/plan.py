"""The execution plan: the checked graph, analysed once, as flat steps over integer slots.

Slots number every value: the graph inputs first, then the nodes in forward order. A step is
one node ready to run: its op's rules, its context, the slots it reads and writes and the
indices of the parameter tensors it uses. Which steps a backward pass runs, and which inputs
of each step need a gradient, is decided here once per choice of wanted input gradients
(`Plan.flow`); `codegen.py` turns the plan into straight-line Python, the only way any step
runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..check.analysis import Analysis
from ..check.coverage import further_output_message
from ..core.errors import FeedError, InternalError
from ..ops.registry import Context, Op, Output, for_output
from .parameters import Parameters, ParamInfo, declare_parameters, initialize, reseed


class Step:
    """One node, ready to run."""

    __slots__ = ("index", "node", "op", "ctx", "ins", "out", "param_ids", "differentiable",
                 "extras")

    def __init__(self, index: int, node: str, op: Op, ctx: Context, ins: tuple[int, ...],
                 out: int, param_ids: tuple[int, ...],
                 extras: tuple[tuple[int, Output], ...] = ()) -> None:
        self.index = index  # position in forward order
        self.node = node
        self.op = op
        self.ctx = ctx
        self.ins = ins
        self.out = out
        self.param_ids = param_ids  # indices into the plan's parameter tensors
        # The further outputs (`ln.mean`) something reads, with their slots: computed
        # after the step's forward from what it saved, and never differentiated.
        self.extras = extras
        self.differentiable = tuple(op.arg(i).differentiable for i in range(len(ins)))

    def writes(self) -> tuple[int, ...]:
        """Every slot this step writes: its value's, then its further outputs'."""
        return (self.out,) + tuple(slot for slot, _ in self.extras)

    def __repr__(self) -> str:
        return f"<Step {self.index}: {self.node} ({self.op.name})>"


@dataclass(frozen=True)
class Flow:
    """One backward pass, computed from the ops' `needs` rather than from reachability.

    A slot receives a gradient only when a step that runs in backward passes one to it
    through a differentiable argument that needs it: `mse(o, t)` with `t` computed by the
    network sends a gradient to both; `softmax_cross_entropy(z, labels)` never to labels.
    """

    steps: tuple[tuple[Step, tuple[bool, ...]], ...]  # reverse order, with each one's needs
    receives: frozenset[int]  # the slots some step writes a gradient for (and the loss)
    inputs: tuple[int, ...]  # wanted graph-input slots that receive a gradient
    params: tuple[int, ...]  # parameter ids that receive a gradient
    # Why backward cannot run (its gradient would pass back through a further output),
    # or None; forward alone can.
    blocked: FeedError | None = None


class Plan:
    """Everything the generated code runs on, and the analysis it is generated from."""

    def __init__(self, slots: list[str], input_names: list[str], steps: list[Step],
                 params: Parameters, infos: list[ParamInfo], state: dict[str, np.ndarray],
                 outputs: list[str], loss: str | None, dtype: np.dtype,
                 rng: np.random.Generator, integral: frozenset[int] = frozenset()) -> None:
        self.slots = slots  # slot -> name
        self.index = {name: slot for slot, name in enumerate(slots)}
        self.input_names = input_names  # graph inputs; their slots are 0..len-1
        self.steps = steps
        self.params = params
        self.param_infos = infos
        self.state = state
        self.outputs = outputs
        self.loss = loss
        self.dtype = dtype
        self.rng = rng
        # Slots holding integer or bool values: never differentiated, so a gradient flow
        # stops there (an integer power's float exponent gets none through it).
        self.integral = integral
        self.training = True
        self._flows: dict[frozenset[int], Flow] = {}

    def slot(self, name: str) -> int:
        return self.index[name]

    def initialize(self, seed: int) -> None:
        """Draw every parameter's start value and reset the state and the random
        generator, reproducibly from `seed`."""
        state = [(definition, step.ctx.state[definition.name])
                 for step in self.steps
                 for definition in step.op.active_state(step.ctx.attrs)]
        initialize(self.param_infos, self.params.arrays, state, self.dtype, seed)
        reseed(self.rng, seed)

    def reseed(self, seed: int) -> None:
        """Reseed the generator random ops (dropout) draw from."""
        reseed(self.rng, seed)

    @property
    def loss_slot(self) -> int | None:
        return self.index[self.loss] if self.loss is not None else None

    def set_training(self, training: bool) -> None:
        """Switch every context's mode (dropout drops, batch norm uses batch statistics)."""
        if training != self.training:
            for step in self.steps:
                step.ctx.training = training
            self.training = training

    def steps_for(self, results: Iterable[int]) -> list[Step]:
        """The steps the given result slots depend on, in forward order."""
        needed = set(results)
        chosen = []
        for step in reversed(self.steps):
            if step.out in needed or any(slot in needed for slot, _ in step.extras):
                chosen.append(step)
                needed.update(step.ins)
        chosen.reverse()
        return chosen

    def inputs_of(self, steps: Iterable[Step]) -> list[str]:
        """The graph inputs the given steps read, in declaration order."""
        read = {slot for step in steps for slot in step.ins}
        return [name for slot, name in enumerate(self.input_names) if slot in read]

    def flow(self, wanted: Iterable[int] = ()) -> Flow:
        """The backward pass from the loss that gives every parameter its gradient, and the
        graph inputs in `wanted` theirs."""
        key = frozenset(wanted)
        flow = self._flows.get(key)
        if flow is None:
            flow = self._flows[key] = self._analyse_flow(key)
        return flow

    def _analyse_flow(self, wanted: frozenset[int]) -> Flow:
        if self.loss is None:
            raise InternalError("a backward pass needs a loss")
        # Forward: does a slot's value depend differentiably on a parameter or a wanted input?
        requires = set(wanted) - self.integral
        needs: dict[int, tuple[bool, ...]] = {}
        for step in self.steps:
            step_needs = tuple(slot in requires and differentiable
                               for slot, differentiable in zip(step.ins, step.differentiable))
            needs[step.index] = step_needs
            if (step.param_ids or any(step_needs)) and step.out not in self.integral:
                requires.add(step.out)
        # Backward: a step runs when its output receives a gradient and it has somewhere to
        # send it; it then writes gradients only for the inputs it needs.
        receives = {self.index[self.loss]}
        chosen = []
        params: set[int] = set()
        for step in reversed(self.steps):
            step_needs = needs[step.index]
            if step.out not in receives or not (step.param_ids or any(step_needs)):
                continue
            chosen.append((step, step_needs))
            params.update(step.param_ids)
            receives.update(slot for slot, need in zip(step.ins, step_needs) if need)
        inputs = tuple(sorted(slot for slot in wanted if slot in receives))
        return Flow(tuple(chosen), frozenset(receives), inputs, tuple(sorted(params)),
                    self._through_further_outputs(requires))

    def _through_further_outputs(self, requires: set[int]) -> FeedError | None:
        """Why a backward pass cannot run if its gradient would have to pass back through a
        further output (`ln.mean`, never differentiated) to reach what requires one: it
        would miss that path silently. Validation reports this for a spec that trains;
        this covers `net.backward()`."""
        owner = {slot: step.out for step in self.steps for slot, _ in step.extras}
        if not owner:
            return None
        # As the flow above, with every further output counted as its node's value.
        would = set(requires)
        for step in self.steps:
            if any(owner.get(slot, slot) in would and differentiable
                   for slot, differentiable in zip(step.ins, step.differentiable)):
                would.add(step.out)
        receives = {self.index[self.loss]}
        for step in reversed(self.steps):
            if step.out not in receives:
                continue
            for slot, differentiable in zip(step.ins, step.differentiable):
                if differentiable and owner.get(slot, slot) in would:
                    receives.add(owner.get(slot, slot))
                    if slot in owner:
                        return FeedError(f"node '{step.node}': "
                                         + further_output_message(self.slots[slot]),
                                         node=step.node)
        return None


def require_vjps(flow: Flow) -> None:
    """Refuse a backward pass through a forward-only op (one registered without a vjp);
    validation refuses such a spec's training already, this covers `net.backward()`. And
    refuse one whose gradient would pass back through a further output."""
    if flow.blocked is not None:
        raise flow.blocked
    for step, _ in flow.steps:
        if step.op.vjp is None:
            raise FeedError(f"node '{step.node}' ({step.op.name}): op '{step.op.name}' has no "
                            "vjp (it was registered without a gradient rule), but the "
                            "gradient must pass through this node", node=step.node)


def build_plan(analysis: Analysis, seed: int) -> Plan:
    """Slots, steps, contexts, parameter and state tensors for an analysed spec; the
    parameters are initialised from `seed`."""
    spec, graph, types = analysis.spec, analysis.graph, analysis.types
    dtype = np.dtype(spec.dtype)
    needed = set(graph.needed)
    # Further outputs get slots only when something reads them.
    further = sorted({ref for node in graph.order if node.id in needed
                      for ref in node.spec.inputs if ref not in graph.by_id
                      and ref not in spec.inputs} | {ref for ref in spec.outputs if "." in ref})
    slots = list(spec.inputs) + [node.id for node in graph.order] + further
    index = {name: slot for slot, name in enumerate(slots)}
    nodes = [node for node in graph.order if node.id in needed]
    # A node nothing needs still holds its tensors when a needed node is tied to them.
    owners = set(needed)
    pending = [start.tie for node in nodes for start in node.starts.values() if start.tie]
    while pending:
        owner = graph.by_id[pending.pop().split(".")[0]]
        if owner.id not in owners:
            owners.add(owner.id)
            pending += [start.tie for start in owner.starts.values() if start.tie]
    params, infos, ids = declare_parameters(
        [node for node in graph.order if node.id in owners], types, dtype)
    rng = np.random.default_rng(0)
    state: dict[str, np.ndarray] = {}
    steps: list[Step] = []
    for node in nodes:
        assert node.op is not None
        out_dtype = types.values[node.id].dtype
        op = for_output(node.op, out_dtype)
        node_state = {s.name: np.zeros(types.state[node.id][s.name], dtype=dtype)
                      for s in op.active_state(node.attrs)}
        for local, array in node_state.items():
            state[f"{node.id}.{local}"] = array
        ctx = Context(node.attrs, node.id, True, rng, node_state, out_dtype)
        extras = tuple((index[f"{node.id}.{o.name}"], o) for o in op.outputs
                       if f"{node.id}.{o.name}" in index)
        steps.append(Step(len(steps), node.id, op, ctx,
                          tuple(index[ref] for ref in node.spec.inputs), index[node.id],
                          ids[node.id], extras))
    integral = frozenset(slot for slot, name in enumerate(slots)
                         if name in types.values and types.values[name].dtype.kind != "f")
    plan = Plan(slots, list(spec.inputs), steps, params, infos, state, list(spec.outputs),
                spec.loss, dtype, rng, integral)
    plan.initialize(seed)
    return plan

