"""Normalisation layers: batch norm (statistics per channel) and layer norm (per sample)."""
from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from pydantic import Field, field_validator

from ..core.dims import format_shape, is_known
from ..core.errors import FeedError, ShapeError
from .initializers import Init
from .lowering import floats, ints, reduce
from .registry import Arg, Attrs, Op, Output, ParamDef, StateDef, register_op
from .samples import Sample, normal

ONES = Init("ones")
ZEROS = Init("zeros")


# ----- batch_norm ------------------------------------------------------------------------

class BatchNormAttrs(Attrs):
    momentum: float = Field(0.1, ge=0, le=1, description="Weight of the batch statistics in "
                            "the running averages: running = (1-momentum) running + "
                            "momentum batch (PyTorch's convention).")
    eps: float = Field(1e-5, gt=0, description="Added to the variance before the square root.")
    track_running_stats: bool = Field(True, description="Keep running statistics for eval "
                                      "(PyTorch's default). Without them the batch's own "
                                      "statistics normalise it in eval too, and there is no "
                                      "state.")


def _channels(a: BatchNormAttrs, shapes) -> int:
    x = shapes[0]
    if len(x) < 2:
        raise ShapeError(f"X must be (N, C, ...) with channels on axis 1, but its shape is "
                         f"{format_shape(x)}", arg=0)
    if not is_known(x[1]):
        raise ShapeError(f"X's channel axis (1) is the symbol '{x[1]}' (shape "
                         f"{format_shape(x)}); batch_norm needs a concrete channel count for "
                         "gamma, beta and the running statistics", arg=0)
    return x[1]


def batch_norm_shape(a: BatchNormAttrs, shapes):
    _channels(a, shapes)
    return tuple(shapes[0])


def batch_norm_channel_shape(a: BatchNormAttrs, shapes):
    return (_channels(a, shapes),)


def _by_channel(x: np.ndarray) -> np.ndarray:
    # Every layout becomes (N, C, L): statistics are then sums over axes 0 and 2, and a
    # per-channel vector broadcasts as v[:, None]. A view for contiguous input.
    return x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))


def batch_norm_forward(ctx, xs, ps):
    x = xs[0]
    gamma, beta = ps
    a = ctx.attrs
    x3 = _by_channel(x)
    if not ctx.training and a.track_running_stats:
        # Eval: a fixed affine map per channel. The running stats are copied into `saved`
        # because a later training step updates them in place.
        mean = ctx.state["running_mean"].copy()
        var = ctx.state["running_var"].copy()
        inv_std = 1.0 / np.sqrt(var + a.eps)
        scale = gamma * inv_std
        out = x3 * scale[:, None]
        out += (beta - mean * scale)[:, None]
        return out.reshape(x.shape), (False, x3, mean, inv_std, gamma, var)
    count = x3.shape[0] * x3.shape[2]
    if count < 2:
        raise FeedError(f"node '{ctx.node}' (batch_norm): batch statistics need more than one "
                        f"value per channel to estimate a variance, but X has shape {x.shape}")
    # einsum sums over N and L in one pass, faster than ndarray.sum over two axes.
    mean = np.einsum("ncl->c", x3) / count
    xhat = x3 - mean[:, None]
    var = np.einsum("ncl,ncl->c", xhat, xhat) / count  # biased: what normalises the batch
    inv_std = 1.0 / np.sqrt(var + a.eps)
    xhat *= inv_std[:, None]
    out = xhat * gamma[:, None]
    out += beta[:, None]
    if ctx.training and a.track_running_stats:
        # PyTorch tracks the unbiased variance, m/(m-1) times the biased one. State arrays
        # are the one thing a rule may update in place: the network owns and saves them.
        running_mean, running_var = ctx.state["running_mean"], ctx.state["running_var"]
        running_mean *= 1 - a.momentum
        running_mean += a.momentum * mean
        running_var *= 1 - a.momentum
        running_var += (a.momentum * count / (count - 1)) * var
    return out.reshape(x.shape), (True, xhat, mean, inv_std, gamma, var)


def batch_norm_vjp(ctx, g, saved, needs):
    training, data, mean, inv_std, gamma, _ = saved
    g3 = _by_channel(g)
    gbeta = np.einsum("ncl->c", g3)
    if not training:
        x3 = data
        # sum g (x - mean) inv_std, without the (x - mean) temporary.
        ggamma = (np.einsum("ncl,ncl->c", g3, x3) - mean * gbeta) * inv_std
        gx = (g3 * (gamma * inv_std)[:, None]).reshape(g.shape) if needs[0] else None
        return (gx,), (ggamma, gbeta)
    xhat = data
    ggamma = np.einsum("ncl,ncl->c", g3, xhat)
    gx = None
    if needs[0]:
        count = xhat.shape[0] * xhat.shape[2]
        # dxhat = g gamma; the batch mean and variance depend on every x of the channel,
        # which subtracts the mean of dxhat and its projection on xhat.
        gx = xhat * (-ggamma / count)[:, None]
        gx += g3
        gx -= (gbeta / count)[:, None]
        gx *= (gamma * inv_std)[:, None]
        gx = gx.reshape(g.shape)
    return (gx,), (ggamma, gbeta)


def _lower_batch_stats(b) -> tuple[str, str, str]:
    """X, and the mean and biased variance of each channel, shaped (1, C, 1, ...)."""
    x = b.input(0)
    axes = [0] + list(range(2, len(b.shape(0))))
    mean = reduce(b, "ReduceMean", x, axes, keepdims=True)
    centred = b.node("Sub", [x, mean])
    return x, mean, reduce(b, "ReduceMean", b.node("Mul", [centred, centred]), axes,
                           keepdims=True)


def lower_batch_norm(b) -> str:
    x, gamma, beta = b.input(0), b.param("gamma"), b.param("beta")
    by_channel = ints(b, [-1] + [1] * (len(b.shape(0)) - 2))
    if not b.attrs.track_running_stats:
        # The batch's own statistics, as in training (ONNX's training_mode would also
        # output running statistics, which this node does not have).
        _, mean, var = _lower_batch_stats(b)
        xhat = b.node("Div", [b.node("Sub", [x, mean]),
                              b.node("Sqrt", [b.node("Add", [var, floats(b, b.attrs.eps)])])])
        return b.node("Add", [b.node("Mul", [xhat, b.node("Reshape", [gamma, by_channel])]),
                              b.node("Reshape", [beta, by_channel])])
    # Eval mode: the running statistics, by their state names (norm1.running_mean).
    mean, var = b.state("running_mean"), b.state("running_var")
    if b.dtype == np.float32:
        return b.node("BatchNormalization", [x, gamma, beta, mean, var], epsilon=b.attrs.eps)
    # ONNX float attributes are float32, so a float64 eps would be rounded: forward's
    # affine map instead, scale = gamma / sqrt(var + eps), per channel (axis 1).
    scale = b.node("Div", [gamma, b.node("Sqrt", [b.node("Add", [var, floats(b, b.attrs.eps)])])])
    shift = b.node("Sub", [beta, b.node("Mul", [mean, scale])])
    return b.node("Add", [b.node("Mul", [x, b.node("Reshape", [scale, by_channel])]),
                          b.node("Reshape", [shift, by_channel])])


def batch_norm_mean(ctx, xs, ps, out, saved):
    return saved[2]


def batch_norm_var(ctx, xs, ps, out, saved):
    return saved[5]


def _lower_stat(b, index: int, state: str) -> str:
    if b.attrs.track_running_stats:  # the exported graph is the eval graph
        return b.node("Identity", [b.state(state)])
    return b.node("Reshape", [_lower_batch_stats(b)[index], ints(b, [-1])])


def lower_batch_norm_mean(b) -> str:
    return _lower_stat(b, 1, "running_mean")


def lower_batch_norm_var(b) -> str:
    return _lower_stat(b, 2, "running_var")


BATCH_NORM = register_op(Op(
    name="batch_norm",
    doc="""Batch normalisation over every axis but the channels (axis 1), as PyTorch's
    BatchNorm1d/2d/3d with affine and tracked running statistics.

    Training: mu, var = mean and biased variance of X per channel over the batch (and
    spatial axes), m values each; xhat = (X - mu) / sqrt(var + eps); out = gamma xhat + beta.
    The running statistics are updated in place: running_mean = (1-momentum) running_mean
    + momentum mu, running_var likewise with the unbiased variance var m/(m-1).
    dgamma = sum g xhat, dbeta = sum g (per channel),
    dX = gamma / sqrt(var + eps) (g - mean(g) - xhat mean(g xhat)) (means per channel).
    Eval: mu, var are the running statistics, so the map is affine in X:
    dX = g gamma / sqrt(var + eps), dgamma = sum g (X - mu) / sqrt(var + eps), dbeta = sum g.
    Without track_running_stats, eval uses the batch's statistics as training does, and
    there is no state (PyTorch's track_running_stats=False).
    Shape: X (N, C, ...) -> the same shape; C must be a concrete size. gamma, beta,
    running_mean and running_var are (C,). Batch statistics need m > 1 values per channel.""",
    inputs=(Arg("X"),),
    attrs=BatchNormAttrs,
    params=(ParamDef("gamma", batch_norm_channel_shape, ONES, "scale, (C,)"),
            ParamDef("beta", batch_norm_channel_shape, ZEROS, "shift, (C,)")),
    state=(StateDef("running_mean", batch_norm_channel_shape, ZEROS, "mean for eval, (C,)",
                    enabled_by="track_running_stats"),
           StateDef("running_var", batch_norm_channel_shape, ONES, "variance for eval, (C,)",
                    enabled_by="track_running_stats")),
    shape=batch_norm_shape, forward=batch_norm_forward, vjp=batch_norm_vjp,
    onnx=lower_batch_norm,
    outputs=(Output("mean", batch_norm_channel_shape, batch_norm_mean,
                    doc="the mean X was normalised with, (C,): the batch's, or the running "
                    "mean in eval", onnx=lower_batch_norm_mean),
             Output("var", batch_norm_channel_shape, batch_norm_var,
                    doc="the variance X was normalised with, (C,): the batch's (biased), or "
                    "the running variance in eval", onnx=lower_batch_norm_var)),
    kinks="none: smooth (eps > 0 keeps the square root away from 0).",
    samples=(
        Sample((normal(5, 3),), name="rank2"),
        Sample((normal(2, 3, 2, 2),), {"momentum": 0.3}, name="rank4"),
        Sample((normal(1, 2, 2, 3),), name="batch_of_one"),
        Sample((normal(4, 3),), name="rank2_eval", training=False),
        Sample((normal(2, 2, 3, 2),), {"eps": 1e-3}, name="rank4_eval", training=False),
        Sample((normal(3, 2, 2),), {"track_running_stats": False}, name="batch_stats_eval",
               training=False),
        Sample((normal(4, 3),), {"track_running_stats": False}, name="batch_stats_train"),
    ),
))


# ----- layer_norm ------------------------------------------------------------------------

Size = Annotated[int, Field(ge=1)]


class LayerNormAttrs(Attrs):
    normalized_shape: Annotated[list[Size], Field(min_length=1)] = Field(
        description="The trailing dims normalised over (an int for the last axis alone).")
    eps: float = Field(1e-5, gt=0, description="Added to the variance before the square root.")
    elementwise_affine: bool = Field(True, description="Whether to learn gamma and beta of "
                                     "normalized_shape.")

    @field_validator("normalized_shape", mode="before",
                     json_schema_input_type=Size | Annotated[list[Size], Field(min_length=1)])
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        # An int means the last axis alone (PyTorch's shorthand). Checked here rather than
        # by an int | list union, whose errors would list both members.
        if isinstance(value, int) and not isinstance(value, bool):
            return [value]
        if not isinstance(value, list):
            raise ValueError(f"expected a size or a list of sizes, got {value!r}")
        return value


def _normalized(a: LayerNormAttrs) -> tuple[int, ...]:
    return tuple(a.normalized_shape)


def layer_norm_shape(a: LayerNormAttrs, shapes):
    x = tuple(shapes[0])
    dims = _normalized(a)
    last = f"last {len(dims)} dims" if len(dims) > 1 else "last dim"
    trailing = x[len(x) - len(dims):]
    if len(x) < len(dims) or trailing != dims:
        symbolic = len(x) >= len(dims) and not all(is_known(d) for d in trailing)
        raise ShapeError(f"X has shape {format_shape(x)} but its {last} must equal "
                         f"normalized_shape {format_shape(dims)}"
                         + (" (layer_norm needs them concrete)" if symbolic else ""), arg=0)
    return x


def layer_norm_param_shape(a: LayerNormAttrs, shapes):
    return _normalized(a)


def layer_norm_forward(ctx, xs, ps):
    x = xs[0]
    a = ctx.attrs
    width = math.prod(_normalized(a))
    # Rows of the normalised features: statistics are then reductions over axis 1.
    x2 = x.reshape(-1, width)
    xhat = x2 - (np.einsum("rd->r", x2) / width)[:, None]
    var = np.einsum("rd,rd->r", xhat, xhat) / width
    inv_std = (1.0 / np.sqrt(var + a.eps))[:, None]
    xhat *= inv_std
    if not ps:
        return xhat.reshape(x.shape), (xhat, inv_std, None)
    gamma, beta = ps[0].reshape(width), ps[1].reshape(width)
    out = xhat * gamma
    out += beta
    return out.reshape(x.shape), (xhat, inv_std, gamma)


def layer_norm_vjp(ctx, g, saved, needs):
    xhat, inv_std, gamma = saved
    g2 = g.reshape(xhat.shape)
    gx = None
    if needs[0]:
        gxhat = g2 * gamma if gamma is not None else g2
        width = xhat.shape[1]
        # Each row's mean and variance depend on all its features: subtract the row mean
        # of dxhat and its projection on xhat.
        projection = np.einsum("rd,rd->r", gxhat, xhat) / width
        gx = xhat * -projection[:, None]
        gx += gxhat
        gx -= (np.einsum("rd->r", gxhat) / width)[:, None]
        gx *= inv_std
        gx = gx.reshape(g.shape)
    if gamma is None:
        return (gx,), ()
    shape = _normalized(ctx.attrs)
    ggamma = np.einsum("rd,rd->d", g2, xhat).reshape(shape)
    gbeta = g2.sum(axis=0).reshape(shape)
    return (gx,), (ggamma, gbeta)


def layer_norm_reference(attrs, xs, ps):
    x = xs[0]
    axes = tuple(range(x.ndim - len(_normalized(attrs)), x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    out = (x - mean) / np.sqrt(var + attrs.eps)
    return out * ps[0] + ps[1] if ps else out


def layer_norm_stat_shape(a: LayerNormAttrs, shapes):
    x = tuple(shapes[0])
    k = len(_normalized(a))
    return x[:len(x) - k] + (1,) * k


def _stat(x: np.ndarray, a: LayerNormAttrs, rows: np.ndarray) -> np.ndarray:
    k = len(_normalized(a))
    return rows.reshape(x.shape[:x.ndim - k] + (1,) * k)


def layer_norm_mean(ctx, xs, ps, out, saved):
    x = xs[0]
    return _stat(x, ctx.attrs, np.einsum("rd->r", x.reshape(-1, saved[0].shape[1]))
                 / saved[0].shape[1])


def layer_norm_inv_std(ctx, xs, ps, out, saved):
    return _stat(xs[0], ctx.attrs, saved[1])


def _lower_stats(b) -> tuple[str, str, list[int]]:
    rank = len(b.shape(0))
    axes = list(range(rank - len(_normalized(b.attrs)), rank))
    x = b.input(0)
    mean = reduce(b, "ReduceMean", x, axes, keepdims=True)
    return x, mean, axes


def lower_layer_norm_mean(b) -> str:
    return _lower_stats(b)[1]


def lower_layer_norm_inv_std(b) -> str:
    x, mean, axes = _lower_stats(b)
    centred = b.node("Sub", [x, mean])
    var = reduce(b, "ReduceMean", b.node("Mul", [centred, centred]), axes, keepdims=True)
    return b.node("Reciprocal", [b.node("Sqrt", [b.node("Add", [var, floats(b, b.attrs.eps)])])])


def lower_layer_norm(b) -> str:
    a = b.attrs
    x = b.input(0)
    dims = _normalized(a)
    affine = a.elementwise_affine
    if b.opset >= 17:
        scale = b.param("gamma") if affine else b.constant(np.ones(dims, b.dtype), "ones")
        # stash_type: the dtype the mean and variance are computed in (float32 by default).
        stash = 11 if b.dtype == np.float64 else 1
        return b.node("LayerNormalization", [x, scale] + ([b.param("beta")] if affine else []),
                      axis=-len(dims), epsilon=a.eps, stash_type=stash)
    # Below opset 17: forward's formula, over the trailing axes.
    rank = len(b.shape(0))
    axes = list(range(rank - len(dims), rank))
    centred = b.node("Sub", [x, reduce(b, "ReduceMean", x, axes, keepdims=True)])
    var = reduce(b, "ReduceMean", b.node("Mul", [centred, centred]), axes, keepdims=True)
    out = b.node("Div", [centred, b.node("Sqrt", [b.node("Add", [var, floats(b, a.eps)])])])
    if affine:
        out = b.node("Add", [b.node("Mul", [out, b.param("gamma")]), b.param("beta")])
    return out


LAYER_NORM = register_op(Op(
    name="layer_norm",
    doc="""Layer normalisation over the trailing normalized_shape dims, as PyTorch's
    LayerNorm: each sample (each index of the leading axes) is normalised on its own, in
    training and eval alike.

    mu, var = mean and biased variance over the trailing D values of each row
    xhat = (X - mu) / sqrt(var + eps);  out = gamma xhat + beta   (affine optional)
    dxhat = g gamma;  dX = (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) / sqrt(var + eps)
    dgamma = sum over rows of g xhat;  dbeta = sum over rows of g
    Shape: X (..., *normalized_shape) -> the same shape; the trailing dims must equal
    normalized_shape exactly (concrete sizes). gamma and beta have normalized_shape.""",
    inputs=(Arg("X"),),
    attrs=LayerNormAttrs,
    params=(ParamDef("gamma", layer_norm_param_shape, ONES, "scale, normalized_shape",
                     enabled_by="elementwise_affine"),
            ParamDef("beta", layer_norm_param_shape, ZEROS, "shift, normalized_shape",
                     enabled_by="elementwise_affine")),
    shape=layer_norm_shape, forward=layer_norm_forward, vjp=layer_norm_vjp,
    onnx=lower_layer_norm,
    outputs=(Output("mean", layer_norm_stat_shape, layer_norm_mean,
                    doc="mu of each row, X's shape with the normalised dims as 1 (ONNX's "
                    "Mean)", onnx=lower_layer_norm_mean),
             Output("inv_std", layer_norm_stat_shape, layer_norm_inv_std,
                    doc="1 / sqrt(var + eps) of each row, shaped as mean (ONNX's InvStdDev)",
                    onnx=lower_layer_norm_inv_std)),
    reference=layer_norm_reference,
    kinks="none: smooth (eps > 0 keeps the square root away from 0).",
    samples=(
        Sample((normal(3, 4),), {"normalized_shape": 4}, name="last_axis"),
        Sample((normal(2, 3, 2, 3),), {"normalized_shape": [2, 3]}, name="two_axes"),
        Sample((normal(1, 5),), {"normalized_shape": [5]}, name="batch_of_one"),
        Sample((normal(2, 2, 3),), {"normalized_shape": 3, "elementwise_affine": False},
               name="no_affine"),
    ),
))
