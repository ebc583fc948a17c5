"""How loading cost grows with the number of nodes: 1k, 5k and 10k-node specs.

    python tools/bench_scaling.py [--json PATH]

Two generated shapes of graph: a deep chain (linear and relu alternating) and a wide
fan-out (one input feeding N/2 linear branches, summed by a chain of adds). For each, the
time to read the YAML file, validate and analyse it (stage one and two, graph checks, shape
inference) and build the network (parameters, initialisation, plan), then the time to
generate and compile the training step on its first use. Median of 3 runs each.
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from interpreter.api import compile_network  # noqa: E402
from interpreter.check.analysis import analyse  # noqa: E402
from interpreter.train.optimizers import make_optimizer  # noqa: E402
from interpreter.read.reader import read_file  # noqa: E402


def chain(nodes: int) -> dict:
    body = []
    previous = "X"
    for i in range(nodes // 2):
        body.append({"id": f"l{i}", "op": "linear", "inputs": [previous],
                     "attrs": {"out_features": 8}})
        body.append({"id": f"r{i}", "op": "relu", "inputs": [f"l{i}"]})
        previous = f"r{i}"
    body.append({"id": "loss", "op": "mean", "inputs": [previous]})
    return _document("chain", body, previous)


def fan_out(nodes: int) -> dict:
    branches = nodes // 2
    body = [{"id": f"b{i}", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 8}}
            for i in range(branches)]
    previous = "b0"
    for i in range(1, branches):
        body.append({"id": f"s{i}", "op": "add", "inputs": [previous, f"b{i}"]})
        previous = f"s{i}"
    body.append({"id": "loss", "op": "mean", "inputs": [previous]})
    return _document("fan_out", body, previous)


def _document(name: str, body: list, output: str) -> dict:
    return {"version": 1, "name": name, "inputs": {"X": {"shape": ["batch", 8]}},
            "nodes": body, "outputs": [output], "loss": "loss"}


def measure(document: dict, folder: Path) -> dict[str, float]:
    path = folder / f"{document['name']}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    collecting = gc.isenabled()
    gc.disable()  # as interpreter.load does while it builds
    try:
        started = time.perf_counter()
        data, source = read_file(path)
        read = time.perf_counter()
        analysis = analyse(data, source)
        analysed = time.perf_counter()
        net = compile_network(analysis)
        built = time.perf_counter()
    finally:
        if collecting:
            gc.enable()
    optimizer = make_optimizer(_sgd(), net.params.arrays)
    net.compile_step(optimizer.update)(np.ones((4, 8), dtype=np.float32))
    compiled = time.perf_counter()
    return {"read": read - started, "validate": analysed - read, "build": built - analysed,
            "load_total": built - started, "first_step": compiled - built}


def _sgd():
    from interpreter.check.document import SGDSpec

    return SGDSpec(name="sgd", lr=0.01)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, dict] = {}
    print(f"{'graph':<8} {'nodes':>6} {'read s':>8} {'validate s':>10} {'build s':>8} "
          f"{'load s':>8} {'µs/node':>8} {'1st step s':>10}")
    with tempfile.TemporaryDirectory() as folder:
        for make in (chain, fan_out):
            for size in args.sizes:
                document = make(size)
                runs = [measure(document, Path(folder)) for _ in range(3)]
                row = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                count = len(document["nodes"])
                row["nodes"] = count
                results[f"{make.__name__}_{size}"] = row
                print(f"{make.__name__:<8} {count:>6} {row['read']:>8.3f} "
                      f"{row['validate']:>10.3f} {row['build']:>8.3f} "
                      f"{row['load_total']:>8.3f} {row['load_total'] / count * 1e6:>8.0f} "
                      f"{row['first_step']:>10.3f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
