"""conv2d forward + backward on an MNIST-sized batch: 32x1x28x28 float32, 8 filters 3x3.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python tools/bench_conv.py

Times the op's own rules (forward, then vjp with and without the input gradient), BLAS
pinned to one thread, median of 31 blocks of 20 calls.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import interpreter  # noqa: E402,F401  (registers the ops)
from interpreter.ops.registry import Context, get_op  # noqa: E402


def main() -> int:
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=1, user_api="blas")
    except ImportError:
        print("warning: threadpoolctl is not installed; BLAS threads are not pinned")
    op = get_op("conv2d")
    ctx = Context(op.attrs.model_validate({"out_channels": 8, "kernel_size": 3, "padding": 1}))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 1, 28, 28)).astype(np.float32)
    params = [rng.normal(size=(8, 1, 3, 3)).astype(np.float32), np.zeros(8, np.float32)]
    g = rng.normal(size=(32, 8, 28, 28)).astype(np.float32)
    for needs, label in (((True,), "with dX"), ((False,), "without dX (a first layer)")):
        def run() -> None:
            out, saved = op.forward(ctx, [x], params)
            op.vjp(ctx, g, saved, needs)
        for _ in range(20):
            run()
        blocks = []
        for _ in range(31):
            started = time.perf_counter()
            for _ in range(20):
                run()
            blocks.append((time.perf_counter() - started) / 20)
        print(f"conv2d forward+backward, 32x1x28x28 float32, 8 filters 3x3, {label}: "
              f"{statistics.median(blocks) * 1e3:.2f} ms (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
