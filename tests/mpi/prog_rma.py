"""RMA parcelport and RmaVector checks in one MPI program; run by tests/mpi/test_rma_mpi.py.

Usage: mpiexec -n N python tests/mpi/prog_rma.py attach|copy|noack
Every check prints ``CHECK <name> ok`` on each rank; a failure aborts the job naming the
locality.  Ring neighbours, so any rank count works (one rank: calls are local).
"""
import gc
import sys
import threading

import numpy as np

import runtime
from runtime.memory import ARENA, PoolExhausted, RmaObject, RmaVector, default_pool, rma_object
from runtime.serialization import SerializeBuffer

MODE = sys.argv[1] if len(sys.argv) > 1 else "attach"
OPTIONS = dict(register=MODE, arena_bytes=2 << 20, pool_max_bytes=8 << 20, max_message=1 << 16)
T = 60


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
        assert arrived_registered, "the receiver's RmaVector is not from its pool"
        assert back.registered and not back.shares_memory(v)
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
    if remote:
        assert st["registered_bytes"] > 0, st
        assert (st["attached_bytes"] if MODE == "attach" else st["copied_bytes"]) > 0, st
        assert st["attached_bytes"] == 0 or MODE == "attach", st
    ok("async_cb")


def check_shared_buffer(nb):
    """One buffer in many parcels in flight at once, from several threads (attached once)."""
    a = np.arange(1 << 16, dtype=np.float64)
    errors = []

    def worker():
        try:
            futs = [runtime.async_(total, nb, SerializeBuffer(a)) for _ in range(8)]
            futs += [runtime.async_(total, nb, a[1000:9000]) for _ in range(4)]  # a view inside it
            for f in futs[:8]:
                assert f.get(T)[0] == float(a.sum())
            for f in futs[8:]:
                assert f.get(T)[0] == float(a[1000:9000].sum())
        except BaseException as e:  # noqa: BLE001
            errors.append(repr(e))

    ts = [threading.Thread(target=worker) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(T)
    assert not errors, errors
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


def check_released(n):
    """Every block is back once the program drops its values (after the acks)."""
    runtime.barrier()
    me = runtime.here()
    for _ in range(20):  # idle workers keep their last task's arguments until the next task
        gc.collect()
        st = default_pool().stats()
        if not st["blocks_in_use"]:
            break
        runtime.when_all([runtime.async_(total, me, np.zeros(1)) for _ in range(8)]).get(T)
    pp = runtime.current().pp
    assert st["bytes_in_use"] == 0 and st["blocks_in_use"] == 0, st
    assert not pp._attached and not pp._await, (pp._attached, pp._await)
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
        check_exhaustion(nb, remote)
        check_released(n)


if __name__ == "__main__":
    main()
