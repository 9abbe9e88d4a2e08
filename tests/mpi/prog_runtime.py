"""Runtime checks batched into one MPI program; run by tests/mpi/test_runtime_mpi.py.

Usage: mpiexec -n N python tests/mpi/prog_runtime.py PARCELPORT [coalesce] [completion [inline]]
Every check prints ``CHECK <name> ok`` on each rank; a failed check is an uncaught
AssertionError, which the runtime turns into a job abort naming the locality.
Neighbours are ring neighbours, so any rank count works.
"""
import dataclasses
import functools
import operator
import random
import sys
import threading
import time

import numpy as np

import runtime
from runtime.serialization import SerializeBuffer, serializable
from progutil import in_threads  # noqa: E402 - beside this script

PP = sys.argv[1] if len(sys.argv) > 1 else "mpi"
# small limits so the edge cases run: frame 0 sent apart, chunks split, tags wrapping around
OPTIONS = dict(eager_threshold=512, max_message=1 << 16, tag_ub=64) if PP == "mpi" else {}
if PP == "rma":  # the same, plus a 2 MiB arena so that the pool grows, and gets split in pieces
    OPTIONS = dict(eager_threshold=512, max_message=1 << 16, tag_ub=64, arena_bytes=2 << 20)
if "coalesce" in sys.argv[2:]:  # small parcels share messages, up to 8 at a time
    OPTIONS["coalesce"] = 8
if "completion" in sys.argv[2:]:  # parcels of >= 4 KiB complete in the completion thread
    OPTIONS.update(completion_thread=True, spin_bytes=4096)
if "inline" in sys.argv[2:]:  # ... and the completion thread delivers them itself
    OPTIONS["completion_hand_off"] = False
T = 60


@serializable
@dataclasses.dataclass
class Point:
    x: float
    y: float
    label: str


@runtime.action
def echo(*args):
    return args


@runtime.action
def fail(msg):
    raise KeyError(msg)


@runtime.action
def where_is(a):
    """Return (data address, whether the address is one the parcelport allocated)."""
    addr = a.__array_interface__["data"][0]
    pp = runtime.current().pp
    recent = getattr(pp, "recent_buffers", None)
    in_pool = None if recent is None else any(addr == p for p, _ in recent)
    return addr, in_pool, float(a.sum())


_gate = threading.Event()


@runtime.action
def wait_gate(buf):
    ok = _gate.wait(T)
    _gate.clear()
    return ok, len(buf)


@runtime.action(direct=True)
def open_gate():
    _gate.set()


_count = [0]
_count_lock = threading.Lock()


@runtime.action
def count(i):
    with _count_lock:
        _count[0] += 1


class Counter(runtime.Component):
    def __init__(self, start):
        self.n = start
        self.hits = np.zeros(8)

    @runtime.action
    def bump(self, k):
        self.n += 1
        self.hits[k % 8] += 1
        return runtime.here()

    @runtime.action
    def total(self):
        return self.n, float(self.hits.sum())


@runtime.action
def delayed_contribution(seed):
    return seed


def ok(name):
    print(f"CHECK {name} ok", flush=True)


def same(a, b):
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def check_types(nb):
    big = np.arange(50_000, dtype=np.float64).reshape(100, 500)
    values = [None, True, False, 0, -7, 2**70, 3.5, float("inf"), 1 + 2j, "", "héllo", b"\x00raw",
              bytearray(b"ba"), (1, "a"), [1, 2.0, "x"], {"k": [1, 2], 3: None}, {1, 2}, frozenset("ab"),
              np.float32(1.5), np.int64(-3), np.arange(5, dtype=np.int16), big, big[::2].copy(),
              np.zeros((0, 3)), np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
              SerializeBuffer(np.arange(10_000, dtype=np.uint8)), runtime.GlobalId(1, 2),
              Point(1.0, 2.0, "p")]
    for v in values:
        r = runtime.async_(echo, nb, v).get(T)
        assert same(r, (v,)), f"round trip of {type(v).__name__} gave {r!r}"
    r = runtime.async_(echo, nb, *values).get(T)
    assert same(r, tuple(values)), "all types in one call"
    ok("types")


def check_exceptions(nb):
    try:
        runtime.async_(fail, nb, "missing-thing").get(T)
    except (runtime.RemoteError, KeyError) as e:
        text = str(e)
        if runtime.here() != nb:
            assert isinstance(e, runtime.RemoteError), type(e)
            assert "missing-thing" in text and "fail" in text and "Traceback" in text, text
            assert "raise KeyError" in e.remote_traceback, e.remote_traceback
    else:
        raise AssertionError("exception did not reach the caller")
    ok("exceptions")


def check_async_cb(nb):
    if runtime.here() == nb:  # one locality: the callback fires at once, the call still runs later
        ok("async_cb")
        return
    fired = threading.Event()
    buf = np.ones(1 << 18)
    pp = runtime.current().pp
    with pp._plock:  # no progress: the send stays in flight (and none is reaped)
        big0 = pp._big_sends  # earlier large sends (or workers' replies) may be counted too
        fut = runtime.async_cb(wait_gate, nb, fired.set, SerializeBuffer(buf))
        posted, state, big = not pp._backlog, pp.in_flight(), pp._big_sends
    if PP == "mpi" and posted and pp._send_done is None:  # no completion thread holds it
        # a large send moves only while polled: the progress schedule drives it
        assert big > big0 and state == "drive", (big0, big, state)
    assert fired.wait(T), "async_cb callback never fired"
    time.sleep(0.05)
    assert not fut.done(), "the remote call finished although its gate is shut"
    runtime.apply(open_gate, nb)
    assert fut.get(T) == (True, buf.nbytes)
    ok("async_cb")


def check_zero_copy(nb):
    runtime.barrier()
    s0 = runtime.statistics()
    a = np.random.default_rng(1).random(1 << 17)  # 1 MiB
    addr, in_pool, total = runtime.async_(where_is, nb, a).get(T)
    s1 = runtime.statistics()  # before the barrier: afterwards others' next checks reach us
    assert total == float(a.sum())
    runtime.barrier()
    if nb != runtime.here():
        # parcelports that record their receive buffers (``recent_buffers``) are checked exactly
        assert in_pool is not False, "array did not arrive in a buffer the parcelport allocated"
        assert addr != a.__array_interface__["data"][0]
        assert s1["bytes_zero_copy"] - s0["bytes_zero_copy"] >= a.nbytes, (s0, s1)
        assert s1["bytes_copied"] - s0["bytes_copied"] < 4096, (s0, s1)
    ok("zero_copy")


def check_threads(n):
    def worker(t):
        rng = random.Random(t * 100 + runtime.here())
        futs = []
        for i in range(40):
            dest = rng.randrange(n)
            payload = np.full(rng.choice([1, 700, 5000]), i + t, dtype=np.int32)
            futs.append((runtime.async_(echo, dest, i, payload), i, payload))
        for f, i, p in futs:
            r = f.get(T)
            assert r[0] == i and np.array_equal(r[1], p)

    in_threads(worker, 4, T)
    ok("threads")


def check_futures(nb):
    fs = [runtime.async_(echo, nb, i) for i in range(5)]
    allf = runtime.when_all(fs).get(T)
    assert [f.get() for f in allf] == [(i,) for i in range(5)]
    i, _ = runtime.when_any([runtime.async_(echo, nb, 9)]).get(T)
    assert i == 0
    d = runtime.dataflow(lambda a, b: a[0] + b[0], runtime.async_(echo, nb, 2), runtime.async_(echo, nb, 3))
    assert d.get(T) == 5
    assert runtime.async_(echo, nb, 4).then(lambda f: f.get()[0] * 2).get(T) == 8
    ok("futures")


def check_migration(n):
    """Components move around the ring while every locality calls its own and its neighbour's."""
    me = runtime.here()
    gid = runtime.new(Counter, 0).get(T)
    assert runtime.resolve(gid) == me
    gids = runtime.all_gather(gid)
    targets = [gid, gids[(me + 1) % n]]  # the neighbour's is reached through its home
    stop = threading.Event()
    futs = []
    lock = threading.Lock()

    def hammer(t):
        k = 0
        while not stop.is_set() or k < 20:
            target = targets[k % 2]
            f = runtime.async_(Counter.bump, target, k)
            with lock:
                futs.append((target, f))
            k += 1
            if k % 16 == 0:
                f.get(T)

    ts = [threading.Thread(target=hammer, args=(t,)) for t in range(3)]
    for t in ts:
        t.start()
    for step in range(1, 4):
        runtime.migrate(gid, (me + step) % n).get(T)
        time.sleep(0.02)
    stop.set()
    for t in ts:
        t.join(T)
    ran_on = {f.get(T) for _, f in futs}
    assert ran_on <= set(range(n))
    mine = sum(1 for t, _ in futs if t == gid)
    to_neighbour = len(futs) - mine if n > 1 else 0
    if n == 1:
        mine = len(futs)
    counts = runtime.all_gather((mine, to_neighbour))
    expect = counts[me][0] + counts[(me - 1) % n][1] if n > 1 else mine
    runtime.barrier()  # every call on every locality has finished
    total, hits = runtime.async_(Counter.total, gid).get(T)
    assert total == expect and hits == expect, (total, hits, expect)
    runtime.migrate(gid, me).get(T)
    assert runtime.resolve(gid) == me and runtime.local_object(gid).n == expect
    runtime.barrier()
    ok("migration")


def check_collectives(n):
    me = runtime.here()
    base = [1e16, 1.0, -1e16, 0.1, 3.0, -0.7]
    v = base[me % len(base)] * (1 + me)
    expect = functools.reduce(operator.add, [base[r % len(base)] * (1 + r) for r in range(n)])
    arr = np.array([v, -v, v * 1e-9])
    expect_arr = functools.reduce(operator.add, [np.array([x, -x, x * 1e-9])
                                                 for x in (base[r % len(base)] * (1 + r) for r in range(n))])
    rng = random.Random(me * 7 + 1)
    for rep in range(4):
        time.sleep(rng.random() * 0.02)
        s = runtime.all_reduce(v, "sum")
        assert s == expect, (s, expect)
        a = runtime.all_reduce(arr, "sum")
        assert np.array_equal(a, expect_arr), (a, expect_arr)
        assert runtime.all_reduce(me, "max") == n - 1 and runtime.all_reduce(me, "min") == 0
        assert runtime.broadcast(("root", rep) if me == rep % n else None, root=rep % n) == ("root", rep)
        assert runtime.all_gather(me) == list(range(n))
        runtime.barrier()
    ok("collectives")


class Grid(runtime.Component):
    def __init__(self, k):
        self.k = k


def check_channels(n):
    me = runtime.here()
    mine = runtime.new(Grid, me).get(T)
    gids = runtime.all_gather(mine)
    nb_gid = gids[(me + 1) % n]
    for cycle in range(3):
        sent = runtime.channel_set(nb_gid, "halo-x", cycle, np.full(3000, me + cycle * 10.0))
        got = runtime.channel_get(mine, "halo-x", cycle).get(T)
        sent.get(T)
        assert np.array_equal(got, np.full(3000, (me - 1) % n + cycle * 10.0)), got[:3]
    ok("channels")


def check_stats(n):
    allst = runtime.gather_statistics()
    assert [s["locality"] for s in allst] == list(range(n))
    if n > 1:
        assert sum(s["parcels_sent"] for s in allst) > 0
        assert sum(s["bytes_received_zero_copy"] for s in allst) > 0
        for s in allst:  # chunks sent zero-copy are part of the bytes sent (rma: fetched)
            assert s["bytes_sent"] >= s["bytes_zero_copy"], s
        if PP == "mpi":  # the small tag space above wrapped around, and nothing got mixed up
            assert all(s.get("tag_wraps", 0) > 0 for s in allst), [s.get("tag_wraps") for s in allst]
        if OPTIONS.get("coalesce"):
            assert sum(s["parcels_coalesced"] for s in allst) > 0
        if OPTIONS.get("completion_thread"):
            pp = runtime.current().pp
            assert pp.completion_thread and pp.completed_in_thread > 0, pp.completed_in_thread
    ok("stats")


def main():
    with runtime.init(parcelport=PP, threads=2, **OPTIONS):
        n = len(runtime.localities())
        me = runtime.here()
        nb = (me + 1) % n
        check_types(nb)
        check_exceptions(nb)
        check_async_cb(nb)
        check_zero_copy(nb)
        check_futures(nb)
        check_threads(n)
        check_collectives(n)
        check_channels(n)
        check_migration(n)
        check_stats(n)
        # shutdown with parcels in flight: fire-and-forget, then finalize at once
        for i in range(300):
            runtime.apply(count, nb, np.full(50_000, i) if i % 50 == 0 else i)
    print(f"COUNT {me} {_count[0]} ", flush=True)


if __name__ == "__main__":
    main()
