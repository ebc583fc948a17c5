"""`predict` and `evaluate`: a trained spec on data, in eval mode."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..core.errors import DataError, ExitCode, InterpreterError, Problem
from ..core.files import write_atomically
from .output import STDOUT, check_output, print_table, write_json


def loss_targets(net: Any, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The graph inputs the loss compares outputs with: the loss node's own inputs after
    its first (the prediction) that are graph inputs."""
    if net.loss is None:
        return {}
    node = net.spec.nodes[[n.id for n in net.spec.nodes].index(net.loss)]
    return {ref: data[ref] for ref in node.inputs[1:] if ref in data and ref in net.inputs}


def predicted(net: Any, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`<output>.class` for the output a classifier's loss reads: the argmax of its
    scores, or its threshold (0 for logits, 0.5 for probabilities)."""
    from ..train.metrics import CLASSIFICATION_LOSSES, LOGIT_LOSSES, predicted_classes

    if net.loss is None or net.node_ops.get(net.loss) not in CLASSIFICATION_LOSSES:
        return {}
    node = net.spec.nodes[[n.id for n in net.spec.nodes].index(net.loss)]
    prediction = node.inputs[0] if node.inputs else None
    if prediction not in outputs:
        return {}
    threshold = 0.0 if net.node_ops[net.loss] in LOGIT_LOSSES else 0.5
    classes = predicted_classes(outputs[prediction], threshold)
    return {f"{prediction}.class": classes.reshape(len(classes), -1)[:, 0]
            if classes.ndim > 1 and classes.shape[1] == 1 else classes}


def _load_trained(args: argparse.Namespace) -> Any:
    from ..api import load

    net = load(args.spec, data=False)
    net.load_weights(args.weights)
    return net


def _data(net: Any, args: argparse.Namespace, required: list[str], part: str
          ) -> tuple[dict[str, np.ndarray], str]:
    """`--data FILE`, else the spec's `part` section, else its training data."""
    from ..train.data import file_data, section_data, spec_data

    if args.data is not None:
        return file_data(net, args.data, "--data", required), str(args.data)
    rows = section_data(net, part)
    if rows is not None:
        return rows, f"the {part} section"
    if net.spec.train is not None and net.spec.train.data is not None:
        return spec_data(net), "the training data"
    raise DataError([net.source.problem((), f"this spec has no {part} section and no "
                                        "train.data; give the rows with --data FILE")])


def command_predict(args: argparse.Namespace, out: TextIO) -> int:
    for flag, path in (("--json", args.json), ("-o", args.output)):
        check_output(path, flag)
    if args.output is not None and args.output.suffix.lower() not in (".npy", ".npz", ".csv"):
        raise InterpreterError(f"-o {args.output}: predictions are written as .npy, .npz or "
                               ".csv")
    net = _load_trained(args)
    data, where = _data(net, args, net.inference_inputs(), "test")
    outputs = net.predict(data)
    classes = predicted(net, outputs)
    targets = loss_targets(net, data)
    loss = None
    if targets and all(name in data for name in net.training_inputs()):
        loss = _evaluate(net, data).get("loss")
    if args.output is not None:
        _write_predictions(args.output, {**outputs, **classes})
    if args.json is not None:
        write_json(args.json, {
            "spec": str(args.spec), "data": where, "rows": len(next(iter(outputs.values()))),
            "outputs": {k: v.tolist() for k, v in outputs.items()},
            "classes": {k: v.tolist() for k, v in classes.items()}, "loss": loss})
    if args.json != STDOUT and (args.json is None or args.output is not None):
        if args.output is None:
            print_table(out, {**outputs, **classes, **targets}, limit=20)
        rows = len(next(iter(outputs.values())))
        line = f"{rows} rows of {where}"
        if loss is not None:
            line += f": loss {loss:.6g}"
        if args.output is not None:
            line += f"; predictions written to {args.output}"
        print(line, file=out)
    return ExitCode.OK


def _write_predictions(path: Path, columns: dict[str, np.ndarray]) -> None:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if len(columns) != 1:
            names = ", ".join(columns)
            raise InterpreterError(f"-o {path}: an .npy file holds one array, and there are "
                                   f"{len(columns)} ({names}); write .npz or .csv")
        array = next(iter(columns.values()))
        write_atomically(path, lambda stream: np.save(stream, array, allow_pickle=False))
    elif suffix == ".npz":
        write_atomically(path, lambda stream: np.savez(stream, **columns))
    else:
        header, fields, integer = [], [], []
        for name, array in columns.items():
            flat = array.reshape(len(array), -1)
            header += [name] if flat.shape[1] == 1 else [f"{name}[{i}]"
                                                          for i in range(flat.shape[1])]
            fields.append(flat)
            integer += [array.dtype.kind in "iub"] * flat.shape[1]
        table = np.concatenate([f.astype(np.float64) for f in fields], axis=1)
        lines = [",".join(header)]
        for row in table:
            lines.append(",".join(str(int(v)) if whole else repr(float(v))
                                  for v, whole in zip(row, integer)))
        text = "\n".join(lines) + "\n"
        write_atomically(path, lambda stream: stream.write(text.encode()))


def _metrics(net: Any) -> list:
    from ..check.document import MetricSpec
    from ..train.metrics import CLASSIFICATION_LOSSES

    chosen = list(net.spec.train.metrics) if net.spec.train is not None else []
    if chosen or net.loss is None:
        return chosen
    if net.node_ops.get(net.loss) in CLASSIFICATION_LOSSES:
        return [MetricSpec(name="accuracy")]
    return [MetricSpec(name="mae"), MetricSpec(name="rmse"), MetricSpec(name="r2")]


def _evaluate(net: Any, data: dict[str, np.ndarray]) -> dict[str, float]:
    from ..train.evaluation import Evaluator

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return Evaluator(net, _metrics(net))(data)


def command_evaluate(args: argparse.Namespace, out: TextIO) -> int:
    check_output(args.json, "--json")
    net = _load_trained(args)
    if net.loss is None:
        raise DataError([net.source.problem((), "this spec has no loss, so there is nothing "
                                            "to evaluate; use predict")])
    data, where = _data(net, args, net.training_inputs(), "test")
    numbers = _evaluate(net, data)
    rows = len(next(iter(data.values())))
    if args.json is not None:
        write_json(args.json, {"spec": str(args.spec), "weights": str(args.weights),
                               "data": where, "rows": rows, **numbers})
    if args.json != STDOUT:
        text = "  ".join(f"{key} {value:.6g}" for key, value in numbers.items())
        print(f"{where} ({rows} rows): {text}", file=out)
    bad = [key for key, value in numbers.items() if not np.isfinite(value)]
    if bad:
        raise DataError([Problem(f"{', '.join(bad)} is not finite on {where}: the weights "
                                 "or the data hold values the network overflows on",
                                 str(args.weights))])
    return ExitCode.OK
