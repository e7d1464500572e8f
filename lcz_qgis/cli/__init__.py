"""The ``lcz`` command line: one subcommand per Processing algorithm.

Each module ``lcz_qgis/cli/cmd_*.py`` defines ``NAME``, ``HELP``, ``add_arguments(parser)``
and ``run(args, feedback) -> int``; they are found automatically. Flags are the
Processing parameter names in lower case with dashes (``--model-type``, ``--sentinel2``).
Bad input prints one line, ``lcz <command>: error: ...``, and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from .. import __version__
from ..errors import Cancelled, LczError
from ..feedback import ConsoleFeedback


def _commands() -> list:
    mods = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            mods.append(importlib.import_module(f".{info.name}", __name__))
    return sorted(mods, key=lambda m: getattr(m, "ORDER", 50))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lcz",
        description="Local Climate Zone mapping from Sentinel-1/2 with So2Sat LCZ42 models.",
    )
    parser.add_argument("--version", action="version", version=f"lcz {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _commands():
        p = sub.add_parser(
            mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP)
        )
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run, _name=mod.NAME)
    return parser


def main(argv=None) -> int:
    # Before any command module (or TensorFlow) is imported: hide TensorFlow's C++ INFO
    # lines (oneDNN, cpu_feature_guard); warnings and errors still show. A value the
    # user set is kept.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    feedback = ConsoleFeedback(quiet=args.quiet)
    try:
        return int(args._run(args, feedback) or 0)
    except LczError as exc:
        print(f"lcz {args._name}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file the system refused (permissions, disk full): no traceback
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"lcz {args._name}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except (Cancelled, KeyboardInterrupt):
        print(f"lcz {args._name}: cancelled; no output was written", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
