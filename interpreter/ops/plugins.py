"""Custom ops from outside the package, loaded only when asked for.

A plugin is a Python module whose import registers ops (`register_op`). The command line
loads one with `--plugin NAME`, where NAME is a module (`my_ops`, `pkg.ops`) or the name of
an entry point in the `nnspec.ops` group that an installed distribution declares:

    [project.entry-points."nnspec.ops"]
    my_ops = "my_package.ops"

Nothing is imported unless asked for, and a spec never names code: which code runs is
decided by the person running the command, never by the file it reads.
"""
from __future__ import annotations

import importlib
import traceback
from importlib.metadata import entry_points
from types import ModuleType

from ..core.errors import InterpreterError

GROUP = "nnspec.ops"


class PluginError(InterpreterError):
    """A plugin that could not be found or whose import failed."""


def available() -> dict[str, str]:
    """Installed plugins by entry-point name: the module each one names."""
    return {point.name: point.value for point in entry_points(group=GROUP)}


def load_plugin(name: str) -> ModuleType:
    """Import the plugin `name` (an entry point of the `nnspec.ops` group, else a module
    path); its ops are registered as a side effect. Raises PluginError naming it."""
    points = [p for p in entry_points(group=GROUP) if p.name == name]
    target = points[0].value.split(":")[0] if points else name
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if exc.name is not None and target.startswith(exc.name):
            known = ", ".join(sorted(available())) or "none installed"
            raise PluginError(f"plugin '{name}': no module named '{target}' (installed "
                              f"{GROUP} plugins: {known})") from None
        raise PluginError(f"plugin '{name}' failed to import: {_last_frame(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - any failure of foreign code is reported
        raise PluginError(f"plugin '{name}' failed to import: {_last_frame(exc)}") from None


def _last_frame(exc: BaseException) -> str:
    """`file:line: ExceptionType: message` for the frame that raised."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}: SyntaxError: {exc.msg}"
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}: " if frames else ""
    return f"{where}{type(exc).__name__}: {exc}"
