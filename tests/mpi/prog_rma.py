"""RMA parcelport and RmaVector checks in one MPI program; run by tests/mpi/test_rma_mpi.py.

Usage: mpiexec -n N python tests/mpi/prog_rma.py attach|copy|limited|nodynamic|completion|noack
(``copy`` leaves ``register`` at the parcelport's default, which must be copy)
Every check prints ``CHECK <name> ok`` on each rank; a failure aborts the job naming the
locality.  Ring neighbours, so any rank count works (one rank: calls are local).
``limited``: ``attach`` with dynamic windows that behave as Open MPI's do (at most LIMIT
regions attached at once; an attach past it fails and a later detach is an error, where
Open MPI hangs; regions are whole pages, and two sharing a page are an error, where Open
MPI's detach may remove the wrong one), so that MPICH runs check that the parcelport
never asks for either.  ``nodynamic``: no dynamic windows (the default under Open MPI):
everything unregistered is copied into the arena, growth segments are plain memory.
"""
import gc
import mmap
import sys
import threading

import numpy as np

import runtime
from runtime.memory import ARENA, PoolExhausted, RmaObject, RmaVector, default_pool, rma_object
from runtime.serialization import SerializeBuffer

from runtime.parcelport.base import byte_view
from runtime.parcelport.mpi import _mpi
from runtime.parcelport.rma import RmaParcelport
from progutil import in_threads  # noqa: E402 - beside this script

MODE = sys.argv[1] if len(sys.argv) > 1 else "attach"
OPTIONS = dict(arena_bytes=2 << 20, pool_max_bytes=8 << 20, max_message=1 << 16)
if MODE != "copy":              # copy mode runs the parcelport's default, which is copy
    OPTIONS["register"] = "attach"
OPEN_MPI = _mpi().Get_library_version().startswith("Open MPI")
if MODE == "limited" and not OPEN_MPI:
    OPTIONS["dynamic"] = True   # under Open MPI the default (no dynamic windows) stays
elif MODE == "nodynamic":
    OPTIONS["dynamic"] = False
elif MODE == "completion":  # parcels of >= 4 KiB fetched and delivered by the completion thread
    OPTIONS.update(completion_thread=True, spin_bytes=4096)
T = 60
LIMIT = 6
_windows = []


PAGE = mmap.PAGESIZE


def _pages(buf):
    a = np.frombuffer(buf, np.uint8)
    addr = a.__array_interface__["data"][0]
    return addr & -PAGE, -(-(addr + a.nbytes) // PAGE) * PAGE


class LimitedWindow:
    """A dynamic window as Open MPI's (osc/rdma): at most LIMIT regions, whole pages."""

    def __init__(self, win, MPI):
        self._w, self._MPI = win, MPI
        self.n = self.most = 0
        self.refused = False
        self.pages = {}  # (lo, hi) of the attached regions -> count
        self._lock = threading.Lock()

    def Attach(self, buf):
        with self._lock:
            if self.n >= LIMIT:
                self.refused = True
                raise self._MPI.Exception(self._MPI.ERR_RMA_ATTACH)
            lo, hi = _pages(buf)
            assert not any(a < hi and lo < b for a, b in self.pages), \
                "two attached regions share a page (Open MPI's detach may remove the wrong one)"
            self._w.Attach(buf)
            self.pages[(lo, hi)] = 1
            self.n += 1
            self.most = max(self.most, self.n)

    def Detach(self, buf):
        with self._lock:
            assert not self.refused, "detach on a window that refused an attach (Open MPI hangs)"
            self._w.Detach(buf)
            del self.pages[_pages(buf)]
            self.n -= 1

    def __getattr__(self, name):
        return getattr(self._w, name)


if MODE == "limited":
    _create = RmaParcelport._create_dynamic

    def _create_limited(self):
        w = LimitedWindow(_create(self), self.MPI)
        _windows.append(w)
        return w

    RmaParcelport._create_dynamic = _create_limited


@runtime.action
def double_it(v):
    """Double the received vector in place and send it back; report what arrived."""
    registered = v.registered
    v *= 2
    return v, registered


@runtime.action
def total(x):
    if isinstance(x, RmaObject):
        a = x.value["x"]
    else:
        a = x.array if isinstance(x, (SerializeBuffer, RmaVector)) else np.asarray(x)
    return float(a.sum()), type(x).__name__


@runtime.action
def sums(*xs):
    return [float(np.asarray(x).sum()) for x in xs]


_held = []


@runtime.action
def fill_pool():
    """Hold pool blocks until (almost) nothing is left, so that receives fall back."""
    pool = default_pool()
    try:
        while True:
            _held.append(pool.empty(1 << 20))
    except PoolExhausted:
        pass
    try:
        while True:
            _held.append(pool.empty(1 << 10))
    except PoolExhausted:
        pass
    return len(_held)


def ok(name):
    print(f"CHECK {name} ok", flush=True)


def rma_stats():
    return runtime.current().pp.rma_stats()


def check_roundtrip(nb, remote):
    v = RmaVector(np.arange(100_000, dtype=np.float64))
    assert v.registered and v.key[0] == ARENA, v.key
    back, arrived_registered = runtime.async_(double_it, nb, v).get(T)
    assert isinstance(back, RmaVector)
    assert np.array_equal(back.array, 2 * np.arange(100_000)), back[:4]
    if remote:  # distinct copies: the caller's is untouched, the reply is in a new block
        # without dynamic windows a block past the arena is unregistered, and a reply from
        # it that does not fit the arena comes two-sided
        dyn = rma_stats()["dynamic_windows"]
        assert arrived_registered or not dyn, "the receiver's RmaVector is not from its pool"
        assert (back.registered or not dyn) and not back.shares_memory(v)
        assert np.array_equal(v.array, np.arange(100_000)), "receiver's change reached the sender"
    else:       # a local call passes the same vector
        assert back.shares_memory(v) and v[1] == 2.0
    o = rma_object(np.arange(2000.0).view([("x", "f8", (2000,))])[0])
    s, name = runtime.async_(total, nb, o).get(T)
    assert name == "RmaObject" and s == float(np.arange(2000.0).sum()), (s, name)
    small = RmaVector([1.0, 2.0, 3.0])  # below the threshold: travels in the index data
    assert runtime.async_(total, nb, small).get(T) == (6.0, "RmaVector")
    ok("roundtrip")


def check_async_cb(nb, remote):
    """async_cb fires once the receiver acknowledged; the memory is released then."""
    for payload in (RmaVector(np.ones(1 << 17)), SerializeBuffer(np.ones(1 << 17))):
        fired = threading.Event()
        f = runtime.async_cb(total, nb, fired.set, payload)
        assert fired.wait(T), "async_cb never fired"
        if remote:
            assert not runtime.current().pp._attached, "attached memory not released after the ack"
        assert f.get(T) == (float(1 << 17), type(payload).__name__)
    st = rma_stats()
    assert MODE != "copy" or st["register"] == "copy", st      # the default
    if remote:
        assert st["registered_bytes"] > 0, st
        moved = st["attached_bytes"] if st["register"] == "attach" else st["copied_bytes"]
        # without dynamic windows a buffer that does not fit the arena goes two-sided
        assert moved > 0 or (not st["dynamic_windows"] and st["two_sided"] > 0), st
        assert st["attached_bytes"] == 0 or st["register"] == "attach", st
        check_polled_while_attached(nb)
    ok("async_cb")


def check_polled_while_attached(nb):
    """A large attached chunk keeps the sender polling hard until acknowledged (MPICH emulates
    gets from dynamic windows: they move only as fast as the target polls); copied ones not.
    Workers may be sending replies meanwhile (RmaVectors, some in pool growth segments, which
    count too), so this parcel's own record is checked, not the counter."""
    pp = runtime.current().pp
    big = np.ones(pp.spin_bytes // 8)  # spin_bytes: as large as hard polling is for
    addr = big.__array_interface__["data"][0]
    before = rma_stats()["attached_bytes"]
    fired = threading.Event()
    with pp._plock:  # no progress: the acknowledgement waits
        f = runtime.async_cb(total, nb, fired.set, SerializeBuffer(big))
        with pp._alock:
            mine = [s for s in pp._await.values()
                    if any(byte_view(fr).__array_interface__["data"][0] == addr
                           for fr in s.archive.frames[1:])]
        attached = rma_stats()["attached_bytes"] - before == big.nbytes
        assert len(mine) == 1 and mine[0].polled == attached, (mine, attached)
        assert pp.in_flight() == "drive" or not attached, pp.in_flight()
    assert fired.wait(T) and f.get(T)[0] == float(big.size)
    assert attached or MODE != "attach" or OPEN_MPI, rma_stats()  # MPICH: dynamic windows


def check_shared_buffer(nb):
    """One buffer in many parcels in flight at once, from several threads (attached once)."""
    a = np.arange(1 << 16, dtype=np.float64)

    def worker(_):
        futs = [runtime.async_(total, nb, SerializeBuffer(a)) for _ in range(8)]
        futs += [runtime.async_(total, nb, a[1000:9000]) for _ in range(4)]  # a view inside it
        for f in futs[:8]:
            assert f.get(T)[0] == float(a.sum())
        for f in futs[8:]:
            assert f.get(T)[0] == float(a[1000:9000].sum())

    in_threads(worker, 3, T)
    ok("shared_buffer")


def check_exhaustion(nb, remote):
    pool = default_pool()
    keep = RmaVector(np.arange(1 << 16, dtype=np.float64))  # 512 KiB, to send later
    held = []
    try:
        while True:
            held.append(RmaVector.empty(1 << 17))  # 1 MiB each
            held[-1][:] = len(held)
    except PoolExhausted as e:
        assert "exhausted" in str(e), e
    st = pool.stats()
    assert st["failures"] >= 1 and st["arena_free_slabs"] == 0, st
    assert st["arena_bytes"] + st["segment_bytes"] <= st["max_bytes"], st
    assert all(h[7] == i + 1 for i, h in enumerate(held)), "blocks corrupted after exhaustion"
    del held
    runtime.barrier()
    # receiver's pool full: the RMA chunk lands in plain memory, still correct
    if remote:
        runtime.async_(fill_pool, nb).get(T)
    runtime.barrier()
    s, _ = runtime.async_(total, nb, keep).get(T)
    assert s == float(np.arange(1 << 16).sum())
    runtime.barrier()
    if remote:
        assert rma_stats()["pool_fallbacks"] >= 1, rma_stats()
    _held.clear()
    ok("exhaustion")


def check_attach_limit(nb, remote):
    """Many distinct unregistered arrays in flight at once: never more attached than the
    library takes (the rest copied into the pool), every result right."""
    def worker(t):
        arrays = [np.full(1 << 13, 100 * t + i, dtype=np.float64) for i in range(16)]
        futs = [runtime.async_(total, nb, a) for a in arrays]
        for i, f in enumerate(futs):
            assert f.get(T)[0] == float((100 * t + i) * (1 << 13)), (t, i)

    in_threads(worker, 4, T)
    # byte-disjoint views sharing pages, in one parcel: attached one per page at most
    b = np.arange(40_000, dtype=np.uint8)
    cuts = [0, 5000, 9100, 20_000, 24_100, 40_000]  # all chunks; at most one cut page-aligned
    views = [b[lo:hi] for lo, hi in zip(cuts, cuts[1:])]
    assert runtime.async_(sums, nb, *views).get(T) == [float(v.sum()) for v in views]
    st = rma_stats()
    if remote and st["register"] == "attach":
        assert st["page_fallbacks"] >= 2, st
    limit = st["attach_limit"]
    assert st["attach_failures"] == 0, st
    if limit is not None:
        assert st["pool"]["max_segments"] == limit, st
    if MODE == "nodynamic" or (OPEN_MPI and "dynamic" not in OPTIONS):
        assert not st["dynamic_windows"] and st["register"] == "copy" and st["dynamic_off"], st
        assert st["attached_bytes"] == 0 and limit is None, st
    if MODE == "limited" and not OPEN_MPI:
        assert limit == LIMIT, st
        pool_win, att_win, probes = _windows[0], _windows[1], _windows[2:]
        assert all(w.refused for w in probes), "the probe did not find the limit"
        assert not att_win.refused and not pool_win.refused
        assert att_win.most <= LIMIT and pool_win.most <= LIMIT
        if remote:
            assert att_win.most == LIMIT and st["attach_fallbacks"] > 0, (att_win.most, st)
    ok("attach_limit")


def check_released(n):
    """Every block is back once the program drops its values (after the acks)."""
    runtime.barrier()
    me = runtime.here()
    if MODE == "completion" and n > 1:  # last through the completion thread: not kept there
        assert runtime.async_(total, (me + 1) % n, RmaVector(np.ones(1 << 16))).get(T)[0] == 65536
        runtime.barrier()
    for _ in range(20):  # idle workers keep their last task's arguments until the next task
        gc.collect()
        st = default_pool().stats()
        if not st["blocks_in_use"]:
            break
        runtime.when_all([runtime.async_(total, me, np.zeros(1)) for _ in range(8)]).get(T)
    pp = runtime.current().pp
    assert st["bytes_in_use"] == 0 and st["blocks_in_use"] == 0, st
    assert not pp._attached and not pp._await, (pp._attached, pp._await)
    assert pp._polled == 0, pp._polled  # every polled send was acknowledged
    assert st["segments"] == 0, st
    ok("released")


def lost_ack():
    """Locality 1 never acknowledges: locality 0's send must fail within ack_timeout."""
    with runtime.init(parcelport="rma", threads=2, ack_timeout=2.0):
        if runtime.here() == 1:
            runtime.current().pp._finish = lambda g: None  # swallow the parcel, no ack
        runtime.barrier()
        if runtime.here() == 0:
            runtime.async_(total, 1, RmaVector(np.ones(1 << 16))).get(T)
        runtime.barrier(timeout=600)  # never completes: the failure must end the job


def main():
    if MODE == "noack":
        return lost_ack()
    with runtime.init(parcelport="rma", threads=2, **OPTIONS):
        n = len(runtime.localities())
        me = runtime.here()
        nb = (me + 1) % n
        remote = nb != me
        check_roundtrip(nb, remote)
        check_async_cb(nb, remote)
        check_shared_buffer(nb)
        runtime.barrier()
        check_attach_limit(nb, remote)
        runtime.barrier()
        check_exhaustion(nb, remote)
        check_released(n)


if __name__ == "__main__":
    main()
