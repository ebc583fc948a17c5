"""For any spec that `validate` accepts, `run` trains it: exit 0, or 3 when the numbers stop
being finite, and never 1 (a problem validate should have reported) or 4 (a bug).

Specs are drawn around every registered op: its samples' attrs and input shapes, with the
first axis a batch of a random size (or fixed), random batch sizes that may not divide the
rows, both float dtypes, random optimizers. Whatever validates must run.
"""
from __future__ import annotations

import os

import numpy as np
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import interpreter
from interpreter.cli import main
from interpreter.core.errors import SpecError
from interpreter.ops.registry import all_ops
from interpreter.ops.samples import Gen

OPS = [op for op in all_ops() if op.samples]
EXAMPLES = int(os.environ.get("INTERPRETER_EXAMPLES", "60"))


def _data(item, rows: int, rng: np.random.Generator) -> np.ndarray:
    """A sample input with its first axis resized to `rows`."""
    if isinstance(item, Gen):
        shape = (rows,) + tuple(item.shape[1:]) if item.shape else ()
        return Gen(shape, item.kind, item.low, item.high, item.avoid).draw(rng)
    array = np.asarray(item)
    if array.ndim == 0:
        return array
    return np.resize(array, (rows,) + array.shape[1:])


@st.composite
def specs(draw) -> dict:
    op = draw(st.sampled_from(OPS))
    sample = draw(st.sampled_from(op.samples))
    rows = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    fixed = draw(st.booleans())
    inputs, inline, names = {}, {}, []
    for position, item in enumerate(sample.inputs):
        array = _data(item, rows, rng)
        name = f"x{position}"
        names.append(name)
        shape = list(array.shape)
        if shape and not fixed:
            shape[0] = "batch"
        decl = {"shape": shape}
        if array.dtype.kind in "iu":
            decl["dtype"] = "int64"
        inputs[name] = decl
        inline[name] = array.tolist()
    nodes = [{"id": "n", "op": op.name, "inputs": names, "attrs": dict(sample.attrs)}]
    output = "n"
    if draw(st.booleans()):
        nodes.append({"id": "act", "op": "tanh", "inputs": ["n"]})
        output = "act"
    nodes.append({"id": "loss", "op": "sum", "inputs": [output]})
    optimizer = draw(st.sampled_from([
        {"name": "sgd", "lr": 0.01}, {"name": "sgd", "lr": 0.1, "momentum": 0.9},
        {"name": "adam", "lr": 0.01}, {"name": "adamw", "lr": 0.01, "weight_decay": 0.1}]))
    train = {"data": {"inline": inline}, "optimizer": optimizer,
             "epochs": draw(st.integers(1, 2)), "seed": draw(st.integers(0, 3))}
    if draw(st.booleans()):
        train["batch_size"] = draw(st.integers(1, 7))
    return {"version": 1, "name": f"{op.name}_{sample.name}", "dtype": dtype,
            "inputs": inputs, "nodes": nodes, "outputs": [output], "loss": "loss",
            "train": train}


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture,
                                 HealthCheck.filter_too_much])
@given(document=specs())
def test_what_validate_accepts_run_trains(document, tmp_path, capsys):
    try:
        interpreter.load(document)
    except SpecError:
        assume(False)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    assert main(["validate", str(path)]) == 0
    code = main(["run", str(path), "--quiet"])
    err = capsys.readouterr().err
    assert code in (0, 3), f"validate accepted it, run exited {code}:\n{err}"
