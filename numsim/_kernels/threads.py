"""How many Numba threads a call runs on: one for small problems.

A parallel kernel wakes every Numba worker at each call. For a small input that start-up costs
more than the work, and on a machine whose cores are busy each call also waits until every
worker gets a time slice: a PTQ column loop or a model forward on a datapath makes thousands of
such calls (measured on a loaded 2-core machine: 17 ms a codec call on two threads against
0.4 ms on one). Callers that make many small calls run them under :func:`serial`.

Numba's thread count belongs to the calling thread, so this is safe in threaded and
multi-process callers alike, and no result depends on it: every parallel kernel computes each
output independently of how its loop is split.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numba

#: Element codec calls on fewer values than this run on one thread (tens of microseconds).
SMALL_VALUES = 1 << 16
#: Products below this many multiply-accumulates run on one thread (about a millisecond of
#: one core on the vectorized units).
SMALL_MACS = 1 << 20


@contextlib.contextmanager
def serial(when: bool = True) -> Iterator[None]:
    """Run numsim's kernels on one thread inside the block when ``when`` (restored after)."""
    before = numba.get_num_threads()
    if not when or before == 1:
        yield
        return
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)
