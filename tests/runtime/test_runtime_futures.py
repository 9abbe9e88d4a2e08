"""Futures, promises, combinators and the scheduler, without a launcher."""
import resource
import threading
import time

import pytest

import runtime
from runtime.futures import Future, Promise, make_exceptional_future, make_ready_future
from runtime.scheduler import Backoff, Scheduler


def test_promise_value_and_callbacks():
    p = Promise()
    seen = []
    p.future.add_done_callback(lambda f: seen.append(f.get()))
    assert not p.future.done()
    p.set_value(42)
    assert p.future.get() == 42 and seen == [42]
    with pytest.raises(RuntimeError):
        p.set_value(1)


def test_exception_and_timeout():
    f = make_exceptional_future(KeyError("k"))
    with pytest.raises(KeyError):
        f.get()
    with pytest.raises(TimeoutError):
        Future().get(timeout=0.05)


def test_combinators_without_runtime():
    ps = [Promise() for _ in range(3)]
    allf = runtime.when_all([p.future for p in ps])
    anyf = runtime.when_any([p.future for p in ps])
    ps[1].set_value("b")
    assert anyf.get(1)[0] == 1 and not allf.done()
    ps[0].set_value("a")
    ps[2].set_value("c")
    assert [f.get() for f in allf.get(1)] == ["a", "b", "c"]
    d = runtime.dataflow(lambda x, y, z: x + y + z, ps[0].future, "-", make_ready_future("!"))
    assert d.get(1) == "a-!"
    t = make_ready_future(2).then(lambda f: f.get() * 10).then(lambda f: make_ready_future(f.get() + 1))
    assert t.get(1) == 21
    bad = runtime.dataflow(lambda x: x, make_exceptional_future(ValueError("v")))
    with pytest.raises(ValueError):
        bad.get(1)


def test_scheduler_runs_tasks_in_parallel():
    s = Scheduler(2)
    s.start()
    try:
        both = threading.Barrier(2, timeout=5)
        done = []
        for i in range(2):
            s.submit(lambda i=i: (both.wait(), done.append(i)))
        deadline = time.monotonic() + 5
        while len(done) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sorted(done) == [0, 1]  # the two tasks met at the barrier: they ran at once
    finally:
        s.stop()


def test_numba_nogil_kernels_overlap():
    """Two nogil kernels on two workers run at the same time (their intervals overlap)."""
    numba = pytest.importorskip("numba")

    @numba.njit(nogil=True, cache=False)
    def spin(n):
        acc = 0.0
        for i in range(n):
            acc += (i % 7) * 1e-9
        return acc

    spin(10)
    with runtime.init(parcelport="local", threads=2):
        @runtime.action
        def kernel(n):
            t0 = time.perf_counter()
            spin(n)
            return t0, time.perf_counter()

        fs = [runtime.async_(kernel, 0, 20_000_000) for _ in range(2)]
        (a0, a1), (b0, b1) = [f.get(60) for f in fs]
    # with the GIL held the second could only start after the first ended
    assert b0 < a1 and a0 < b1, ((a0, a1), (b0, b1))


def test_backoff_sleeps_when_idle():
    b = Backoff(spin_s=1e-3, max_sleep=1e-3)
    assert b.delay() == 0.0
    time.sleep(2e-3)
    delays = [b.delay() for _ in range(12)]
    assert delays[0] > 0 and max(delays) == 1e-3


def test_backoff_polls_hard_for_receives_and_never_spins_for_sends_alone():
    b = Backoff(spin_s=1e-3, max_sleep=1e-3, pending_spin_s=2e-2, pending_max_sleep=1e-4)
    assert b.delay("recv") == 0.0 and b.delay(True) == 0.0   # receiving: yield and poll
    b.reset()
    time.sleep(2e-3)                                     # past spin_s, within pending_spin_s
    sends = [b.delay("send") for _ in range(8)]          # only sends: short sleeps
    assert min(sends) > 0 and max(sends) == 1e-4
    assert b.delay("recv") == 0.0
    b.reset()
    time.sleep(2e-3)
    assert b.delay() > 0 and b.delay("recv") == 0.0


def test_backoff_drives_a_transfer_past_the_receive_window():
    b = Backoff(spin_s=1e-3, pending_spin_s=2e-3, pending_max_sleep=1e-4, drive_s=0.2)
    time.sleep(5e-3)                                     # past pending_spin_s, within drive_s
    assert b.delay("recv") > 0 and b.delay("drive") == 0.0
    time.sleep(0.2)
    assert b.delay("drive") > 0


def test_idle_runtime_does_not_spin():
    with runtime.init(parcelport="local", threads=2):
        time.sleep(0.1)
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        time.sleep(0.5)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    assert cpu < 0.1, f"idle runtime used {cpu:.3f} s of CPU in 0.5 s"


def test_wait_in_worker_helps_instead_of_deadlocking():
    with runtime.init(parcelport="local", threads=1):
        @runtime.action
        def leaf(x):
            return x + 1

        @runtime.action
        def parent(x):  # blocks its (only) worker on a task queued behind it
            return runtime.async_(leaf, 0, x).get(10) * 2

        assert runtime.async_(parent, 0, 1).get(10) == 4


@runtime.action(name="tests.futures.double")
def _double(x):
    return 2 * x


def test_computing_phase_quiets_the_progress_thread_and_nests():
    with runtime.computing():                  # no runtime: a no-op
        pass
    with runtime.init(parcelport="local", threads=1) as rt:
        assert rt.sched.computing == 0 and not rt.pp.quiet
        with runtime.computing():
            with runtime.computing():
                assert rt.sched.computing == 2 and rt.pp.quiet
            assert rt.sched.computing == 1 and rt.pp.quiet
            assert runtime.async_(_double, 0, 21).get(5) == 42   # work still flows
        assert rt.sched.computing == 0 and not rt.pp.quiet


@runtime.action(name="tests.futures.ignore")
def _ignore(x):
    return None


def test_an_idle_worker_does_not_keep_the_last_task_arguments_alive():
    """A finished task's arguments (say a registered-memory block) are released at once."""
    import gc
    import weakref

    class Block:
        pass

    with runtime.init(parcelport="local", threads=2):
        obj = Block()
        ref = weakref.ref(obj)
        runtime.async_(_ignore, 0, obj).get(5)
        del obj
        deadline = time.monotonic() + 2.0
        while ref() is not None and time.monotonic() < deadline:
            gc.collect()
            time.sleep(0.01)
        assert ref() is None, "a worker still holds the last task's argument"


def test_progress_thread_sleeps_long_while_computing_with_nothing_in_flight():
    """Idle, the progress thread polls about every millisecond; in a compute phase with
    nothing in flight it sleeps ``computing_idle_sleep`` between polls (at 1 ms it took 6% of
    the core of a rank computing beside it), and a posted send (``kick``) still wakes it at
    once."""
    calls = []
    s = Scheduler(1, progress=lambda: calls.append(time.monotonic()) and False,
                  pending=lambda: False)
    s.start()
    try:
        time.sleep(0.2)
        n0 = len(calls)
        time.sleep(0.5)
        idle = len(calls) - n0
        s.computing = 1
        time.sleep(0.1)
        n0 = len(calls)
        time.sleep(0.5)
        quiet = len(calls) - n0
        assert quiet <= 0.5 / s.computing_idle_sleep + 5 < idle, (quiet, idle)
        time.sleep(0.05)
        t0 = time.monotonic()
        s.kick()
        deadline = t0 + 2.0
        while not any(t >= t0 for t in calls) and time.monotonic() < deadline:
            time.sleep(0.001)
        assert min(t for t in calls if t >= t0) - t0 < 0.5 * s.computing_idle_sleep
    finally:
        s.stop()
