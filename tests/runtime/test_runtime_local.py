"""The runtime on one locality without a launcher: local parcelport, actions, AGAS, registry."""
import dataclasses
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import runtime
from runtime.actions import action_id
from runtime.parcelport import Parcelport, get_parcelport, register_parcelport
from runtime.serialization import SerializeBuffer, serializable
from tests.mpiutil import REPO


@serializable
@dataclasses.dataclass
class Pair:
    a: int
    b: str


@runtime.action
def echo(*args):
    return args


@runtime.action
def boom(msg):
    raise ValueError(msg)


@runtime.action
def address(a):
    return a.__array_interface__["data"][0]


class Box(runtime.Component):
    def __init__(self, v):
        self.v = v

    @runtime.action
    def add(self, d):
        self.v += d
        return self.v


@pytest.fixture(params=[False, True], ids=["direct", "loopback"])
def rt(request):
    r = runtime.init(parcelport="local", threads=2, loopback=request.param)
    yield r
    r.finalize()


VALUES = [None, True, 7, -2**70, 1.5, 2j, "s", b"b", bytearray(b"x"), (1, (2,)), [1, "a"],
          {"k": 1}, {3}, frozenset({4}), np.int32(5), np.arange(3.0), np.ones((64, 64)),
          SerializeBuffer(np.arange(8192, dtype=np.uint8)), runtime.GlobalId(0, 9), Pair(1, "x")]


def test_plain_start_is_one_locality(rt):
    assert runtime.here() == 0 and runtime.localities() == [0]
    assert rt.parcelport_name == "local"


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_round_trip_types(rt, value):
    r = runtime.async_(echo, 0, value).get(10)[0]
    if isinstance(value, np.ndarray):
        assert r.dtype == value.dtype and np.array_equal(r, value)
    else:
        assert r == value and type(r) is type(value)


def test_exception_carries_traceback(rt):
    with pytest.raises((ValueError, runtime.RemoteError)) as ei:
        runtime.async_(boom, 0, "no-good").get(10)
    assert "no-good" in str(ei.value)
    if rt.loopback:
        assert "raise ValueError(msg)" in ei.value.remote_traceback


def test_loopback_receives_into_allocated_buffer():
    with runtime.init(parcelport="local", loopback=True) as rt:
        a = np.arange(100_000.0)
        addr = runtime.async_(address, 0, a).get(10)
        st = runtime.statistics()
    assert addr != a.__array_interface__["data"][0]
    assert st["bytes_zero_copy"] >= a.nbytes and st["bytes_received_zero_copy"] >= a.nbytes
    assert st["bytes_copied"] < 4096 and st["parcels_sent"] == st["parcels_received"] == 2


def test_same_locality_does_not_serialize():
    with runtime.init(parcelport="local"):
        a = np.arange(100_000.0)
        assert runtime.async_(address, 0, a).get(10) == a.__array_interface__["data"][0]
        st = runtime.statistics()
    assert st["parcels_sent"] == 0 and st["local_calls"] == 1


def test_async_cb_and_apply(rt):
    fired = threading.Event()
    f = runtime.async_cb(echo, 0, fired.set, 1)
    assert f.get(10) == (1,) and fired.is_set()
    runtime.apply(echo, 0, 2)


def test_components_channels_collectives(rt):
    gid = runtime.new(Box, 1).get(10)
    assert runtime.resolve(gid) == 0
    assert runtime.async_(Box.add, gid, 2).get(10) == 3
    assert runtime.migrate(gid, 0).get(10)
    assert runtime.local_object(gid).v == 3
    runtime.channel_set(gid, "t", 0, np.ones(5)).get(10)
    assert runtime.channel_get(gid, "t", 0).get(10).sum() == 5
    got = runtime.channel_get(gid, "t", 1)
    runtime.channel_set(gid, "t", 1, "late")
    assert got.get(10) == "late"
    assert runtime.all_reduce(2.5) == 2.5 and runtime.broadcast("x") == "x"
    assert runtime.all_gather(1) == [1]
    runtime.barrier()
    st = runtime.gather_statistics()
    assert len(st) == 1 and st[0]["locality"] == 0


def test_applied_exception_is_reported_at_finalize():
    r = runtime.init(parcelport="local", threads=1)
    runtime.apply(boom, 0, "fire-and-forget")
    with pytest.raises(RuntimeError, match="fire-and-forget"):
        r.finalize()


def test_unknown_parcelport_and_plugins():
    with pytest.raises(ValueError, match="unknown parcelport"):
        get_parcelport("no-such-transport")

    @register_parcelport("test-null")
    class Null(Parcelport):
        pass

    assert get_parcelport("test-null") is Null
    with runtime.init(parcelport="test-null", threads=1):
        assert runtime.async_(echo, 0, 5).get(5) == (5,)


def test_action_ids_are_stable_across_processes():
    code = "from runtime.actions import action_id; print(action_id('tests.runtime.x'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=60, check=True).stdout
    assert int(out) == action_id("tests.runtime.x") and echo.id == action_id(f"{__name__}.echo")


def test_no_mpi_without_launcher():
    code = ("import sys, runtime; r = runtime.init(); assert r.parcelport_name == 'local'; "
            "r.finalize(); print('mpi4py.MPI' in sys.modules)")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PMI_", "PMIX_", "OMPI_", "MPI_", "HYDRA", "SLURM"))}
    env["PYTHONPATH"] = str(REPO)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_launcher_detection(monkeypatch):
    from runtime.core import launcher_detected
    for k in ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS",
              "SLURM_STEP_NUM_TASKS_MPI"):
        monkeypatch.delenv(k, raising=False)
    assert not launcher_detected()
    monkeypatch.setenv("PMI_SIZE", "2")
    assert launcher_detected()


def test_receive_pool_recycles_only_dead_buffers():
    import gc

    from runtime.parcelport.recvpool import RecvPool
    pool = RecvPool(min_bytes=1 << 16, max_cached=1 << 22)
    a = pool.empty((300, 100), np.float64)
    addr = a.__array_interface__["data"][0]
    view = a[10:20]
    del a
    gc.collect()
    b = pool.empty((300, 100), np.float64)  # the view still holds the first buffer
    addr_b = b.__array_interface__["data"][0]
    assert addr_b != addr and pool.hits == 0
    del view, b
    gc.collect()
    c = pool.empty((30000,), np.float64)
    assert pool.hits == 1 and c.flags.writeable and c.flags.c_contiguous
    assert c.__array_interface__["data"][0] in (addr, addr_b)


def _rma_segment():
    from runtime.memory import RmaPool
    return RmaPool(arena_bytes=1 << 20).empty((16 << 20,), np.uint8)   # past the arena


def _recv_buffer():
    from runtime.parcelport.recvpool import RecvPool
    return RecvPool(min_bytes=1 << 20, max_cached=1 << 26).empty((16 << 20,), np.uint8)


@pytest.mark.parametrize("make", [_recv_buffer, _rma_segment], ids=["recv_pool", "rma_pool"])
def test_pool_buffers_are_private_memory_that_takes_huge_pages(make):
    """Shared anonymous memory is shmem (no transparent huge pages): the pools map privately."""
    import os

    a = make()
    a[::4096] = 1
    lo = a.__array_interface__["data"][0]
    found = None
    if os.path.exists("/proc/self/smaps"):
        with open("/proc/self/smaps") as fh:
            cur = None
            for line in fh:
                head = line.split()
                if "-" in head[0] and len(head) >= 5:
                    start, end = (int(x, 16) for x in head[0].split("-"))
                    cur = start <= lo < end
                    if cur:
                        found = {"perms": head[1]}
    if found is None:
        pytest.skip("no /proc/self/smaps")
    # private ('p'), not shared ('s'); whether the kernel then backs it with huge pages
    # depends on its THP setting and free memory, so that is not asserted
    assert found["perms"].endswith("p"), found
