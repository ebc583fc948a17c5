"""Global pooling over every spatial axis of (N, C, *spatial) tensors, 1-, 2- and 3-D: the
mean (spatial axes dropped, ready for a linear layer) and the max (ONNX's GlobalMaxPool,
spatial axes kept as 1s). The rules read the rank from X; only the shape rule is made per
rank."""
from __future__ import annotations

import numpy as np

from .lowering import reduce
from .registry import Arg, Op, register_op
from .samples import Sample, distinct, normal
from .windows import LAYOUTS, check_rank


def _shape_rule(name: str, rank: int, kept: bool):
    """The shape rule of global_*_pool{rank}d: X must have `rank` spatial axes; they are
    kept as 1s or dropped."""
    def rule(a, shapes):
        x = shapes[0]
        check_rank(x, rank)
        return (x[0], x[1]) + ((1,) * rank if kept else ())
    rule.__name__ = rule.__qualname__ = f"{name}_shape"
    return rule


def global_avg_pool_forward(ctx, xs, ps):
    x = xs[0]
    return x.mean(axis=tuple(range(2, x.ndim))), x.shape


def global_avg_pool_vjp(ctx, g, saved, needs):
    x_shape = saved
    if not needs[0]:
        return (None,), ()
    share = g / int(np.prod(x_shape[2:]))
    # A read-only broadcast view: every cell of a channel gets the same share.
    return (np.broadcast_to(share.reshape(share.shape + (1,) * (len(x_shape) - 2)),
                            x_shape),), ()


def lower_global_avg_pool(b) -> str:
    # A ReduceMean rather than GlobalAveragePool: our output drops the spatial axes, and
    # onnxruntime has no float64 GlobalAveragePool.
    rank = len(b.shape(0))
    return reduce(b, "ReduceMean", b.input(0), list(range(2, rank)), keepdims=False)


def global_max_pool_forward(ctx, xs, ps):
    x = xs[0]
    n, c = x.shape[:2]
    # argmax gives the first maximum in row-major order: the cell that gets the gradient.
    winner = x.reshape(n, c, -1).argmax(axis=2)
    out = np.take_along_axis(x.reshape(n, c, -1), winner[:, :, None], axis=2)
    return out.reshape((n, c) + (1,) * (x.ndim - 2)), (winner, x.shape)


def global_max_pool_vjp(ctx, g, saved, needs):
    winner, x_shape = saved
    if not needs[0]:
        return (None,), ()
    n, c = x_shape[:2]
    gx = np.zeros((n, c, int(np.prod(x_shape[2:]))), dtype=g.dtype)
    np.put_along_axis(gx, winner[:, :, None], g.reshape(n, c, 1), axis=2)
    return (gx.reshape(x_shape),), ()


def global_max_pool_reference(attrs, xs, ps):
    x = xs[0]
    return x.max(axis=tuple(range(2, x.ndim)), keepdims=True)


def lower_global_max_pool(b) -> str:
    # ReduceMax keeping the spatial axes is GlobalMaxPool's value, and onnxruntime runs it
    # in float64 too.
    rank = len(b.shape(0))
    return reduce(b, "ReduceMax", b.input(0), list(range(2, rank)), keepdims=True)


def _register_avg(rank: int, samples: tuple[Sample, ...]) -> Op:
    layout = LAYOUTS[rank]
    cells = "L" if rank == 1 else "H W" if rank == 2 else "D H W"
    return register_op(Op(
        name=f"global_avg_pool{rank}d",
        doc=f"""Mean of each channel over all its cells.

        out[n, c] = sum_y X[n, c, y] / ({cells})   (y: every spatial position)
        dX[n, c, y] = g[n, c] / ({cells})
        Shape: X {layout} -> (N, C). Unlike torch's adaptive_avg_pool{rank}d(X, 1), which
        keeps the spatial axes as 1s, they are dropped, ready for a linear layer.""",
        inputs=(Arg("X"),),
        shape=_shape_rule(f"global_avg_pool{rank}d", rank, kept=False), forward=global_avg_pool_forward,
        vjp=global_avg_pool_vjp, onnx=lower_global_avg_pool,
        kinks="none: averaging is linear, smooth everywhere.",
        samples=samples,
    ))


def _register_max(rank: int, samples: tuple[Sample, ...]) -> Op:
    layout = LAYOUTS[rank]
    return register_op(Op(
        name=f"global_max_pool{rank}d",
        doc=f"""Maximum of each channel over all its cells, as ONNX GlobalMaxPool and
        torch's adaptive_max_pool{rank}d(X, 1).

        out[n, c, 0...] = max_y X[n, c, y]   (y: every spatial position)
        dX[n, c, y] = g[n, c, 0...] at the first maximal cell (row-major), 0 elsewhere
        Shape: X {layout} -> (N, C{", 1" * rank}), ONNX's layout (global_avg_pool{rank}d,
        by contrast, drops the spatial axes).""",
        inputs=(Arg("X"),),
        shape=_shape_rule(f"global_max_pool{rank}d", rank, kept=True), forward=global_max_pool_forward,
        vjp=global_max_pool_vjp, onnx=lower_global_max_pool,
        reference=global_max_pool_reference,
        kinks="ties: the whole gradient goes to the first maximal cell in row-major order, "
              "as torch's max pooling and max_pool here (the reduction op max splits it "
              "among ties instead).",
        samples=samples,
    ))


GLOBAL_AVG_POOL1D = _register_avg(1, (
    Sample((normal(2, 3, 5),), name="basic"),
    Sample((normal(1, 1, 1),), name="one_cell"),
))
GLOBAL_AVG_POOL2D = _register_avg(2, (
    Sample((normal(2, 3, 4, 5),), name="basic"),
    Sample((normal(1, 1, 1, 1),), name="one_pixel"),
    Sample((normal(2, 2, 3, 7),), name="non_square"),
))
GLOBAL_AVG_POOL3D = _register_avg(3, (
    Sample((normal(2, 3, 2, 3, 4),), name="basic"),
))

GLOBAL_MAX_POOL1D = _register_max(1, (
    Sample((distinct(2, 3, 5, seed=16),), name="basic"),
    Sample((distinct(1, 1, 1, seed=17),), name="one_cell"),
))
GLOBAL_MAX_POOL2D = _register_max(2, (
    Sample((distinct(2, 3, 4, 5, seed=11),), name="basic"),
    Sample((distinct(1, 1, 1, 1, seed=12),), name="one_pixel"),
    Sample((distinct(1, 2, 3, 7, seed=13),), name="batch_of_one"),
))
GLOBAL_MAX_POOL3D = _register_max(3, (
    Sample((distinct(2, 3, 2, 3, 4, seed=18),), name="basic"),
))
