"""What the CLI sets for its whole process, and the library never does: SIGTERM stopping a
command like Ctrl-C, and the cyclic garbage collector kept out of the way of big JSON.

Imports nothing heavy: ``map`` uses it too, and its start-up is measured
(benchmarks/map_vs_dcmjs.py).
"""

from __future__ import annotations

import gc
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def restore_sigterm(handler: Any) -> None:
    """Put back the caller's SIGTERM handler (``main`` also runs in-process, e.g. in tests)."""
    if threading.current_thread() is threading.main_thread() and handler is not None:
        signal.signal(signal.SIGTERM, handler)


def interrupt_on_sigterm() -> None:
    """``kill`` stops a command like Ctrl-C (``snapshot``: finished files kept and indexed,
    nothing partial; ``serve``: a clean shutdown). ``main`` restores the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


@contextmanager
def few_collections() -> Iterator[None]:
    """Run the cyclic garbage collector rarely while metadata streams through.

    A study's metadata is millions of small acyclic dicts and lists, freed by
    reference counting; the default thresholds make the collector rescan them
    over and over (measured: half of a snapshot's parse time, and 1.65 s of the 1.9 s
    that ``map`` took to parse 34 MiB). Restored afterwards. A process-wide setting,
    so the CLI makes it, never the library. Free the big data inside the block: once the
    defaults are back, the next allocations make the collector scan whatever is alive.
    """
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 50)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
