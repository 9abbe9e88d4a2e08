"""The registered-memory pool, RmaVector and rma_object without MPI (an unregistered pool)."""
import copy
import gc
import threading

import numpy as np
import pytest

from runtime.memory import (CLASSES, SLAB, PoolExhausted, RmaObject, RmaPool, RmaVector,
                            rma_object, set_default_pool)
from runtime.serialization import dumps, dumps_archive, loads, RMA, decode_header


@pytest.fixture
def pool():
    p = RmaPool(arena_bytes=4 * SLAB, grow=True, max_bytes=6 * SLAB)
    old = set_default_pool(p)
    yield p
    set_default_pool(old)


def _settle(p):
    gc.collect()
    return p.stats()


@pytest.mark.parametrize("nbytes", [1, 1023, 1024, 1025, 4095, 4096, 4097, 65536,
                                    SLAB, SLAB + 1, 3 * SLAB])
def test_block_sizes_and_release(pool, nbytes):
    a = pool.empty(nbytes)
    a[:] = 7
    st = pool.stats()
    cap = next((c for c in CLASSES if nbytes <= c), -(-nbytes // SLAB) * SLAB)
    assert st["bytes_in_use"] == cap and st["blocks_in_use"] == 1
    view = a[1:]
    del a
    assert _settle(pool)["blocks_in_use"] == 1  # a view keeps the block
    del view
    st = _settle(pool)
    assert st["bytes_in_use"] == 0 and st["arena_free_slabs"] == 4 and st["segments"] == 0


def test_blocks_do_not_overlap(pool):
    blocks = [pool.empty(n) for n in [1000, 3000, 60000, 1000, 500_000] * 3]
    for i, b in enumerate(blocks):
        b[:] = i % 251
    for i, b in enumerate(blocks):
        assert (b == i % 251).all()
    addrs = sorted((b.__array_interface__["data"][0], b.nbytes) for b in blocks)
    assert all(a + n <= b for (a, n), (b, _) in zip(addrs, addrs[1:]))


def test_exhaustion_is_an_error_and_growth_is_bounded(pool):
    held = []
    with pytest.raises(PoolExhausted, match="exhausted"):
        while True:
            held.append(pool.empty(SLAB))
            held[-1][:] = len(held)
    st = pool.stats()
    assert len(held) == 6 and st["segments"] == 2 and st["failures"] == 1
    assert all((h == i + 1).all() for i, h in enumerate(held)), "blocks changed by the failure"
    del held
    st = _settle(pool)
    assert st["bytes_in_use"] == 0 and st["segments"] == 0 and st["segment_bytes"] == 0


def test_no_growth():
    p = RmaPool(arena_bytes=SLAB, grow=False)
    a = [p.empty(4096) for _ in range(SLAB // 4096)]
    with pytest.raises(PoolExhausted, match="growth is off"):
        p.empty(1)
    del a
    assert _settle(p)["bytes_in_use"] == 0
    p.empty(10)  # usable again


class _Window:
    """A dynamic window as Open MPI has it: at most ``limit`` regions attached at once."""

    def __init__(self, limit):
        self.limit, self.regions, self.most, self.refusals = limit, set(), 0, 0

    def attach(self, seg):
        if len(self.regions) >= self.limit:
            self.refusals += 1
            raise RuntimeError("MPI_ERR_RMA_ATTACH: Could not attach RMA segment")
        self.regions.add(id(seg))
        self.most = max(self.most, len(self.regions))

    def detach(self, seg):
        self.regions.remove(id(seg))


def test_segments_stay_under_the_attach_limit():
    """Growth segments (in use plus cached) never pass max_segments: cached ones are unmapped
    to make room, and past the limit allocation is PoolExhausted, not a refused attach."""
    w = _Window(3)
    p = RmaPool(arena_bytes=SLAB, grow=True, max_bytes=64 * SLAB, cache_bytes=64 * SLAB,
                attach=w.attach, detach=w.detach, max_segments=3)
    full = p.empty(SLAB)  # the arena
    held = [p.empty((k + 2) * SLAB) for k in range(3)]  # three segments of distinct sizes
    with pytest.raises(PoolExhausted, match="max_segments=3"):
        p.empty(SLAB)
    assert w.refusals == 0 and len(w.regions) == 3
    del held[:2]  # two segments back to the cache, still attached
    st = _settle(p)
    assert st["segments"] == 1 and st["segment_bytes_cached"] == 5 * SLAB and len(w.regions) == 3
    g = st["growths"]
    b = p.empty(2 * SLAB)  # a cached size: reused as it is, no attach
    assert p.stats()["growths"] == g and len(w.regions) == 3
    more = p.empty(7 * SLAB)  # a size not cached: the cached segment is unmapped to make room
    more[:] = 1
    b[:] = 2
    assert w.refusals == 0 and w.most == 3 and len(w.regions) == 3
    assert p.stats()["segment_bytes_cached"] == 0
    with pytest.raises(PoolExhausted, match="max_segments=3"):
        p.empty(SLAB)  # three in use, none cached
    assert (more == 1).all() and (b == 2).all()
    del more, held, b, full
    st = _settle(p)
    assert st["bytes_in_use"] == 0 and st["failures"] == 2, st
    assert p.close() == 0 and not w.regions


def test_arena_only_blocks():
    """segment=False: a block from the arena or PoolExhausted, never a growth segment."""
    p = RmaPool(arena_bytes=2 * SLAB, grow=True)
    a = p.empty(SLAB, segment=False)
    with pytest.raises(PoolExhausted, match="arena full"):
        p.empty(2 * SLAB, segment=False)
    b = p.empty(2 * SLAB)  # the same request may grow
    assert p.stats()["segments"] == 1 and p.owns(a.__array_interface__["data"][0])
    del a, b
    assert _settle(p)["bytes_in_use"] == 0


def test_refused_attach_is_pool_exhaustion():
    """A library that refuses a segment (below max_segments): PoolExhausted, nothing leaked."""
    w = _Window(1)
    p = RmaPool(arena_bytes=SLAB, grow=True, attach=w.attach, detach=w.detach)
    a = p.empty(2 * SLAB)
    with pytest.raises(PoolExhausted, match="attach failed"):
        p.empty(3 * SLAB)
    st = p.stats()
    assert st["segments"] == 1 and st["segment_bytes"] == 2 * SLAB and st["failures"] == 1
    del a
    assert _settle(p)["bytes_in_use"] == 0


def test_threads_allocate_and_release(pool):
    errors = []

    def work(t):
        try:
            for i in range(300):
                a = pool.empty([100, 3000, 70_000][i % 3], np.uint8)
                a[:] = t
                assert (a == t).all()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert not errors
    assert _settle(pool)["bytes_in_use"] == 0


def test_vector_behaves_like_an_array(pool):
    v = RmaVector(np.arange(6.0).reshape(2, 3))
    assert v.shape == (2, 3) and v.dtype == np.float64 and len(v) == 2
    v += 1
    assert isinstance(v, RmaVector) and v[0, 0] == 1.0
    assert np.array_equal(v * 2, np.arange(1, 7.0).reshape(2, 3) * 2)
    assert np.sum(v) == 21.0 and np.asarray(v).base is not None
    assert RmaVector(5, np.int32).tolist() == [0] * 5


def test_copies_share_deep_copies_do_not(pool):
    v = RmaVector(np.zeros(10))
    for shared in (RmaVector(v), copy.copy(v)):
        shared[0] += 1
        assert shared.shares_memory(v)
    assert v[0] == 2
    for distinct in (v.copy(), copy.deepcopy(v)):
        distinct[1] = 9
        assert not distinct.shares_memory(v) and v[1] == 0


def test_last_reference_frees(pool):
    v = RmaVector(np.ones(100_000))
    w = RmaVector(v)
    a = v.array
    del v
    assert _settle(pool)["blocks_in_use"] == 1
    del w
    assert _settle(pool)["blocks_in_use"] == 1  # the numpy view still uses it
    del a
    assert _settle(pool)["blocks_in_use"] == 0


@pytest.mark.parametrize("n", [4095, 4096, 100_000])
def test_vector_serializes_to_an_rma_chunk(pool, n):
    v = RmaVector(np.arange(n, dtype=np.uint8))
    ar = dumps_archive(v)
    chunks = decode_header(ar.frames[0]).chunks
    if n < 4096:  # below the threshold: in the index data
        assert not chunks
    else:
        assert [c.kind for c in chunks] == [RMA] and chunks[0].key == v.key
        assert ar.bytes_zero_copy == n
    r = loads(ar.frames)
    assert isinstance(r, RmaVector) and np.array_equal(r.array, v.array)


def test_rma_object(pool):
    dt = np.dtype([("a", "f8", (1000,)), ("n", "i8")])
    o = rma_object(dtype=dt)
    o.value = (np.arange(1000.0), 5)
    assert o.nbytes == dt.itemsize and o.value["n"] == 5
    r = loads(dumps(o))
    assert isinstance(r, RmaObject) and r.value["n"] == 5 and r.value["a"][999] == 999.0
    assert copy.copy(o).array is o.array and not np.shares_memory(o.copy().array, o.array)
