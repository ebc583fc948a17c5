"""The built-in ops. Each module registers its ops on import; this list is the whole set."""
from __future__ import annotations

from . import activations, elementwise, linear, losses, matmul, parameter, reductions

__all__ = ["activations", "elementwise", "linear", "losses", "matmul", "parameter", "reductions"]
