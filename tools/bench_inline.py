"""What loading a spec with inline training data costs, per MB of file: time and peak memory.

    python tools/bench_inline.py [--sizes 1 10 60] [--formats yaml yaml-block json]
                                 [--phases read load validate] [--repeat N] [--trace]
                                 [--json PATH]

Generates a small regression spec (10 features, 1 target) whose `train.data.inline` holds
enough rows of 10 random floats to make a file of each size in MiB: JSON, YAML with the data
in flow style (`{inline: {X: [[...], ...]}}`, as JSON has it) and YAML in block style (one
`- [...]` line per row, as people write it). Then it measures, each in a fresh Python
process so that no measurement inherits another's memory:

- read:     `read_file(path)`, the data and its positions (what a reader costs alone);
- load:     `interpreter.load(path)`, read plus validation, checks and building the network;
- validate: load plus turning the inline data into checked arrays (`spec_data`), which is
            what `python -m interpreter validate` does.

Seconds are wall time (the median of --repeat runs). Peak memory is the process's maximum resident set minus its size
before reading (so the interpreter's own imports do not count); with --trace, a second run
also reports tracemalloc's peak (Python and numpy allocations only: libyaml's own buffers are
invisible to it, and tracing slows allocation down, so the run is not timed).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FEATURES = 10

HEADER = {"version": 1, "name": "inline_regression",
          "inputs": {"X": {"shape": ["batch", FEATURES]}, "y": {"shape": ["batch", 1]}},
          "nodes": [{"id": "h", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 1}},
                    {"id": "loss", "op": "mse", "inputs": ["h", "y"]}],
          "outputs": ["h"], "loss": "loss"}


def _rows(rng: random.Random, count: int) -> list[list[float]]:
    return [[round(rng.uniform(-1, 1), 6) for _ in range(FEATURES)] for _ in range(count)]


def write_spec(path: Path, kind: str, mib: float) -> int:
    """Write a spec of about `mib` MiB; return the number of data rows."""
    rng = random.Random(0)
    probe = _rows(rng, 200)
    row_bytes = len(_text(probe, [[r[0]] for r in probe], kind)) / len(probe)
    count = max(1, int(mib * 2**20 / row_bytes))
    rows = _rows(random.Random(1), count)
    path.write_text(_text(rows, [[r[0] + r[1]] for r in rows], kind))
    return count


def _text(X: list, y: list, kind: str) -> str:
    if kind == "json":
        document = dict(HEADER, train={"data": {"inline": {"X": X, "y": y}}, "epochs": 1})
        return json.dumps(document)
    lines = [f"{key}: {json.dumps(value)}" for key, value in HEADER.items()]
    if kind == "yaml":  # the data as one flow mapping, much as JSON writes it
        lines.append(f"train: {{epochs: 1, data: {{inline: {{X: {json.dumps(X)}, "
                     f"y: {json.dumps(y)}}}}}}}")
    else:  # "yaml-block": block structure with one flow list per row, as people write it
        lines += ["train:", "  epochs: 1", "  data:", "    inline:", "      X:"]
        lines += [f"        - {json.dumps(row)}" for row in X]
        lines += ["      y:"]
        lines += [f"        - {json.dumps(row)}" for row in y]
    return "\n".join(lines) + "\n"


CHILD = r"""
import gc, json, sys, time, tracemalloc
sys.path.insert(0, sys.argv[1])
import interpreter
from interpreter.read.reader import read_file
from interpreter.train.data import spec_data
path, phase, traced = sys.argv[2], sys.argv[3], sys.argv[4] == "1"

def status(field):  # from /proc/self/status, in bytes
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

def rss():
    return status("VmRSS")

before = rss()
if traced:
    tracemalloc.start()
started = time.perf_counter()
if phase == "read":
    collecting = gc.isenabled()
    gc.disable()  # as interpreter.load does while it reads
    result = read_file(path)
    if collecting:
        gc.enable()
else:
    net = interpreter.load(path)
    if phase == "validate":
        arrays = spec_data(net)
seconds = time.perf_counter() - started
peak = tracemalloc.get_traced_memory()[1] if traced else None
# VmHWM, not getrusage's ru_maxrss: that one keeps the peak of the parent we forked from.
print(json.dumps({"seconds": seconds, "traced_peak": peak, "rss_peak": status("VmHWM") - before}))
"""


def measure(path: Path, phase: str, traced: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(path), phase,
                          "1" if traced else "0"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 10, 60], help="MiB")
    parser.add_argument("--formats", nargs="+", default=["yaml", "yaml-block", "json"],
                        choices=["yaml", "yaml-block", "json"])
    parser.add_argument("--phases", nargs="+", default=["read", "load", "validate"])
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per measurement; the median time is shown")
    parser.add_argument("--trace", action="store_true", help="add tracemalloc's peak")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = []
    print(f"{'format':<10} {'MiB':>6} {'rows':>8} {'phase':<9} {'seconds':>8} {'s/MB':>6} "
          f"{'RSS peak':>9} {'x file':>6} {'traced':>9} {'x file':>6}")
    with tempfile.TemporaryDirectory() as folder:
        for kind in args.formats:
            for mib in args.sizes:
                path = Path(folder) / f"inline_{mib:g}_{kind}.{kind.split('-')[0]}"
                rows = write_spec(path, kind, mib)
                size = path.stat().st_size
                for phase in args.phases:
                    runs = [measure(path, phase, traced=False) for _ in range(args.repeat)]
                    row = {"seconds": statistics.median(r["seconds"] for r in runs),
                           "rss_peak": max(r["rss_peak"] for r in runs)}
                    traced = None if not args.trace else measure(path, phase, True)["traced_peak"]
                    mb = size / 1e6
                    results.append({"format": kind, "bytes": size, "rows": rows, "phase": phase,
                                    "seconds": row["seconds"], "rss_peak": row["rss_peak"],
                                    "traced_peak": traced})
                    shown = (f"{traced / 2**20:>7.0f}MB {traced / size:>6.1f}"
                             if traced is not None else f"{'-':>9} {'-':>6}")
                    print(f"{kind:<10} {size / 2**20:>6.1f} {rows:>8} {phase:<9} "
                          f"{row['seconds']:>8.2f} {row['seconds'] / mb:>6.2f} "
                          f"{row['rss_peak'] / 2**20:>7.0f}MB {row['rss_peak'] / size:>6.1f} "
                          f"{shown}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
