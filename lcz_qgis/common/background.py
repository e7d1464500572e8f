"""Producing items in a background thread, handed over through a bounded queue.

One implementation for the classification's block reader (``raster.block_reader``)
and the streamed So2Sat batches (``so2sat.batches``): the producer runs ``depth`` items
ahead, its exceptions are re-raised in the consumer, and stopping (the consumer is done,
cancelled or failed) ends the producer at its next item.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Callable, Iterator

PUT_POLL_S = 0.1  # how often a producer waiting on a full queue checks for a stop
JOIN_POLL_S = 0.05  # how often close() drains the queue while the producer ends


class _Failure:
    """An exception raised by the producer, wrapped so that it is not taken for an item."""

    def __init__(self, exc: BaseException):
        self.exc = exc


_DONE = object()


class Prefetcher:
    """Runs an iterator in a background thread, ``depth`` items ahead.

    Iterate once. ``close()`` (also when the consuming generator ends or is garbage
    collected) stops the thread at its next item. Exceptions in the thread are re-raised
    here.

    Args:
        make_iter: called in the thread; returns the items' iterator.
        depth: the most items waiting in the queue (at least 1).
        name: the thread's name.
        stop: the event that stops the producer (a new one when None); a producer that
            gets it too can also stop between items' steps.
        join_timeout: seconds ``close()`` waits for the thread to end (None: until it
            has, e.g. before the files it reads are closed).
    """

    def __init__(
        self,
        make_iter: Callable[[], Iterator],
        depth: int,
        name: str = "lcz-prefetch",
        stop: threading.Event | None = None,
        join_timeout: float | None = 30,
    ):
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event() if stop is None else stop
        self._join_timeout = join_timeout
        self._thread = threading.Thread(
            target=self._work, args=(make_iter,), name=name, daemon=True
        )
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=PUT_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _work(self, make_iter) -> None:
        try:
            for item in make_iter():
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._put(_Failure(exc))

    def __iter__(self):
        try:
            while True:
                item = self._queue.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failure):
                    raise item.exc
                yield item
        finally:
            self.close()

    def close(self) -> None:
        """Stop the background thread at its next item and wait for it to end
        (``join_timeout``); the items still queued are dropped."""
        self._stop.set()
        timeout = self._join_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        # drain while waiting: a producer blocked on the full queue then sees the stop
        while self._thread.is_alive() and (deadline is None or time.monotonic() < deadline):
            self._drain()
            self._thread.join(timeout=JOIN_POLL_S)
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return


def in_reader_thread(gen_fn: Callable[..., Iterator], *args, depth: int = 3) -> Iterator:
    """Run the generator ``gen_fn(*args, stop)`` in a thread; iterate its items here.

    ``stop`` (a ``threading.Event``) is set when the consumer ends, so the generator
    can stop between its own steps. Closing this generator waits until the thread has
    ended (the generator may be reading files the caller closes next).

    Args:
        gen_fn: the producer; its last argument is the stop event.
        *args: its other arguments.
        depth: the most items waiting in the queue.

    Yields:
        The producer's items, in order; its exception, if any, is raised here.
    """
    stop = threading.Event()
    yield from Prefetcher(
        lambda: gen_fn(*args, stop), depth, name="lcz-reader", stop=stop, join_timeout=None
    )
