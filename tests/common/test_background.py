"""The one background-producer implementation (common/background.py) shared by the
classification's block reader and the streamed So2Sat batches."""

from __future__ import annotations

import threading
import time

import pytest

from lcz_qgis.common.background import Prefetcher, in_reader_thread


def _count(n, stop):
    for i in range(n):
        if stop.is_set():
            return
        yield i


def test_items_arrive_in_order_and_the_thread_ends():
    before = threading.active_count()
    assert list(in_reader_thread(_count, 50, depth=2)) == list(range(50))
    assert list(Prefetcher(lambda: iter(range(50)), 3)) == list(range(50))
    assert threading.active_count() == before


def test_producer_error_is_raised_in_the_consumer():
    def failing(stop):
        yield 1
        raise ValueError("damaged block")

    got = []
    with pytest.raises(ValueError, match="damaged block"):
        for item in in_reader_thread(failing):
            got.append(item)
    assert got == [1]


def test_closing_early_stops_the_producer_and_waits_for_it():
    produced, ended = [], threading.Event()

    def endless(stop):
        try:
            i = 0
            while not stop.is_set():
                produced.append(i)
                yield i
                i += 1
        finally:
            time.sleep(0.2)  # e.g. a file still being read
            ended.set()

    items = in_reader_thread(endless, depth=2)
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()
    assert ended.is_set()  # close() returned only once the producer had finished
    n = len(produced)
    time.sleep(0.2)
    assert len(produced) == n  # nothing more produced after the stop
    assert n <= 3 + 2 + 1  # consumed + queue depth + the one being put


def test_prefetcher_close_without_iterating_to_the_end():
    p = Prefetcher(lambda: iter(range(10**9)), 4)
    it = iter(p)
    assert next(it) == 0
    p.close()
    assert not p._thread.is_alive()
