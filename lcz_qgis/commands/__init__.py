"""Every command, declared once for the ``lcz`` CLI and the Processing algorithms.

``lcz_qgis/commands/<name>.py`` defines ``COMMAND``, a ``spec.Command``: its parameters
(key, kind, label, help, default, choices), its outputs and the one mapping of the
parameter values onto the core call. ``lcz_qgis/cli`` builds the argparse subcommands
from them, ``processing_algorithms/spec_algorithm.py`` the Processing parameters.
No qgis import here.
"""

from __future__ import annotations

import importlib
import pkgutil

from .spec import Command

__all__ = ["MODULES", "all_commands", "command"]

# modules of this package that are not commands (shared declarations)
_NOT_COMMANDS = frozenset({"spec", "choices", "params"})

# the modules declaring a COMMAND: every lcz subcommand and Processing algorithm. Found
# by listing the package, so adding a command is adding its module.
MODULES = tuple(
    sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _NOT_COMMANDS)
)


def command(module: str) -> Command:
    """The ``COMMAND`` of ``lcz_qgis/commands/<module>.py``."""
    return importlib.import_module(f".{module}", __name__).COMMAND


def all_commands() -> list[Command]:
    """Every declared command, in ``lcz --help`` order."""
    return sorted((command(m) for m in MODULES), key=lambda c: c.order)
