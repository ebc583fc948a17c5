"""The benchmark workloads: each a spec, one batch of data, and the same training step written
by hand in numpy (and in PyTorch eager when torch is installed).

The hand-written steps are what a competent numpy programmer writes for that one network:
no graph, no dicts, in-place updates; they start from the interpreter's own initial
parameters, so both compute the same numbers (the benchmark checks that they agree).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass
class Workload:
    name: str
    description: str
    spec: dict[str, Any]
    batch: dict[str, np.ndarray]
    lr: float
    hand: Callable[[dict[str, np.ndarray], dict[str, np.ndarray], float], Callable[[], float]]
    torch: Callable[..., Callable[[], float]] | None = None


def _spec(name: str, dtype: str, inputs: dict, nodes: list, output: str, lr: float) -> dict:
    return {"version": 1, "name": name, "dtype": dtype, "inputs": inputs, "nodes": nodes,
            "outputs": [output], "loss": "loss",
            "train": {"data": {"inline": {}}, "optimizer": {"name": "sgd", "lr": lr}}}


# ----- xor: the founding 2-3-1 net, batch 4, float64 -----------------------------------------

def xor() -> Workload:
    spec = _spec("xor", "float64", {"X": {"shape": ["batch", 2]}, "y": {"shape": ["batch", 1]}}, [
        {"id": "a1", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 3}},
        {"id": "o1", "op": "relu", "inputs": ["a1"]},
        {"id": "a2", "op": "linear", "inputs": ["o1"], "attrs": {"out_features": 1}},
        {"id": "loss", "op": "half_squared_error", "inputs": ["a2", "y"],
         "attrs": {"reduction": "sum"}},
    ], "a2", 0.05)
    batch = {"X": np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64),
             "y": np.array([[0], [-1], [-1], [0]], dtype=np.float64)}
    return Workload("xor", "2-3-1 ReLU, batch 4, float64", spec, batch, 0.05, hand_xor,
                    torch_mlp_factory("half_sum"))


def hand_xor(p: dict[str, np.ndarray], batch: dict[str, np.ndarray], lr: float):
    X, y = batch["X"], batch["y"]
    W1, b1, W2, b2 = p["a1.W"], p["a1.b"], p["a2.W"], p["a2.b"]

    def step() -> float:
        nonlocal W1, b1, W2, b2  # updated in place by -=
        a1 = X @ W1
        a1 += b1
        o1 = np.maximum(a1, 0)
        a2 = o1 @ W2
        a2 += b2
        d = a2 - y
        loss = 0.5 * float(np.vdot(d, d))
        gW2 = o1.T @ d
        gb2 = d.sum(axis=0, keepdims=True)
        da1 = (d @ W2.T) * (a1 >= 0)
        gW1 = X.T @ da1
        gb1 = da1.sum(axis=0, keepdims=True)
        W1 -= lr * gW1
        b1 -= lr * gb1
        W2 -= lr * gW2
        b2 -= lr * gb2
        return loss

    return step


# ----- mlp: 784-512-256-10 ReLU, softmax CE, batch 128, float32 -------------------------------

def mlp() -> Workload:
    widths = [784, 512, 256, 10]
    nodes: list[dict] = []
    previous = "X"
    for i, width in enumerate(widths[1:], start=1):
        nodes.append({"id": f"l{i}", "op": "linear", "inputs": [previous],
                      "attrs": {"out_features": width}})
        previous = f"l{i}"
        if i < len(widths) - 1:
            nodes.append({"id": f"r{i}", "op": "relu", "inputs": [previous]})
            previous = f"r{i}"
    nodes.append({"id": "loss", "op": "softmax_cross_entropy", "inputs": [previous, "labels"]})
    spec = _spec("mlp", "float32", {"X": {"shape": ["batch", 784]},
                                    "labels": {"shape": ["batch"], "dtype": "int64"}},
                 nodes, previous, 0.01)
    rng = np.random.default_rng(0)
    batch = {"X": rng.normal(size=(128, 784)).astype(np.float32),
             "labels": rng.integers(0, 10, 128).astype(np.int64)}
    return Workload("mlp", "784-512-256-10 ReLU, softmax CE, batch 128, float32", spec, batch,
                    0.01, hand_mlp, torch_mlp_factory("cross_entropy"))


def _softmax_ce(z: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross entropy and its gradient with respect to the logits."""
    n = z.shape[0]
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = float(np.log(total[:, 0]).sum() - shifted[rows, labels].sum()) / n
    dz = e / total
    dz[rows, labels] -= 1
    dz /= n
    return loss, dz


def hand_mlp(p: dict[str, np.ndarray], batch: dict[str, np.ndarray], lr: float):
    X, labels = batch["X"], batch["labels"]
    names = sorted({k.split(".")[0] for k in p}, key=lambda n: int(n[1:]))
    Ws = [p[f"{n}.W"] for n in names]
    bs = [p[f"{n}.b"] for n in names]

    def step() -> float:
        acts = [X]
        pre = []
        h = X
        for i, (W, b) in enumerate(zip(Ws, bs)):
            z = h @ W
            z += b
            if i < len(Ws) - 1:
                pre.append(z)
                h = np.maximum(z, 0)
                acts.append(h)
            else:
                h = z
        loss, d = _softmax_ce(h, labels)
        for i in range(len(Ws) - 1, -1, -1):
            gW = acts[i].T @ d
            gb = d.sum(axis=0, keepdims=True)
            if i > 0:
                d = (d @ Ws[i].T) * (pre[i - 1] >= 0)
            Ws[i] -= lr * gW
            bs[i] -= lr * gb
        return loss

    return step


# ----- deep: 50 x (Linear 64->64 + ReLU), batch 32, float32 ----------------------------------

DEPTH = 50


def deep() -> Workload:
    nodes: list[dict] = []
    previous = "X"
    for i in range(DEPTH):
        nodes.append({"id": f"l{i}", "op": "linear", "inputs": [previous],
                      "attrs": {"out_features": 64}})
        nodes.append({"id": f"r{i}", "op": "relu", "inputs": [f"l{i}"]})
        previous = f"r{i}"
    nodes.append({"id": "loss", "op": "mse", "inputs": [previous, "y"]})
    spec = _spec("deep", "float32", {"X": {"shape": ["batch", 64]},
                                     "y": {"shape": ["batch", 64]}}, nodes, previous, 0.01)
    rng = np.random.default_rng(0)
    batch = {"X": rng.normal(size=(32, 64)).astype(np.float32),
             "y": rng.normal(size=(32, 64)).astype(np.float32)}
    return Workload("deep", f"{DEPTH} x (Linear 64->64 + ReLU), MSE, batch 32, float32", spec,
                    batch, 0.01, hand_deep, torch_mlp_factory("mse"))


def hand_deep(p: dict[str, np.ndarray], batch: dict[str, np.ndarray], lr: float):
    X, y = batch["X"], batch["y"]
    Ws = [p[f"l{i}.W"] for i in range(DEPTH)]
    bs = [p[f"l{i}.b"] for i in range(DEPTH)]

    def step() -> float:
        acts = [X]
        pre = []
        h = X
        for W, b in zip(Ws, bs):
            z = h @ W
            z += b
            pre.append(z)
            h = np.maximum(z, 0)
            acts.append(h)
        diff = h - y
        loss = float(np.vdot(diff, diff)) / diff.size
        d = diff * (2.0 / diff.size)
        for i in range(DEPTH - 1, -1, -1):
            d = d * (pre[i] >= 0)
            gW = acts[i].T @ d
            gb = d.sum(axis=0, keepdims=True)
            if i > 0:
                d = d @ Ws[i].T
            Ws[i] -= lr * gW
            bs[i] -= lr * gb
        return loss

    return step


# ----- cnn: conv3x3 1->8, relu, maxpool2, conv3x3 8->16, relu, maxpool2, linear->10 ---------

def cnn() -> Workload:
    nodes = [
        {"id": "c1", "op": "conv2d", "inputs": ["X"],
         "attrs": {"out_channels": 8, "kernel_size": 3, "padding": 1}},
        {"id": "r1", "op": "relu", "inputs": ["c1"]},
        {"id": "p1", "op": "max_pool2d", "inputs": ["r1"], "attrs": {"kernel_size": 2}},
        {"id": "c2", "op": "conv2d", "inputs": ["p1"],
         "attrs": {"out_channels": 16, "kernel_size": 3, "padding": 1}},
        {"id": "r2", "op": "relu", "inputs": ["c2"]},
        {"id": "p2", "op": "max_pool2d", "inputs": ["r2"], "attrs": {"kernel_size": 2}},
        {"id": "f", "op": "flatten", "inputs": ["p2"]},
        {"id": "logits", "op": "linear", "inputs": ["f"], "attrs": {"out_features": 10}},
        {"id": "loss", "op": "softmax_cross_entropy", "inputs": ["logits", "labels"]},
    ]
    spec = _spec("cnn", "float32", {"X": {"shape": ["batch", 1, 28, 28]},
                                    "labels": {"shape": ["batch"], "dtype": "int64"}},
                 nodes, "logits", 0.01)
    rng = np.random.default_rng(0)
    batch = {"X": rng.normal(size=(32, 1, 28, 28)).astype(np.float32),
             "labels": rng.integers(0, 10, 32).astype(np.int64)}
    return Workload("cnn", "conv3x3 1->8, relu, maxpool2, conv3x3 8->16, relu, maxpool2, "
                    "linear->10, softmax CE, batch 32, 28x28, float32", spec, batch, 0.01,
                    hand_cnn, torch_cnn)


def _im2col(x: np.ndarray) -> np.ndarray:
    """3x3 windows, padding 1: (N, C, H, W) -> (C*9, N*H*W), one copy (the classic layout:
    one GEMM for the whole batch)."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))
    return windows.transpose(1, 4, 5, 0, 2, 3).reshape(c * 9, n * h * w)


def _conv_forward(x, W, b):
    n, _, h, w = x.shape
    cols = _im2col(x)
    out = W.reshape(W.shape[0], -1) @ cols
    out += b[:, None]
    return out.reshape(W.shape[0], n, h, w).transpose(1, 0, 2, 3), cols


def _conv_backward(g, cols, W, x_shape, need_dx):
    n, c, h, w = x_shape
    o = W.shape[0]
    g2 = g.transpose(1, 0, 2, 3).reshape(o, -1)
    dW = (g2 @ cols.T).reshape(W.shape)
    db = g2.sum(axis=1)
    if not need_dx:
        return None, dW, db
    dcols = (W.reshape(o, -1).T @ g2).reshape(c, 3, 3, n, h, w)
    dxp = np.zeros((n, c, h + 2, w + 2), dtype=g.dtype)
    for i in range(3):
        for j in range(3):
            dxp[:, :, i:i + h, j:j + w] += dcols[:, i, j].transpose(1, 0, 2, 3)
    return dxp[:, :, 1:-1, 1:-1], dW, db


_CORNERS = ((0, 0), (0, 1), (1, 0), (1, 1))


def _pool_forward(x):
    """2x2 max pool as the maximum of the four strided corners (no slow strided reduce)."""
    a, b, c, d = (x[:, :, i::2, j::2] for i, j in _CORNERS)
    return np.maximum(np.maximum(a, b), np.maximum(c, d)), x


def _pool_backward(g, x, out):
    """Each window's gradient to its first maximal corner, row-major (torch's ties)."""
    dx = np.zeros(x.shape, dtype=g.dtype)
    free = np.ones(out.shape, dtype=bool)
    for i, j in _CORNERS:
        hit = (x[:, :, i::2, j::2] == out) & free
        dx[:, :, i::2, j::2] = g * hit
        free &= ~hit
    return dx


def hand_cnn(p: dict[str, np.ndarray], batch: dict[str, np.ndarray], lr: float):
    X, labels = batch["X"], batch["labels"]
    W1, b1, W2, b2 = p["c1.W"], p["c1.b"], p["c2.W"], p["c2.b"]
    W3, b3 = p["logits.W"], p["logits.b"]

    def step() -> float:
        z1, cols1 = _conv_forward(X, W1, b1)
        a1 = np.maximum(z1, 0)
        p1, _ = _pool_forward(a1)
        z2, cols2 = _conv_forward(p1, W2, b2)
        a2 = np.maximum(z2, 0)
        p2, _ = _pool_forward(a2)
        flat = p2.reshape(p2.shape[0], -1)
        logits = flat @ W3
        logits += b3
        loss, d = _softmax_ce(logits, labels)
        dW3 = flat.T @ d
        db3 = d.sum(axis=0, keepdims=True)
        dflat = d @ W3.T
        da2 = _pool_backward(dflat.reshape(p2.shape), a2, p2) * (z2 >= 0)
        dp1, dW2, db2 = _conv_backward(da2, cols2, W2, p1.shape, True)
        da1 = _pool_backward(dp1, a1, p1) * (z1 >= 0)
        _, dW1, db1 = _conv_backward(da1, cols1, W1, X.shape, False)
        for param, grad in ((W3, dW3), (b3, db3), (W2, dW2), (b2, db2), (W1, dW1), (b1, db1)):
            param -= lr * grad
        return loss

    return step


def torch_cnn(p: dict[str, np.ndarray], batch: dict[str, np.ndarray], lr: float, net: Any):
    import torch

    conv1 = torch.nn.Conv2d(1, 8, 3, padding=1)
    conv2 = torch.nn.Conv2d(8, 16, 3, padding=1)
    head = torch.nn.Linear(784, 10)
    with torch.no_grad():
        for layer, name in ((conv1, "c1"), (conv2, "c2")):
            layer.weight.copy_(torch.from_numpy(p[f"{name}.W"]))
            layer.bias.copy_(torch.from_numpy(p[f"{name}.b"]))
        head.weight.copy_(torch.from_numpy(p["logits.W"].T.copy()))
        head.bias.copy_(torch.from_numpy(p["logits.b"].reshape(-1).copy()))
    model = torch.nn.Sequential(conv1, torch.nn.ReLU(), torch.nn.MaxPool2d(2), conv2,
                                torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(), head)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    X = torch.from_numpy(batch["X"])
    labels = torch.from_numpy(batch["labels"])

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(X), labels)
        loss.backward()
        opt.step()
        return loss.item()

    return step


# ----- PyTorch eager (optional) --------------------------------------------------------------

def torch_mlp_factory(loss_kind: str):
    """A torch.nn.Sequential of Linear/ReLU layers mirroring a linear/relu chain spec."""

    def build(p: dict[str, np.ndarray], batch: dict[str, np.ndarray], lr: float, net: Any):
        import torch

        layers = []
        linear_nodes = [s for s in net.plan.steps if s.op.name == "linear"]
        for step in net.plan.steps:
            if step.op.name == "linear":
                W = p[f"{step.node}.W"]
                layer = torch.nn.Linear(W.shape[0], W.shape[1], dtype=_torch_dtype(W))
                with torch.no_grad():
                    layer.weight.copy_(torch.from_numpy(W.T.copy()))
                    layer.bias.copy_(torch.from_numpy(p[f"{step.node}.b"].reshape(-1).copy()))
                layers.append(layer)
            elif step.op.name == "relu":
                layers.append(torch.nn.ReLU())
        assert linear_nodes
        model = torch.nn.Sequential(*layers)
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        X = torch.from_numpy(batch["X"])
        target = torch.from_numpy(batch["labels"] if "labels" in batch else batch["y"])

        def step() -> float:
            opt.zero_grad(set_to_none=True)
            out = model(X)
            if loss_kind == "cross_entropy":
                loss = torch.nn.functional.cross_entropy(out, target)
            elif loss_kind == "mse":
                loss = torch.nn.functional.mse_loss(out, target)
            else:
                loss = 0.5 * ((out - target) ** 2).sum()
            loss.backward()
            opt.step()
            return loss.item()

        return step

    return build


def _torch_dtype(array: np.ndarray):
    import torch

    return torch.float64 if array.dtype == np.float64 else torch.float32


WORKLOADS: dict[str, Callable[[], Workload]] = {"xor": xor, "mlp": mlp, "deep": deep,
                                                "cnn": cnn}
