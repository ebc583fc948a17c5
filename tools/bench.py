"""Training-step benchmark: the interpreter against hand-written numpy (and PyTorch eager).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python tools/bench.py [--json PATH]

Each workload's step (forward + backward + SGD update on one batch) is timed for every
implementation in the same run, interleaved round by round, BLAS pinned to one thread; the
figure is the median per-step time over the rounds, and the ratio is the median over rounds
of each round's time against hand numpy's in that round. The
interpreter is timed two ways: `train`, the step `net.train()` runs, and `library`, the
loop a library user writes (`net.forward`, `net.backward`, then `params[name] -= lr * grad`
through `net.params`). Peak memory per step is measured separately with tracemalloc (numpy
reports its allocations to it; torch does not, so torch has no memory figure).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import interpreter  # noqa: E402
from interpreter.train.optimizers import make_optimizer  # noqa: E402
from workloads import WORKLOADS, Workload  # noqa: E402


def interpreter_step(net: Any, batch: dict[str, np.ndarray]) -> Callable[[], float]:
    """The step the training loop runs: forward, backward, update on a validated batch."""
    arrays = net.check_feeds(batch, net.training_inputs())
    args = [arrays[name] for name in net.training_inputs()]
    optimizer = make_optimizer(net.spec.train.optimizer, net.params.arrays)
    # As in training, the first step runs in check mode, the rest plain.
    steps = [net.compile_step(optimizer.update, check=True), net.compile_step(optimizer.update)]

    def step() -> float:
        loss = steps[0](*args)
        if len(steps) > 1:
            steps.pop(0)
        return loss

    return step


def library_step(net: Any, batch: dict[str, np.ndarray], lr: float) -> Callable[[], float]:
    """What a library user writes: forward, backward, an SGD update through net.params."""
    params = net.params
    loss_name = net.loss

    def step() -> float:
        loss = float(net.forward(batch)[loss_name])
        for name, grad in net.backward().items():
            params[name] -= lr * grad
        return loss

    return step


def build(workload: Workload, with_torch: bool) -> tuple[dict[str, Callable[[], float]], Any]:
    nets = [interpreter.load(workload.spec, seed=0, data=False) for _ in range(4)]
    start = {k: v.copy() for k, v in nets[0].params.items()}
    steps = {"train": interpreter_step(nets[0], workload.batch),
             "library": library_step(nets[3], workload.batch, workload.lr)}
    hand_params = {k: v.copy() for k, v in start.items()}
    steps["numpy"] = workload.hand(hand_params, workload.batch, workload.lr)
    if with_torch and workload.torch is not None:
        steps["torch"] = workload.torch({k: v.copy() for k, v in start.items()}, workload.batch,
                                        workload.lr, nets[1])
    return steps, nets


def check_agreement(workload: Workload) -> float:
    """Both implementations from the same start: the losses of 5 steps must agree."""
    net = interpreter.load(workload.spec, seed=0, data=False)
    hand = workload.hand({k: v.copy() for k, v in net.params.items()}, workload.batch,
                         workload.lr)
    ours = interpreter_step(net, workload.batch)
    other = interpreter.load(workload.spec, seed=0, data=False)
    library = library_step(other, workload.batch, workload.lr)
    worst = 0.0
    for _ in range(5):
        a, b, c = ours(), hand(), library()
        worst = max(worst, abs(a - b) / max(abs(b), 1e-30), abs(c - b) / max(abs(b), 1e-30))
    tolerance = 1e-4 if net.dtype == np.float32 else 1e-10
    if worst > tolerance:
        raise SystemExit(f"{workload.name}: the interpreter and hand numpy disagree "
                         f"(relative {worst:.2e}); the benchmark would compare different work")
    return worst


def time_steps(steps: dict[str, Callable[[], float]], rounds: int,
               budget: float) -> tuple[dict[str, float], dict[str, float]]:
    """Median seconds per step of each implementation, and the median over rounds of its
    ratio to hand numpy's time in the same round (so a machine that slows down for a
    while moves both sides of a ratio alike)."""
    for step in steps.values():  # warm-up
        for _ in range(5):
            step()
    # Steps per block, so each block takes about budget / rounds / len(steps) seconds.
    started = time.perf_counter()
    steps["numpy"]()
    one = max(time.perf_counter() - started, 1e-6)
    per_block = max(1, int(budget / rounds / len(steps) / one))
    samples: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for round_index in range(rounds):
            order = names[round_index % len(names):] + names[:round_index % len(names)]
            for name in order:
                step = steps[name]
                started = time.perf_counter()
                for _ in range(per_block):
                    step()
                samples[name].append((time.perf_counter() - started) / per_block)
    finally:
        if gc_was:
            gc.enable()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratios = {name: statistics.median(a / b for a, b in zip(values, samples["numpy"]))
              for name, values in samples.items()}
    return medians, ratios


def peak_memory(step: Callable[[], Any]) -> int:
    step()
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        step()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (pip install threadpoolctl)"
    parts = [f"{p.get('internal_api')} {p.get('version')} ({p.get('architecture')}, "
             f"{p.get('num_threads')} thread{'s' if p.get('num_threads') != 1 else ''})"
             for p in threadpool_info() if p.get("user_api") == "blas"]
    return "; ".join(parts) or "none found"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workloads", nargs="*", default=list(WORKLOADS),
                        help=f"which to run (default all: {', '.join(WORKLOADS)})")
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--seconds", type=float, default=6.0, help="time budget per workload")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep-freed-memory", action="store_true",
                        help="tune glibc malloc as `python -m interpreter run` does (applies "
                        "to every implementation alike)")
    args = parser.parse_args()
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if name in os.environ:
            print(f"warning: {name} is set; run under `env -u {name}`: it can select a "
                  "kernel several times slower", file=sys.stderr)

    if args.keep_freed_memory:
        from interpreter.run.allocator import keep_freed_memory

        print(f"malloc tuned to keep freed memory: {keep_freed_memory()}")
    limiter = None
    try:
        from threadpoolctl import threadpool_limits
        limiter = threadpool_limits(limits=1, user_api="blas")
    except ImportError:
        print("warning: threadpoolctl is not installed; BLAS threads are not pinned",
              file=sys.stderr)
    with_torch = not args.no_torch
    if with_torch:
        try:
            import torch
            torch.set_num_threads(1)
        except ImportError:
            with_torch = False

    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"{platform.machine()}, {os.cpu_count()} cores")
    print(f"BLAS: {blas_info()}")
    if with_torch:
        import torch
        print(f"torch {torch.__version__} (eager, 1 thread)")
    results: dict[str, Any] = {"blas": blas_info(), "numpy": np.__version__, "workloads": {}}
    header = (f"{'workload':<6} {'numpy µs':>10} {'train µs':>10} {'ratio':>7} "
              f"{'library µs':>10} {'ratio':>7} {'torch µs':>10} {'ratio':>7} "
              f"{'mem ratio':>9} {'infer/train mem':>15}")
    print(header)
    for name in args.workloads:
        workload = WORKLOADS[name]()
        agreement = check_agreement(workload)
        steps, nets = build(workload, with_torch)
        times, ratios = time_steps(steps, args.rounds, args.seconds)
        memory = {"interpreter": peak_memory(steps["train"]),
                  "library": peak_memory(steps["library"]),
                  "numpy": peak_memory(steps["numpy"])}
        inference_net = nets[2]
        memory["inference"] = peak_memory(lambda: inference_net.predict(workload.batch))
        row = {
            "description": workload.description,
            "step_seconds": times,
            "ratio_to_numpy": ratios,
            "peak_bytes": memory,
            "memory_ratio": memory["interpreter"] / max(memory["numpy"], 1),
            "inference_to_training_memory": memory["inference"] / max(memory["interpreter"], 1),
            "loss_agreement": agreement,
        }
        results["workloads"][name] = row
        torch_time = times.get("torch")
        ratio = row["ratio_to_numpy"]
        print(f"{name:<6} {times['numpy'] * 1e6:>10.1f} {times['train'] * 1e6:>10.1f} "
              f"{ratio['train']:>6.2f}x {times['library'] * 1e6:>10.1f} "
              f"{ratio['library']:>6.2f}x "
              + (f"{torch_time * 1e6:>10.1f} {ratio['torch']:>6.2f}x "
                 if torch_time else f"{'-':>10} {'-':>7} ")
              + f"{row['memory_ratio']:>8.2f}x {row['inference_to_training_memory']:>14.2f}x",
              flush=True)
    if limiter is not None:
        limiter.restore_original_limits()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
