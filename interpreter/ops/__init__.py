"""The built-in ops. Each module registers its ops on import; this list is the whole set."""
from __future__ import annotations

from . import (activations, arg_reduce, avg_pool, cast, classification_losses, compare,
               constant, conv, conv_transpose, dropout, elementwise, embedding, expand,
               global_pool, group_norm, hard_activations, indexing, linear, losses, math,
               matmul, max_pool, normalization, pad, parameter, reductions, shape, softmax,
               stop_gradient, upsample, where)

__all__ = ["activations", "arg_reduce", "avg_pool", "cast", "classification_losses",
           "compare", "constant", "conv", "conv_transpose", "dropout", "elementwise",
           "embedding", "expand", "global_pool", "group_norm", "hard_activations",
           "indexing", "linear", "losses", "math", "matmul", "max_pool", "normalization",
           "pad", "parameter", "reductions", "shape", "softmax", "stop_gradient", "upsample",
           "where"]
