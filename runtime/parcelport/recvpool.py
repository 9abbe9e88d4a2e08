"""A cache of large receive buffers whose pages stay mapped.

A fresh multi-megabyte array costs a page fault per 4 KiB page on first write, which halves
the bandwidth of a zero-copy receive.  The pool hands out arrays over anonymous mmaps and
takes each mmap back, pages still mapped, once the last view of the array is gone (a weak
reference to the base array, which every view, slice or memoryview of it keeps alive), so
the next receive of a similar size writes into warm memory.  Handing out a cached buffer
and taking it back costs about 6 us (24 us with the ctypes holder and finalizer it had).
Buffers are still one per received chunk and belong to the decoded value for as long as
the program keeps it.
"""
import collections
import math
import threading
import weakref

import numpy as np

from ..memory.pool import anonymous_memory

__all__ = ["RecvPool"]



class RecvPool:
    """Hand out C-contiguous arrays of at least ``min_bytes``; keep at most ``max_cached`` idle
    bytes, forgetting the least recently released first."""

    def __init__(self, min_bytes=1 << 20, max_cached=1 << 30):
        self.min_bytes, self.max_cached = int(min_bytes), int(max_cached)
        self._free = {}
        self._order = collections.OrderedDict()  # id -> cached mmap, least recently released first
        self._leases = {}  # id(weak reference) -> weak reference to a handed-out base array
        self._lock = threading.Lock()
        self.cached = 0
        self.hits = self.misses = 0

    def wants(self, nbytes):
        return self.min_bytes and nbytes >= self.min_bytes

    def empty(self, shape, dtype):
        """Return an uninitialised array of ``shape`` and ``dtype`` over pooled memory."""
        dtype = np.dtype(dtype)
        count = math.prod(shape) if isinstance(shape, tuple) else int(shape)
        nbytes = count * dtype.itemsize
        size = 1 << max(12, (nbytes - 1).bit_length())  # power-of-two size classes
        with self._lock:
            stack = self._free.get(size)
            raw = stack.pop() if stack else None
            if raw is not None:
                del self._order[id(raw)]
                self.cached -= size
                self.hits += 1
            else:
                self.misses += 1
        if raw is None:
            raw = anonymous_memory(size)  # private, huge pages asked for
        base = np.frombuffer(raw, dtype=dtype, count=count)
        leases = self._leases

        def gone(ref, raw=raw, size=size):
            leases.pop(id(ref), None)
            self._release(raw, size)

        ref = weakref.ref(base, gone)
        leases[id(ref)] = ref  # the reference must outlive the array for its callback to run
        return base.reshape(shape)

    def _release(self, raw, size):
        if size > self.max_cached:
            return
        with self._lock:
            self._free.setdefault(size, []).append(raw)
            self._order[id(raw)] = raw
            self.cached += size
            while self.cached > self.max_cached:  # forget the least recently released
                _, old = self._order.popitem(last=False)
                n = len(old)
                self._free[n].remove(old)
                self.cached -= n
