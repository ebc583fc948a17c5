"""The built-in ops. Each module registers its ops on import; this list is the whole set."""
from __future__ import annotations

from . import (activations, avg_pool, classification_losses, constant, conv, conv_transpose,
               dropout, elementwise, embedding, global_pool, indexing, linear, losses, math,
               matmul, max_pool, normalization, parameter, reductions, shape, softmax,
               stop_gradient)

__all__ = ["activations", "avg_pool", "classification_losses", "constant", "conv",
           "conv_transpose", "dropout", "elementwise", "embedding", "global_pool",
           "indexing", "linear", "losses", "math", "matmul", "max_pool", "normalization",
           "parameter", "reductions", "shape", "softmax", "stop_gradient"]
