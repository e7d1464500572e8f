"""The ``lcz`` command line: one subcommand per Processing algorithm.

The subcommands are built from the declarations in ``lcz_qgis/commands`` (see
``spec_cli.py``): flags are the Processing parameter names in lower case with dashes
(``--model-type``, ``--sentinel2``).
Bad input prints one line, ``lcz <command>: error: ...``, and exits 2; a parameter it
names (``errors.param``) is shown as the command's flag (``--per-class``). Ctrl-C and
SIGTERM (``kill``) cancel: temporary files are removed, earlier outputs kept, exit 130
(143 for SIGTERM).
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading

from .. import __version__
from ..commands import all_commands
from ..commands.spec import CLI
from ..common.atomic import Terminated, output_name, terminate_like_interrupt
from ..common.errors import Cancelled, LczError
from ..common.feedback import ConsoleFeedback
from .spec_cli import add_subcommand

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``lcz`` argument parser, with one subcommand per command.

    Subcommands come from the declarations in ``lcz_qgis/commands``, sorted by their
    order then name; ``--version`` and ``--quiet`` are global.
    """
    parser = argparse.ArgumentParser(
        prog="lcz",
        description="Local Climate Zone mapping from Sentinel-1/2 with So2Sat LCZ42 models.",
    )
    parser.add_argument("--version", action="version", version=f"lcz {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in sorted(all_commands(), key=lambda c: (c.order, c.name)):
        add_subcommand(sub, command)
    return parser


def _flag_names(name: str):
    """``errors.render`` names for the subcommand ``name``: its parameters as flags."""
    declared = {c.name: c for c in all_commands()}
    return declared[name].message_names(CLI) if name in declared else None


def main(argv=None) -> int:
    """Run the ``lcz`` command line with ``argv`` (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 done, 2 bad input (one line on stderr), 130/143 cancelled.
    """
    # Before any command module (or TensorFlow) is imported: hide TensorFlow's C++ INFO
    # lines (oneDNN, cpu_feature_guard); warnings and errors still show. A value the
    # user set is kept.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    names = _flag_names(args._name)
    feedback = ConsoleFeedback(quiet=args.quiet, names=names)
    # SIGTERM like Ctrl-C: the core's cleanup runs (temporary files removed)
    term = getattr(signal, "SIGTERM", None)
    old_term = None
    if term is not None and threading.current_thread() is threading.main_thread():
        old_term = signal.signal(term, terminate_like_interrupt)
    try:
        return int(args._run(args, feedback) or 0)
    except LczError as exc:
        print(f"lcz {args._name}: error: {exc.message(names)}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file the system refused (permissions, disk full): no traceback
        if exc.errno == errno.ENOSPC:
            where = f" while writing {output_name(exc.filename)}" if exc.filename else ""
            print(f"lcz {args._name}: error: no space left on device{where}", file=sys.stderr)
            return 2
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"lcz {args._name}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except (Cancelled, KeyboardInterrupt) as exc:
        kept = getattr(exc, "kept", None)  # what a cancelled run kept (classify-many's tiles)
        print(f"lcz {args._name}: cancelled; {kept or 'no output was written'}", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        if old_term is not None:
            signal.signal(term, old_term)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
