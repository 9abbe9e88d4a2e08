"""A pool of registered memory in size classes (paper, section 3.4: the rma_allocator's pool).

Where the memory lives.  The *arena* is one buffer per locality cut into 1 MiB slabs; a
slab serves one size class (1 KiB, 4 KiB, 64 KiB or 1 MiB blocks) and a request above
1 MiB takes a run of whole slabs (first fit).  Under the ``rma`` parcelport the arena is
an MPI window allocated collectively once, at start (``MPI_Win_allocate``): MPICH and
Open MPI place it in shared memory on a node, so a one-sided get from it is a memcpy.
When the arena is full a request gets a *segment* of its own (an anonymous mmap), attached
locally to a dynamic window (``MPI_Win_create_dynamic`` at start, ``MPI_Win_attach`` now):
growth needs no collective call during the run; released segments stay attached, pages
warm, for reuse by a request of the same size, up to ``cache_bytes`` (256 MiB; unregistered
segments too: with none cached, every RmaVector received past the arena was a fresh mmap
taking page faults, and the mpi parcelport ran rma_vector 7-12% slower than
serialize_buffer in Figure 5 on the device).  Registered bytes
(in use plus cached) never exceed ``max_bytes``, and attached segments (in use plus
cached) never exceed ``max_segments``: Open MPI limits the regions attached to one dynamic
window (``osc_rdma_max_attach``: 32 in 4.1, 64 in 5.0) and an attach past that limit
fails and leaves the window unusable (a later detach hangs), so the pool never tries one;
it unmaps a cached segment to make room first.  Past either limit, or with ``grow=False``
once the arena is full, allocation raises ``PoolExhausted`` (a MemoryError) and nothing
already handed out is touched.  Without
MPI (``RmaPool()`` alone) the same allocator runs over plain mmaps, unregistered.

Keys.  A block is named by ``(window id, displacement)``: the offset into the arena for
``ARENA``, the absolute address for ``DYNAMIC`` (MPI's rule for dynamic windows),
``UNREGISTERED`` memory has no window.

Lifetime.  ``empty()`` returns a numpy array over a block; every view of it keeps the
block, which goes back to the pool when the last one is gone (a weakref finalizer queues
it; the next pool call takes it back under the lock, so a finalizer that runs inside the
allocator, from the garbage collector, cannot corrupt its lists).
"""
import collections
import ctypes
import mmap
import threading
import weakref

import numpy as np

__all__ = ["RmaPool", "PoolExhausted", "SLAB", "CLASSES", "UNREGISTERED", "ARENA", "DYNAMIC",
           "default_pool", "set_default_pool", "retire_pool", "locate"]

SLAB = 1 << 20
CLASSES = (1 << 10, 4 << 10, 64 << 10, 1 << 20)
UNREGISTERED, ARENA, DYNAMIC = -1, 0, 1
_PAGE = mmap.PAGESIZE


class PoolExhausted(MemoryError):
    """The pool cannot hand out the block asked for (arena full, growth off or at its limit)."""


def _address(buf):
    return np.frombuffer(buf, np.uint8).__array_interface__["data"][0] if len(buf) else 0


def _size_class(nbytes):
    for c in CLASSES:
        if nbytes <= c:
            return c
    return None


class RmaPool:
    """Size-class allocator over registered memory: ``empty(shape, dtype)``, ``stats()``.

    ``arena``: a writable buffer (an MPI window's memory) or None for an mmap of
    ``arena_bytes``; ``window``: the id keys carry for the arena (``ARENA`` when it is a
    window, else ``UNREGISTERED``); ``attach``/``detach``: register a growth segment with
    the dynamic window and release it (None: segments are unregistered); ``rank``: the
    locality keys name; ``max_segments``: growth segments attached at once at most (in use
    plus cached; None: no limit).
    """

    def __init__(self, arena=None, arena_bytes=16 << 20, grow=True, max_bytes=1 << 30,
                 window=UNREGISTERED, attach=None, detach=None, rank=0, cache_bytes=256 << 20,
                 max_segments=None):
        if arena is None:
            n = -(-int(arena_bytes) // SLAB) * SLAB
            arena = anonymous_memory(n) if n else bytearray()
        self._arena = arena
        self.arena_bytes = len(memoryview(arena).cast("B")) // SLAB * SLAB
        self.base = _address(arena)
        self.window = window
        self.grow, self.max_bytes = bool(grow), int(max_bytes)
        self._attach, self._detach = attach, detach
        self.rank = rank
        self._lock = threading.Lock()
        self._returned = collections.deque()     # tokens of blocks whose last view is gone
        self._slabmap = bytearray(b"\x01" * (self.arena_bytes // SLAB))  # 1 = slab free
        self._partial = {c: [] for c in CLASSES}  # class -> slabs with a free block
        self._slab_free = {}                      # slab -> free block offsets (class slabs)
        self._segments = {}                       # address -> (mmap, size), growth
        self._seg_cache = {}                      # size -> [(mmap, address)] released, attached
        self.cache_bytes, self.cached = int(cache_bytes), 0
        self.max_segments = None if max_segments is None else int(max_segments)
        self.nsegments = 0                        # segments mapped (in use plus cached)
        self.in_use = self.blocks = self.high_water = 0
        self.segment_bytes = 0
        self.allocations = self.failures = self.growths = 0

    # ---- allocation --------------------------------------------------------------------
    def empty(self, shape, dtype=np.uint8, segment=True):
        """Return an uninitialised C-contiguous array of ``shape``/``dtype`` in pool memory
        (``segment=False``: in the arena only, else PoolExhausted)."""
        dtype = np.dtype(dtype)
        shape = (int(shape),) if np.isscalar(shape) else tuple(int(s) for s in shape)
        count = 1
        for s in shape:
            count *= s
        nbytes = count * dtype.itemsize
        mem, off, token = self._take(max(nbytes, 1), segment)
        holder = (ctypes.c_char * max(nbytes, 1)).from_buffer(mem, off)
        weakref.finalize(holder, self._returned.append, token)
        return np.frombuffer(holder, dtype, count).reshape(shape)

    def _take(self, nbytes, segment=True):
        with self._lock:
            self._drain()
            cls = _size_class(nbytes)
            got = self._take_class(cls) if cls else self._take_run(-(-nbytes // SLAB))
            if got is None:
                if not segment:
                    self._exhausted(nbytes, "arena full")
                got = self._take_segment(nbytes)
            cap = got[2][-1]
            self.in_use += cap
            self.blocks += 1
            self.allocations += 1
            self.high_water = max(self.high_water, self.in_use)
            return got

    def _take_class(self, cls):
        part = self._partial[cls]
        if not part:
            i = self._slabmap.find(1)
            if i < 0:
                return None
            self._slabmap[i] = 0
            self._slab_free[i] = list(range(i * SLAB + SLAB - cls, i * SLAB - 1, -cls))
            part.append(i)
        i = part[-1]
        free = self._slab_free[i]
        off = free.pop()
        if not free:
            part.pop()
        return self._arena, off, ("b", i, off, cls)

    def _take_run(self, k):
        i = self._slabmap.find(b"\x01" * k)
        if i < 0:
            return None
        self._slabmap[i:i + k] = bytes(k)
        return self._arena, i * SLAB, ("r", i, k, k * SLAB)

    def _take_segment(self, nbytes):
        size = -(-nbytes // _PAGE) * _PAGE
        cached = self._seg_cache.get(size) if self.grow else None
        if cached:  # a released segment of this size: pages warm, already attached
            seg, addr = cached.pop()
            self.cached -= size
        else:
            total = self.arena_bytes + self.segment_bytes + size
            if self.grow and total + self.cached > self.max_bytes:
                self._trim(max(0, self.max_bytes - total))
            limit = self.max_segments
            if self.grow and limit is not None and self.nsegments >= limit:
                self._trim(self.cached, count=self.nsegments - limit + 1)
            why = None
            if not self.grow:
                why = "growth is off"
            elif total > self.max_bytes:
                why = f"{total} bytes would pass max_bytes={self.max_bytes}"
            elif limit is not None and self.nsegments >= limit:
                why = f"{self.nsegments} segments attached, max_segments={limit}"
            if why is not None:
                self._exhausted(nbytes, why)
            seg = anonymous_memory(size)
            if self._attach is not None:
                try:
                    self._attach(seg)
                except Exception as e:  # noqa: BLE001 - the MPI library refused the region
                    seg.close()
                    self._exhausted(nbytes, f"attach failed: {e}")
            addr = _address(seg)
            self.nsegments += 1
            self.growths += 1
        self._segments[addr] = (seg, size)
        self.segment_bytes += size
        return seg, 0, ("s", addr, size)

    def _exhausted(self, nbytes, why):
        self.failures += 1
        raise PoolExhausted(f"registered-memory pool exhausted: no block of {nbytes} "
                            f"bytes ({self.in_use} of {self.arena_bytes} arena bytes "
                            f"in use, {why})")

    # ---- release -----------------------------------------------------------------------
    def _drain(self):
        """Take back the blocks whose last view went away (call with the lock held)."""
        q = self._returned
        while q:
            token = q.popleft()
            kind = token[0]
            self.in_use -= token[-1]
            self.blocks -= 1
            if kind == "b":
                _, i, off, cls = token
                free = self._slab_free[i]
                if not free:
                    self._partial[cls].append(i)
                free.append(off)
                if len(free) == SLAB // cls:  # the whole slab is free: back to the arena
                    self._partial[cls].remove(i)
                    del self._slab_free[i]
                    self._slabmap[i] = 1
            elif kind == "r":
                _, i, k, _ = token
                self._slabmap[i:i + k] = b"\x01" * k
            else:
                seg, size = self._segments.pop(token[1])
                self.segment_bytes -= size
                self._seg_cache.setdefault(size, []).append((seg, token[1]))
                self.cached += size
        if self.cached > self.cache_bytes:
            self._trim(self.cache_bytes)

    def _trim(self, keep, count=0):
        """Unmap cached segments, largest first, until at most ``keep`` bytes stay cached and
        at least ``count`` were unmapped (lock held)."""
        for size, segs in sorted(self._seg_cache.items(), reverse=True):
            while segs and (self.cached > keep or count > 0):
                seg, _ = segs.pop()
                self.cached -= size
                self.nsegments -= 1
                count -= 1
                if self._detach is not None:
                    self._detach(seg)
                try:
                    seg.close()
                except BufferError:  # still exported somewhere: unmapped when collected
                    pass

    # ---- queries -----------------------------------------------------------------------
    def lookup(self, addr, nbytes):
        """Return ``(window id, displacement)`` of registered memory holding the bytes, else None."""
        if self.base <= addr and addr + nbytes <= self.base + self.arena_bytes:
            return (self.window, addr - self.base) if self.window != UNREGISTERED else None
        if self._attach is None:
            return None
        for a, (_, size) in list(self._segments.items()):
            if a <= addr and addr + nbytes <= a + size:
                return DYNAMIC, addr
        return None

    def owns(self, addr):
        """Return True if ``addr`` lies in this pool's memory (registered or not)."""
        if self.base <= addr < self.base + self.arena_bytes:
            return True
        return any(a <= addr < a + s for a, (_, s) in list(self._segments.items()))

    def stats(self):
        """Return occupancy: bytes and blocks in use (by size class capacity), arena, growth."""
        with self._lock:
            self._drain()
            return {"bytes_in_use": self.in_use, "blocks_in_use": self.blocks,
                    "high_water_bytes": self.high_water, "arena_bytes": self.arena_bytes,
                    "arena_free_slabs": self._slabmap.count(1),
                    "segments": len(self._segments), "segment_bytes": self.segment_bytes,
                    "segment_bytes_cached": self.cached,
                    "allocations": self.allocations, "failures": self.failures,
                    "growths": self.growths, "max_bytes": self.max_bytes,
                    "max_segments": self.max_segments}

    def close(self):
        """Detach every growth segment (the pool must be empty); return the bytes still in use."""
        with self._lock:
            self._drain()
            self._trim(0)
            for seg, _ in self._segments.values():
                if self._detach is not None:
                    self._detach(seg)
            self._segments.clear()
            self.nsegments = 0
            self._attach = self._detach = None
            return self.in_use


# ---- the process's pools ---------------------------------------------------------------

_pools = []
def anonymous_memory(size):
    """Return ``size`` bytes of private anonymous memory (an mmap), with transparent huge
    pages asked for from 4 MiB, as numpy does for its large arrays.

    Private as malloc's: a shared anonymous mapping is shmem, which takes no transparent
    huge pages (shmem_enabled is usually "never"), and copies into its 4 KiB pages ran at
    the speed of fresh memory: the receive pool's 64 MiB messages at 0.6x native, the mpi
    parcelport's rma_vector at 8-64 MiB at 0.30-0.48 of serialize_buffer (MPICH, 2 ranks)."""
    mem = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if size >= 4 << 20 and hasattr(mmap, "MADV_HUGEPAGE"):
        try:
            mem.madvise(mmap.MADV_HUGEPAGE)
        except OSError:
            pass
    return mem


_default = [None]
_dlock = threading.Lock()


def default_pool():
    """Return the pool RmaVectors allocate from (the parcelport's once ``rma`` started)."""
    p = _default[0]
    if p is None:
        with _dlock:
            if _default[0] is None:
                set_default_pool(RmaPool())
            p = _default[0]
    return p


def set_default_pool(pool):
    """Make ``pool`` the default (None: a fresh unregistered one on next use); return the old."""
    old, _default[0] = _default[0], pool
    if pool is not None and pool not in _pools:
        _pools.append(pool)
    return old


def retire_pool(pool):
    """Forget ``pool`` (its windows are gone): its memory is no longer looked up for keys."""
    if pool in _pools:
        _pools.remove(pool)


def locate(addr, nbytes):
    """Return ``(pool, window id, displacement)`` for memory of a known pool, else None."""
    for p in reversed(_pools):
        if p.owns(addr):
            hit = p.lookup(addr, nbytes)
            return (p, UNREGISTERED, addr) if hit is None else (p,) + hit
    return None
