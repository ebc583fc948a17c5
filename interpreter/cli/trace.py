"""`trace SPEC`: one forward and one backward pass, printed the way the founding note
writes backprop down: every node's output, then in reverse order the gradient arriving
at each node, the rule it applies, the gradients it stores and those it passes on.
A spec without a loss (an imported ONNX model) gets the forward pass alone.

The content is built once (`trace_content`, JSON-able) and either printed as text or
written as JSON, so the two always say the same thing.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..core.errors import DataError, ExitCode, InterpreterError
from .output import STDOUT, plural, write_json
from .arguments import whole_number
from .tensors import Style, shape_text, tensor_json, values_text


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    trace = commands.add_parser(
        "trace", parents=parents,
        help="print one forward and backward pass (forward only without a loss), node by node",
        description="Run one training step of SPEC on the first rows of its training data "
        "(or of --data FILE) and print, in graph order, each node's inputs and output; "
        "then, in reverse order, the gradient arriving at each node, the rule it applies "
        "(from the op's documentation), the gradients it stores (parameters) and those it "
        "passes on (inputs). A spec without a loss (an imported model) gets one forward "
        "pass, in eval mode, and no backward pass. Tensors of up to 32 values are printed "
        "whole, larger ones as statistics.")
    trace.add_argument("spec", metavar="SPEC", help="a .yaml, .yml or .json spec file")
    trace.add_argument("--weights", metavar="W", type=Path,
                       help="start from these weights (.safetensors or .npz) instead of the "
                       "spec's initialisation")
    trace.add_argument("--data", metavar="FILE", type=Path,
                       help="trace rows of this .npz, .npy or .csv file instead of the "
                       "spec's training data")
    trace.add_argument("--batch", metavar="N", type=whole_number(1),
                       help="trace the first N rows (default: train.batch_size, else every "
                       "row)")
    trace.add_argument("--step", action="store_true",
                       help="also apply the optimizer's update and show each parameter "
                       "before and after")
    trace.add_argument("--json", action="store_true",
                       help="print the same content as JSON instead of text")


def command_trace(args: argparse.Namespace, out: TextIO) -> int:
    content = trace_content(args.spec, weights=args.weights, batch=args.batch,
                            step=args.step, data=args.data)
    if args.json:
        write_json(STDOUT, content)
    else:
        print_trace(content, out, Style(out))
    return ExitCode.OK


def _feeds(net: Any, batch: int | None, path: Path | None
           ) -> tuple[dict[str, np.ndarray], int, str]:
    """The first rows of `--data FILE`, else of the spec's training data, for the inputs
    the trace reads (the loss's; the outputs' when there is no loss), and where they are
    from."""
    from ..train.data import file_data, spec_data

    names = net.training_inputs() if net.loss is not None else net.inference_inputs()
    if path is not None:
        data, where = file_data(net, path, "--data", names), str(path)
    elif net.spec.train is not None and net.spec.train.data is not None:
        data, where = spec_data(net), "the training data"
    else:
        section = "train.data" if net.spec.train is not None else "'train' section"
        raise DataError([net.source.problem((), f"this spec has no {section}, so there is "
                                            "no data to trace; give the rows with --data "
                                            "FILE")])
    rows = len(data[names[0]]) if names else 0
    default = net.spec.train.batch_size if net.spec.train is not None else None
    size = batch if batch is not None else min(default or rows, rows)
    if size > rows:
        raise InterpreterError(f"--batch {size}: {where} has only {plural(rows, 'row')}")
    return {name: data[name][:size] for name in names}, size, where


def _optimizer(net: Any) -> tuple[Any, Any, dict[str, Any]]:
    """(update, finish, description) of the first training step's optimizer."""
    from ..train.clipping import Clipped
    from ..train.optimizers import make_optimizer
    from ..train.schedules import make_schedule

    train = net.spec.train
    if train is None:
        raise DataError([net.source.problem((), "--step needs the spec's train: section (its "
                                            "optimizer)")])
    optimizer = make_optimizer(train.optimizer, net.params.arrays)
    if train.schedule is not None:
        optimizer.lr = make_schedule(train.schedule, train.optimizer.lr, max(train.epochs, 1)
                                     ).lr(0)
    description = {"optimizer": train.optimizer.name, "lr": optimizer.lr,
                   "clip_grad_norm": train.clip_grad_norm}
    if train.clip_grad_norm is None:
        return optimizer.update, None, description
    clipped = Clipped(optimizer, train.clip_grad_norm)
    return clipped.update, clipped.finish, description


def trace_content(path: str, *, weights: Path | None = None, batch: int | None = None,
                  step: bool = False, data: Path | None = None) -> dict[str, Any]:
    """Everything `trace` shows, as JSON-able data. Without a loss, `loss` is None and
    `backward` is empty."""
    from ..api import load
    from ..ops.formulas import forward_formula, gradient_formula
    from ..run.trace import trace_forward, trace_step

    net = load(path, data=data is None)
    if net.loss is None and step:
        raise DataError([net.source.problem((), "--step: this spec has no loss, so there is "
                                            "no gradient to step with; trace it without "
                                            "--step")])
    if weights is not None:
        net.load_weights(weights)
    feeds, size, where = _feeds(net, batch, data)
    update = finish = None
    stepping: dict[str, Any] = {}
    if step:
        update, finish, stepping = _optimizer(net)
    trace = (trace_step(net, feeds, update, finish) if net.loss is not None
             else trace_forward(net, feeds))
    plan = net.plan
    names = list(net.params)

    forward = []
    for record in trace.forward:
        step_ = record.step
        definitions = step_.op.active_params(step_.ctx.attrs)
        forward.append({
            "node": step_.node, "op": step_.op.name, "rule": forward_formula(step_.op),
            "inputs": [{"arg": step_.op.arg_name(i), "from": plan.slots[slot],
                        "shape": list(value.shape)}
                       for i, (slot, value) in enumerate(zip(step_.ins, record.inputs))],
            "params": [{"name": names[pid], "local": definition.name or "P",
                        **tensor_json(value)}
                       for pid, definition, value in zip(step_.param_ids, definitions,
                                                         record.params)],
            "output": tensor_json(record.out),
            "further": [{"name": name, **tensor_json(value)}
                        for name, value in record.further.items()]})

    senders: dict[int, list[str]] = {}
    backward = []
    for record in trace.backward:
        step_ = record.step
        op = step_.op
        definitions = op.active_params(step_.ctx.attrs)
        stores = [{"param": names[pid], "rule": gradient_formula(op, definition.name or "P"),
                   **tensor_json(grad)}
                  for pid, definition, grad in zip(step_.param_ids, definitions,
                                                   record.param_grads)]
        passes, blocked = [], []
        for i, (slot, need, grad) in enumerate(zip(step_.ins, record.needs,
                                                   record.input_grads)):
            arg = op.arg_name(i)
            rule_name = op.arg(i).name
            if need and grad is not None:
                senders.setdefault(slot, []).append(step_.node)
                passes.append({"arg": arg, "to": plan.slots[slot],
                               "rule": gradient_formula(op, rule_name), **tensor_json(grad)})
            else:
                reason = ("the argument is not differentiable" if not op.arg(i).differentiable
                          else "nothing trainable lies behind it")
                blocked.append({"arg": arg, "from": plan.slots[slot], "reason": reason})
        backward.append({
            "node": step_.node, "op": op.name,
            "gradient": {"from": senders.get(step_.out, []), **tensor_json(record.g)},
            "stores": stores, "passes": passes, "blocked": blocked})

    content: dict[str, Any] = {
        "spec": str(path), "name": net.spec.name, "dtype": str(net.dtype), "rows": size,
        "data": where,
        "weights": str(weights) if weights is not None else None,
        "inputs": [{"name": name, **tensor_json(value)}
                   for name, value in trace.inputs.items()],
        "forward": forward, "loss": trace.loss, "backward": backward}
    if step:
        stepping["updates"] = [{"param": names[u.param], "before": tensor_json(u.before),
                                "grad": tensor_json(u.grad), "after": tensor_json(u.after)}
                               for u in trace.updates]
        content["step"] = stepping
    return content


def _tensor_lines(entry: dict[str, Any], indent: str) -> list[str]:
    if "values" in entry:
        return values_text(np.array(entry["values"], dtype=entry["dtype"]), indent)
    s = entry["stats"]
    return [f"{indent}mean {s['mean']:.6g}, std {s['std']:.6g}, min {s['min']:.6g}, "
            f"max {s['max']:.6g}, zeros {100 * s['zeros']:.1f}%"]


def _label(left: str, shape: list[int], width: int) -> str:
    return f"{left:<{width}}  {shape_text(tuple(shape))}"


def print_trace(content: dict[str, Any], out: TextIO, style: Style) -> None:
    """The trace as text: aligned labels, each tensor's values below its label."""
    start = "its initial weights" if content["weights"] is None else content["weights"]
    what = "one training step" if content["loss"] is not None else "one forward pass"
    print(style.heading(f"trace of {content['name']} ({content['spec']}): {what} on the "
                        f"first {plural(content['rows'], 'row')} of {content['data']}, "
                        f"{content['dtype']}, from {start}"), file=out)

    def block(rows: list[tuple[str, dict[str, Any]]], indent: str) -> None:
        width = max((len(left) for left, _ in rows), default=0)
        for left, entry in rows:
            print(indent + _label(left, entry["shape"], width), file=out)
            for line in _tensor_lines(entry, indent + "  "):
                print(line, file=out)

    print("", file=out)
    print(style.heading("inputs"), file=out)
    block([(item["name"], item) for item in content["inputs"]], "  ")

    print("", file=out)
    print(style.heading("forward, in graph order"), file=out)
    for node in content["forward"]:
        rule = f"   {node['rule']}" if node["rule"] else ""
        print(f"  {style.node(node['node'])} ({node['op']}){rule}", file=out)
        reads = ", ".join(f"{item['arg']} = {item['from']} {shape_text(tuple(item['shape']))}"
                          for item in node["inputs"])
        if reads:
            print(f"    reads {reads}", file=out)
        block([(f"{p['local']} = {p['name']}", p) for p in node["params"]]
              + [("out", node["output"])]
              + [(item["name"], item) for item in node["further"]], "    ")
    if content["loss"] is None:
        print("", file=out)
        print(style.dim("this spec has no loss, so there is no backward pass"), file=out)
        return
    print(f"  loss = {content['loss']:.10g}", file=out)

    print("", file=out)
    print(style.heading("backward, in reverse order (the gradient of the loss with respect to "
                        "itself is 1)"), file=out)
    for node in content["backward"]:
        print(f"  {style.node(node['node'])} ({node['op']})", file=out)
        arriving = node["gradient"]
        source = (" from " + " + ".join(arriving["from"])) if arriving["from"] else ""
        rows = [(f"g{source}", arriving)]
        rows += [(f"stores  {item['rule'] or 'd' + item['param']}  ->  {item['param']}", item)
                 for item in node["stores"]]
        rows += [(f"passes  {item['rule'] or 'd' + item['arg']}  ->  {item['to']}", item)
                 for item in node["passes"]]
        block(rows, "    ")
        for item in node["blocked"]:
            print(style.dim(f"    no gradient for {item['arg']} ({item['from']}): "
                            f"{item['reason']}"), file=out)

    step = content.get("step")
    if step is not None:
        clip = (f", gradients clipped to norm {step['clip_grad_norm']:g}"
                if step["clip_grad_norm"] is not None else "")
        print("", file=out)
        print(style.heading(f"step: {step['optimizer']}, lr {step['lr']:g}{clip}"), file=out)
        for update in step["updates"]:
            print(f"  {style.node(update['param'])}", file=out)
            block([("before", update["before"]), ("grad", update["grad"]),
                   ("after", update["after"])], "    ")
