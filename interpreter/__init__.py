"""interpreter: a declarative neural-network graph-spec interpreter.

    import interpreter
    net = interpreter.load("specs/xor.yaml")
    out = net.forward({"X": X, "y": y})
    grads = net.backward()
"""
from __future__ import annotations

from . import datasets
from .api import Network, load, load_checkpoint, loads, save_checkpoint
from .check.document import Spec
from .core.errors import (DataError, FeedError, InternalError, InterpreterError, Problem,
                          ShapeError, SpecError, TrainingError)
from .ops.initializers import Init
from .ops.lowering import CannotLower, Lowering
from .ops.registry import (Arg, Attrs, Context, Op, Output, ParamDef, StateDef, all_ops,
                           get_op, register_op, unbroadcast)
from .onnx.importer import from_onnx
from .ops.samples import Sample
from .train.history import History

__version__ = "0.1.0"

__all__ = [
    "Arg", "Attrs", "CannotLower", "Context", "DataError", "FeedError", "History", "Init",
    "InternalError", "InterpreterError", "Lowering", "Network", "Op", "Output", "ParamDef", "Problem",
    "Sample", "ShapeError", "Spec", "SpecError", "StateDef", "TrainingError", "all_ops",
    "datasets", "from_onnx", "get_op", "load", "load_checkpoint", "loads", "register_op",
    "save_checkpoint", "unbroadcast",
]
