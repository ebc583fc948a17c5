"""Shared by the command-line tests: the plugin fixture and a runner of `main`."""
from __future__ import annotations

from ..plugin_ops import cube_plugin  # noqa: F401  (a fixture)


def run(argv, capsys):
    from interpreter.cli import main

    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
