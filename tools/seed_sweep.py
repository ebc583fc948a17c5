"""How many seeds does a spec converge for? Trains it once per seed and counts.

    python tools/seed_sweep.py specs/xor.yaml                  # seeds 0..49
    python tools/seed_sweep.py specs/xor.yaml --default-init   # ignoring the spec's params:

A run converges when its final loss is below --loss-below and every output is within
--atol of the target the loss compares it with.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from interpreter.cli import loss_targets  # noqa: E402
from interpreter.train.data import spec_data  # noqa: E402
from interpreter.api import build  # noqa: E402
from interpreter.read.reader import read_file  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec")
    parser.add_argument("--seeds", type=int, default=50, help="seeds 0..N-1 (default 50)")
    parser.add_argument("--loss-below", type=float, default=1e-4)
    parser.add_argument("--atol", type=float, default=0.01)
    parser.add_argument("--default-init", action="store_true",
                        help="drop every node's params: and use the ops' default initializers")
    args = parser.parse_args()

    data, source = read_file(args.spec)
    if args.default_init:
        for node in data["nodes"]:
            node.pop("params", None)
    net = build(data, source)
    arrays = spec_data(net)
    failed = []
    for seed in range(args.seeds):
        net.initialize(seed)
        history = net.train(seed=seed)
        outputs = net.predict(arrays)
        targets = loss_targets(net, arrays)
        close = all(np.abs(o - t).max() <= args.atol
                    for o, t in zip(outputs.values(), targets.values()))
        if not (history.final_loss < args.loss_below and close):
            failed.append(seed)
    converged = args.seeds - len(failed)
    print(f"{args.spec}: {converged}/{args.seeds} seeds converge"
          + (" (default init)" if args.default_init else ""))
    print("failed seeds: " + (", ".join(map(str, failed)) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
