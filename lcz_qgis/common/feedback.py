"""Progress, messages and cancellation for long core work.

Core functions take a ``Feedback``. Processing wraps ``QgsProcessingFeedback`` in
one (see processing_algorithms/base.py); the CLI uses ``ConsoleFeedback``.
"""

from __future__ import annotations

import sys
import time

from .errors import Cancelled


class Feedback:
    """Silent feedback that never cancels. Subclass and override what you need."""

    def progress(self, percent: float) -> None:  # 0..100
        pass

    def info(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        pass

    def is_cancelled(self) -> bool:
        return False

    def check_cancelled(self) -> None:
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

    def __init__(self, quiet: bool = False, force_bar: bool = False):
        self.quiet = quiet
        self.bar = force_bar or sys.stderr.isatty()
        self._last = -1.0
        self._t0 = time.monotonic()
        self.warnings: list[str] = []

    def progress(self, percent: float) -> None:
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
        if not self.quiet:
            self._line(message)

    def warning(self, message: str) -> None:
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
        self.percents.append(percent)

    def info(self, message: str) -> None:
        self.messages.append(message)

    def warning(self, message: str) -> None:
        self.warnings.append(message)

    def is_cancelled(self) -> bool:
        return (
            self.cancel_at is not None
            and bool(self.percents)
            and self.percents[-1] >= self.cancel_at
        )
