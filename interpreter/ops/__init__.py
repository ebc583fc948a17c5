"""The built-in ops. Each module registers its ops on import; this list is the whole set."""
from __future__ import annotations

from . import (activations, classification_losses, constant, conv, dropout, elementwise,
               embedding, indexing, linear, losses, math, matmul, normalization, parameter,
               pooling, reductions, shape, softmax, stop_gradient)

__all__ = ["activations", "classification_losses", "constant", "conv", "dropout",
           "elementwise", "embedding", "indexing", "linear", "losses", "math", "matmul",
           "normalization", "parameter", "pooling", "reductions", "shape", "softmax", "stop_gradient"]
