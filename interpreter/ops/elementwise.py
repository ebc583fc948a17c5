"""Elementwise binary ops with numpy broadcasting."""
from __future__ import annotations

import numpy as np

from ..registry import register_op
from .builders import binary_op


def _add_grads(a, b, out, g, needs):
    return g, g


ADD = register_op(binary_op(
    "add", np.add, _add_grads, saves_inputs=False,
    doc="""Elementwise sum with broadcasting.

    out = a + b
    da = unbroadcast(g, a.shape)
    db = unbroadcast(g, b.shape)
    Shape: numpy broadcasting of a and b.""",
    kinks="none: add is smooth everywhere."))
