"""Progress, messages and cancellation for long core work.

Core functions take a ``Feedback``. Processing wraps ``QgsProcessingFeedback`` in
one (see processing_algorithms/base.py); the CLI uses ``ConsoleFeedback``.

A message may name parameters with ``errors.param`` placeholders: a feedback shows them
with its ``names`` (see ``errors.render``; None: the core keywords) through ``text``.
"""

from __future__ import annotations

import sys
import time

from .errors import Cancelled, Names, render


class Feedback:
    """Silent feedback that never cancels. Subclass and override what you need.

    ``names``: how this feedback's user reads parameter placeholders (``errors.render``);
    None shows the core keywords. A subclass that shows messages passes them through
    ``text`` first.
    """

    names: Names | None = None

    def text(self, message: str) -> str:
        """``message`` with its placeholders shown by ``names``."""
        return render(message, self.names)

    def progress(self, percent: float) -> None:  # 0..100
        """Report progress, ``percent`` from 0 to 100 (ignored here)."""

    def info(self, message: str) -> None:
        """Show an informational message (ignored here)."""

    def warning(self, message: str) -> None:
        """Show a warning (ignored here)."""

    def is_cancelled(self) -> bool:
        """Whether the user asked to cancel (never, here)."""
        return False

    def check_cancelled(self) -> None:
        """Stop the work if the user cancelled.

        Raises:
            Cancelled: ``is_cancelled()`` is true.
        """
        if self.is_cancelled():
            raise Cancelled("cancelled by the user")

    def scaled(self, start: float, end: float) -> Feedback:
        """A feedback whose 0..100 maps onto start..end of this one."""
        return _Scaled(self, start, end)


class _Scaled(Feedback):
    def __init__(self, parent: Feedback, start: float, end: float):
        self.parent, self.start, self.end = parent, start, end

    def progress(self, percent: float) -> None:
        self.parent.progress(self.start + (self.end - self.start) * percent / 100.0)

    def info(self, message: str) -> None:
        self.parent.info(message)

    def warning(self, message: str) -> None:
        self.parent.warning(message)

    def is_cancelled(self) -> bool:
        return self.parent.is_cancelled()


class ConsoleFeedback(Feedback):
    """A progress bar on stderr (only when it is a terminal or ``force``), messages on stderr."""

    def __init__(self, quiet: bool = False, force_bar: bool = False, names: Names | None = None):
        self.quiet = quiet
        self.names = names  # the CLI sets its flags (lcz_qgis/cli)
        self.bar = force_bar or sys.stderr.isatty()
        self._last = -1.0
        self._t0 = time.monotonic()
        self.warnings: list[str] = []

    def progress(self, percent: float) -> None:
        """Redraw the progress bar on stderr with the elapsed seconds (when shown and not quiet)."""
        if self.quiet or not self.bar:
            return
        p = max(0.0, min(100.0, percent))
        if p - self._last < 0.5 and p < 100:
            return
        self._last = p
        n = int(p / 100 * 30)
        elapsed = time.monotonic() - self._t0
        sys.stderr.write(f"\r[{'#' * n}{'.' * (30 - n)}] {p:5.1f}% {elapsed:6.1f}s")
        if p >= 100:
            sys.stderr.write("\n")
        sys.stderr.flush()

    def _line(self, text: str) -> None:
        if self.bar and 0 <= self._last < 100:
            sys.stderr.write("\n")
        sys.stderr.write(text + "\n")

    def info(self, message: str) -> None:
        """Print ``message`` on stderr, on its own line, unless quiet."""
        if not self.quiet:
            self._line(self.text(message))

    def warning(self, message: str) -> None:
        """Print ``message`` as ``warning: ...`` on stderr (even when quiet) and keep it in
        ``warnings``.
        """
        message = self.text(message)
        self.warnings.append(message)
        self._line(f"warning: {message}")


class RecordingFeedback(Feedback):
    """Keeps messages and progress; cancels once ``cancel_at`` percent is reached (tests)."""

    def __init__(self, cancel_at: float | None = None):
        self.cancel_at = cancel_at
        self.messages: list[str] = []
        self.warnings: list[str] = []
        self.percents: list[float] = []

    def progress(self, percent: float) -> None:
        """Append ``percent`` to ``percents``."""
        self.percents.append(percent)

    def info(self, message: str) -> None:
        """Append the rendered ``message`` to ``messages``."""
        self.messages.append(self.text(message))

    def warning(self, message: str) -> None:
        """Append the rendered ``message`` to ``warnings``."""
        self.warnings.append(self.text(message))

    def is_cancelled(self) -> bool:
        """Whether the last progress reported has reached ``cancel_at``."""
        return (
            self.cancel_at is not None
            and bool(self.percents)
            and self.percents[-1] >= self.cancel_at
        )
