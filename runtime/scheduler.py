"""Worker threads and parcelport progress.

K worker threads take tasks from one FIFO queue; numba ``nogil`` kernels called from tasks
run in parallel.  One progress thread drives the parcelport: it polls while there was recent
work, then backs off (yield, then sleeps growing to ``max_sleep``) so an idle locality does
not spin a core, and ``kick()`` wakes it at once when a send is posted.  Threads blocked in
``Future.get()`` help: workers run queued tasks, any thread polls the parcelport.
"""
import collections
import os
import threading
import time
import traceback

__all__ = ["Scheduler", "Backoff"]

_tls = threading.local()


def is_worker():
    """Return True in a worker thread of a running scheduler."""
    return getattr(_tls, "worker", False)


class Backoff:
    """Poll-then-sleep schedule, by time since the last activity.

    Within ``spin_s`` of activity (``pending_spin_s`` while receives are in flight, since
    MPI libraries move large messages only while someone polls) the caller just yields;
    after that it sleeps, doubling from ``min_sleep`` up to ``max_sleep`` (``pending_max_sleep``
    while transfers are in flight).  While only sends are in flight it yields for ``spin_s``
    only, then sleeps from ``min_sleep`` up to ``pending_max_sleep``, so a compute thread on
    the same core keeps it (a sent halo waits for its receiver, which polls).  While a
    large transfer that moves only as this side polls is in flight (``"drive"``: two-sided
    messages of ``spin_bytes`` or more, MPICH's emulated gets from dynamic windows) it
    yields for up to ``drive_s``: a window of 64 MiB messages outlasts ``pending_spin_s``,
    and past it each sleep lets only a fragment through.
    """

    __slots__ = ("spin_s", "pending_spin_s", "drive_s", "min_sleep", "max_sleep",
                 "pending_max_sleep", "last", "sleep")

    def __init__(self, spin_s=2e-4, pending_spin_s=2e-2, min_sleep=2e-5, max_sleep=1e-3,
                 pending_max_sleep=1e-4, drive_s=1.0):
        self.spin_s, self.pending_spin_s, self.drive_s = spin_s, pending_spin_s, drive_s
        self.min_sleep, self.max_sleep, self.pending_max_sleep = min_sleep, max_sleep, pending_max_sleep
        self.reset()

    def reset(self):
        self.last = time.monotonic()
        self.sleep = self.min_sleep

    def delay(self, pending=False):
        """Return seconds to sleep now (0.0 means just yield the processor).

        ``pending``: False (nothing in flight), True or ``"recv"`` (receives in flight: poll
        hard), ``"drive"`` (a transfer moves only while polled: poll hard longer),
        ``"send"`` (only sends in flight: short sleeps, no spinning).
        """
        idle_for = time.monotonic() - self.last
        if pending == "drive":
            spin = self.drive_s
        else:
            spin = self.pending_spin_s if pending and pending != "send" else self.spin_s
        if idle_for < spin:
            return 0.0
        cap = self.pending_max_sleep if pending else self.max_sleep
        s = min(self.sleep, cap)
        self.sleep = min(self.sleep * 2, cap)
        return s


class Scheduler:
    """A pool of worker threads plus a parcelport progress thread."""

    #: Longest sleep of the progress thread while the program computes with nothing in
    #: flight (``computing``): a send posted here wakes it at once (``kick``) and a thread
    #: that waits on a future polls itself, so only unexpected arrivals wait this long.  At
    #: 1 ms it took 6% of a core from a rank computing on every core (2 ranks, 2 cores).
    computing_idle_sleep = 0.02

    def __init__(self, nthreads=1, progress=None, on_error=None, max_sleep=1e-3, pending=None):
        self.nthreads = max(1, int(nthreads))
        self._progress = progress
        self._pending = pending or (lambda: False)
        self._on_error = on_error
        self._max_sleep = max_sleep
        self._q = collections.deque()
        self._cv = threading.Condition(threading.Lock())
        self._running = 0
        self._stop = False
        self._wake = threading.Event()
        self._helpers = 0       # threads polling in help_wait (approximate; only a hint)
        self._sleeping = False  # the progress thread is in a timed wait
        self.computing = 0      # compute phases open (``computing``): poll gently
        self._threads = []
        self.tasks_run = 0

    def start(self):
        for i in range(self.nthreads):
            t = threading.Thread(target=self._worker, name=f"rt-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        if self._progress is not None:
            t = threading.Thread(target=self._progress_loop, name="rt-progress", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout=10.0):
        """Stop the threads (tasks still queued are dropped; drain before)."""
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        self._wake.set()
        me = threading.current_thread()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            if t is not me:
                t.join(max(0.0, deadline - time.monotonic()))
        self._threads = []

    def submit(self, fn, *args):
        """Queue ``fn(*args)`` for a worker."""
        with self._cv:
            self._q.append((fn, args))
            self._cv.notify()

    def busy(self):
        """Return the number of queued plus running tasks."""
        return len(self._q) + self._running

    def kick(self):
        """Wake the progress thread if it sleeps (a send was posted)."""
        if self._sleeping:
            self._wake.set()

    def _run(self, fn, args):
        try:
            fn(*args)
        except BaseException:  # noqa: BLE001 - an uncaught task error is fatal, reported once
            if self._on_error is not None:
                self._on_error(traceback.format_exc())
            else:
                traceback.print_exc()
        finally:
            self.tasks_run += 1

    def try_run_one(self):
        """Run one queued task in this thread; return False if the queue was empty."""
        with self._cv:
            if not self._q:
                return False
            fn, args = self._q.popleft()
            self._running += 1
        self._run_counted(fn, args)
        return True

    def _worker(self):
        _tls.worker = True
        while True:
            with self._cv:
                while not self._q and not self._stop:
                    self._cv.wait(0.5)
                if self._stop:
                    return
                fn, args = self._q.popleft()
                self._running += 1
            self._run_counted(fn, args)
            fn = args = None  # an idle worker must not keep the last task's arguments alive

    def _run_counted(self, fn, args):
        """Run a task taken off the queue, then drop it from the running count."""
        try:
            self._run(fn, args)
        finally:
            with self._cv:
                self._running -= 1

    def _progress_loop(self):
        _tls.progress = True
        backoff = Backoff(spin_s=2e-4, max_sleep=self._max_sleep)
        progress = self._progress
        while not self._stop:
            if self._helpers:  # a thread blocked in get() is polling: do not fight it for the GIL
                self._wake.wait(self._max_sleep)
                self._wake.clear()
                continue
            try:
                did = progress()
            except BaseException:  # noqa: BLE001
                if self._on_error is not None:
                    self._on_error(traceback.format_exc())
                    return
                raise
            if did:
                backoff.reset()
                continue
            pending = self._pending()
            if self.computing and pending:
                pending = "send"  # leave the core to the computation: short sleeps
            d = backoff.delay(pending)
            if d > 0.0 and self.computing and not pending:
                d = max(d, self.computing_idle_sleep)
            if d == 0.0:
                os.sched_yield()
            else:
                self._sleeping = True
                self._wake.wait(d)
                self._sleeping = False
                if self._wake.is_set():
                    self._wake.clear()
                    backoff.reset()

    def help_wait(self, future, timeout):
        """Wait for ``future`` while running tasks (workers) and polling the parcelport."""
        deadline = time.monotonic() + timeout
        worker = is_worker()
        progress = self._progress
        backoff = Backoff(spin_s=1e-3, max_sleep=self._max_sleep)
        ev = None
        with self._cv:
            self._helpers += 1
        try:
            self._help_loop(future, deadline, worker, progress, backoff, ev)
        finally:
            with self._cv:
                self._helpers -= 1

    def _help_loop(self, future, deadline, worker, progress, backoff, ev):
        while future._state == 0:
            did = False
            if worker:
                did = self.try_run_one()
            if not did and progress is not None:
                did = progress()
            if did:
                backoff.reset()
                continue
            now = time.monotonic()
            if now >= deadline:
                return
            d = backoff.delay(self._pending())
            if d == 0.0:
                os.sched_yield()
            else:
                if ev is None:
                    ev = future._get_event()
                ev.wait(min(d, deadline - now))
